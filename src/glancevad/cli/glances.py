"""``glancevad glances stats | simulate | perturb``: glance annotations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from glancevad.cli.app import app
from glancevad.cli.common import (
    FramesOpt,
)
from glancevad.console import console
from glancevad.constants import FRAMES_PER_SNIPPET
from glancevad.data.dataset import frame_counts
from glancevad.errors import GlanceVADError
from glancevad.fileio import check_output

glances_app = typer.Typer(help="Glance annotations: statistics, simulation, perturbation.", no_args_is_help=True)
app.add_typer(glances_app, name="glances")


@glances_app.command("stats")
def glances_stats(
    csv: Annotated[Path | None, typer.Argument(help="Glance CSV (video-id,glance); default: --dataset's.")] = None,
    dataset: Annotated[str | None, typer.Option(
        help="Published dataset (ucf-crime / ucf, xd-violence / xd): its bundled glance CSV and, for "
             "UCF-Crime, training frame counts.")] = None,
    data: Annotated[Path | None, typer.Option(help="Dataset root: frame counts 16·T from training features.")] = None,
    lengths: Annotated[Path | None, typer.Option(help="Frame counts: lengths CSV or 'name n_frames' file.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for glance_stats.json and .png.")] = Path("glance_stats"),
    frames_per_snippet: FramesOpt = FRAMES_PER_SNIPPET,
) -> None:
    """Glances per video (mean/median/max) and a PNG of counts and relative positions (Fig. 2)."""
    check_output(out, kind="folder")
    from glancevad.fileio import write_json
    from glancevad.glance import glance_stats, read_glances
    from glancevad.glance.stats import plot_glance_stats

    if dataset is not None:
        from glancevad.data.published import published_dataset

        bundled = published_dataset(dataset)
        csv = csv or bundled.glances
        if data is None:
            lengths = lengths or bundled.train_frame_counts
    if csv is None:
        raise GlanceVADError("give a glance CSV, or --dataset for a published dataset's")
    glances = read_glances(csv)
    counts = frame_counts(data=data, lengths=lengths, frames_per_snippet=frames_per_snippet, split="train")
    stats = glance_stats(glances, num_frames=counts)
    table = Table(title=f"glances in {csv}")
    for key in ("videos", "glances", "mean/video", "median/video", "max/video"):
        table.add_column(key)
    table.add_row(str(stats.videos), str(stats.glances), f"{stats.mean:.2f}",
                  f"{stats.median:g}", str(stats.max))
    console.print(table)
    json_path = write_json(out / "glance_stats.json", stats.as_dict())
    png = plot_glance_stats(stats, out / "glance_stats.png", title=csv.name)
    if counts is None:
        console.print("no frame counts given (--data or --lengths): position histogram skipped")
    console.print(f"wrote [bold]{json_path}[/] and [bold]{png}[/]")


@glances_app.command("simulate")
def glances_simulate(
    gt: Annotated[Path, typer.Option(help="Ground-truth JSON with the videos' frame labels.")],
    out: Annotated[Path, typer.Option(help="Glance CSV to write.")],
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    perturb: Annotated[int, typer.Option(min=0, help="Then shift each glance by up to ±K frames.")] = 0,
) -> None:
    """Draw one random frame inside each ground-truth interval (seeded)."""
    check_output(out, kind="file")
    from glancevad.data.groundtruth import read_ground_truth
    from glancevad.glance import perturb_glances, simulate_glances, write_glances

    ground_truth = read_ground_truth(gt)
    glances = simulate_glances(ground_truth, seed=seed)
    if perturb:
        counts = {vid: len(labels) for vid, labels in ground_truth.items()}
        glances = perturb_glances(glances, max_shift=perturb, num_frames=counts, seed=seed + 1)
    write_glances(out, glances)
    total = sum(len(v) for v in glances.values())
    console.print(f"{total} glances on {len(glances)} videos -> [bold]{out}[/]")


@glances_app.command("perturb")
def glances_perturb(
    csv: Annotated[Path, typer.Argument(help="Glance CSV to perturb.")],
    max_shift: Annotated[int, typer.Option(min=0, help="Largest shift K in frames (uniform in ±K).")],
    out: Annotated[Path, typer.Option(help="Glance CSV to write.")],
    data: Annotated[Path | None, typer.Option(help="Dataset root: clip to 16·T frames of the features.")] = None,
    lengths: Annotated[Path | None, typer.Option(help="Frame counts to clip to (CSV or 'name n_frames').")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    frames_per_snippet: FramesOpt = FRAMES_PER_SNIPPET,
) -> None:
    """Shift every glance by a random offset in ±K frames, clipped to the video (paper Table 4)."""
    check_output(out, kind="file")
    from glancevad.glance import perturb_glances, read_glances, write_glances

    counts = frame_counts(data=data, lengths=lengths, frames_per_snippet=frames_per_snippet, split="train")
    if counts is None:
        raise GlanceVADError("give --data or --lengths: perturbed glances are clipped to the video")
    glances = perturb_glances(read_glances(csv), max_shift=max_shift, num_frames=counts, seed=seed)
    write_glances(out, glances)
    console.print(f"glances shifted by up to ±{max_shift} frames -> [bold]{out}[/]")
