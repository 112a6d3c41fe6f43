"""``glancevad propose`` and ``select``: a trained network proposes glances and picks the videos to glance next."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from glancevad.assist.peaks import MERGE_GAP_S, MIN_EVENT_S, THRESHOLD
from glancevad.assist.ranking import CRITERIA, DEFAULT_CRITERION
from glancevad.cli.app import app
from glancevad.cli.common import Precision, PrecisionOpt
from glancevad.console import console, progress_bar
from glancevad.errors import GlanceVADError
from glancevad.events import DEFAULTS
from glancevad.fileio import check_output

Criterion = typer.Option(help=f"What a glance should help most: {', '.join(CRITERIA)}.")


@app.command()
def propose(
    checkpoint: Annotated[Path, typer.Option(help="A trained network (RUN/best.pt).")],
    out: Annotated[Path, typer.Option(help="Glance CSV to write (video-id,glance), one row per predicted event.")],
    data: Annotated[Path | None, typer.Option(help="Dataset root in the official layout.")] = None,
    features: Annotated[Path | None, typer.Option(
        help="Or a folder of feature files (<id>.npy, <id>__<crop>.npy).")] = None,
    split: Annotated[str, typer.Option(
        help="With --data: the split to propose glances for (train or test).")] = "train",
    threshold: Annotated[float, typer.Option(min=0, max=1, help="Score at or above which frames are anomalous.")] = (
        THRESHOLD),
    min_event: Annotated[float, typer.Option(min=0, help="Drop events shorter than this (seconds).")] = MIN_EVENT_S,
    merge_gap: Annotated[float, typer.Option(min=0, help="Join events closer than this (seconds).")] = MERGE_GAP_S,
    fps: Annotated[float, typer.Option(min=0.001, help="Frame rate of the videos behind the features.")] = (
        DEFAULTS.fps),
    device: Annotated[str, typer.Option(help="auto, cpu, cuda ...")] = "auto",
    precision: PrecisionOpt = Precision.fp32,
) -> None:
    """Write the model's peaks as glances: one per predicted event, at its highest-scoring frame.

    Review them in the annotation tool: `glancevad annotate import proposals.csv --videos DIR
    --status proposed --annotator model`; proposals are exported only once a reviewer accepts them.
    """
    check_output(out, kind="file")
    from glancevad.assist.scoring import propose_glances, score_features
    from glancevad.glance import write_glances

    with progress_bar(unit="videos") as bar:
        task = bar.add_task("scoring", total=None)
        scores = score_features(checkpoint, data=data, features=features, split=split, device=device,
                                precision=precision.value, on_start=lambda n: bar.update(task, total=n),
                                on_video=lambda _: bar.advance(task))
    glances = propose_glances(scores, fps=fps, threshold=threshold, min_event=min_event, merge_gap=merge_gap)
    write_glances(out, glances)
    console.print(f"proposed {sum(map(len, glances.values()))} glances in {len(glances)} of {len(scores)} videos:"
                  f" [bold]{out}[/]")


@app.command()
def select(
    checkpoint: Annotated[Path, typer.Option(help="A network trained on the labels so far (RUN/best.pt).")],
    data: Annotated[Path, typer.Option(help="Dataset root in the official layout.")],
    budget: Annotated[int, typer.Option(min=1, help="How many videos to pick.")],
    out: Annotated[Path, typer.Option(help="Video list to write (header video-id), the most helpful first.")] = (
        Path("next_videos.csv")),
    glances: Annotated[Path | None, typer.Option(help="Glances so far: their videos are not picked again.")] = None,
    criterion: Annotated[str, Criterion] = DEFAULT_CRITERION,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda ...")] = "auto",
    precision: PrecisionOpt = Precision.fp32,
) -> None:
    """Rank the abnormal training videos without glances by how much a glance should help; write the next BUDGET."""
    check_output(out, kind="file")
    if criterion not in CRITERIA:
        raise GlanceVADError(f"--criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}")
    from glancevad.assist.ranking import rank_videos
    from glancevad.assist.scoring import score_features
    from glancevad.data.lists import write_video_list
    from glancevad.glance import read_glances

    done = set(read_glances(glances)) if glances is not None else set()
    with progress_bar(unit="videos") as bar:
        task = bar.add_task("scoring", total=None)
        scores = score_features(checkpoint, data=data, split="train", abnormal_only=True, device=device,
                                precision=precision.value, on_start=lambda n: bar.update(task, total=n),
                                on_video=lambda _: bar.advance(task))
    ranked = rank_videos(scores, criterion=criterion, exclude=done)[:budget]
    if not ranked:
        raise GlanceVADError(f"{data}: every abnormal training video already has a glance")
    write_video_list(out, [vid for vid, _ in ranked])
    for vid, value in ranked:
        console.print(f"{vid}  {criterion} {value:.4f}", highlight=False)
    console.print(f"wrote the next {len(ranked)} video(s) to annotate to [bold]{out}[/]")
