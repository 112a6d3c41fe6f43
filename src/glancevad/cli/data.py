"""``glancevad synth``, ``data check``, ``gt build`` and ``evaluate``: datasets, ground truth, metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from glancevad.cli.app import app
from glancevad.cli.common import (
    AnnotationFormat,
    CropNaming,
    FramesOpt,
    metrics_table,
)
from glancevad.console import console, err_console, progress_bar
from glancevad.constants import FRAMES_PER_SNIPPET, NORMAL_ID_PATTERN
from glancevad.data.groundtruth import ANNOTATION_FORMATS
from glancevad.errors import GlanceVADError
from glancevad.fileio import check_output

data_app = typer.Typer(help="Start, inspect and validate datasets in the official layout.", no_args_is_help=True)
gt_app = typer.Typer(help="Build frame-level ground truth from temporal annotations.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(gt_app, name="gt")


@app.command()
def synth(
    root: Annotated[Path, typer.Argument(help="Folder to write the dataset into.")],
    size: Annotated[str, typer.Option("--size", "--preset", help="Dataset size: demo, tiny or default.")] = "demo",
    train_normal: Annotated[int | None, typer.Option(min=1, help="Normal training videos.")] = None,
    train_abnormal: Annotated[int | None, typer.Option(min=1, help="Abnormal training videos.")] = None,
    test_normal: Annotated[int | None, typer.Option(min=1, help="Normal test videos.")] = None,
    test_abnormal: Annotated[int | None, typer.Option(min=1, help="Abnormal test videos.")] = None,
    dim: Annotated[int | None, typer.Option(min=1, help="Feature dimension D.")] = None,
    crops: Annotated[int | None, typer.Option(min=1, help="Crops per snippet.")] = None,
    min_snippets: Annotated[int | None, typer.Option(min=4, help="Shortest video, in snippets.")] = None,
    max_snippets: Annotated[int | None, typer.Option(min=4, help="Longest video, in snippets.")] = None,
    crop_naming: Annotated[
        CropNaming,
        typer.Option(help="Feature files: glancevad (vid, vid__1..), indexed (vid__0..) or stacked [T,crops,D]."),
    ] = CropNaming.glancevad,
    name: Annotated[str | None, typer.Option(help="Dataset name in the list files (<name>.training.csv); "
                                                  "ucf-crime or xd-violence make a set shaped and named as the real "
                                                  "one for dry runs.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (0 is the design set; report figures use other seeds).")] = 0,
    force: Annotated[bool, typer.Option(help="Replace a non-empty folder.")] = False,
) -> None:
    """Write a synthetic dataset in the official layout (lists, glances, ground truth, features)."""
    check_output(root, kind="folder")
    from glancevad.synth import synth_config, write_synthetic_dataset

    cfg = synth_config(
        size, train_normal=train_normal, train_abnormal=train_abnormal,
        test_normal=test_normal, test_abnormal=test_abnormal, dim=dim, crops=crops,
        min_snippets=min_snippets, max_snippets=max_snippets, crop_naming=crop_naming.value,
        name=name, seed=seed,
    )
    total = cfg.train_normal + cfg.train_abnormal + cfg.test_normal + cfg.test_abnormal
    with progress_bar(unit="videos") as bar:
        task = bar.add_task("synthesising", total=total)
        out = write_synthetic_dataset(root, cfg, force=force, on_video=lambda _: bar.advance(task))
    console.print(
        f"wrote {total} videos ({cfg.crops} crops, D={cfg.dim}) to [bold]{out}[/]"
    )


@data_app.command("init")
def data_init(
    root: Annotated[Path, typer.Argument(help="Dataset folder to write (created if missing).")],
    dataset: Annotated[str, typer.Option(help="Published dataset: ucf-crime (ucf) or xd-violence (xd).")],
    force: Annotated[bool, typer.Option(help="Replace list, glance and ground-truth files already there.")] = False,
) -> None:
    """Start a UCF-Crime or XD-Violence root from the bundled files: lists, glances, ground truth.

    The official splits, the authors' glance CSV and the ground truth built from the official
    temporal annotation ship with glancevad; put the dataset's I3D features in ROOT/i3d/train and
    ROOT/i3d/test, then `glancevad data check ROOT` and `glancevad train --data ROOT` (its preset).
    """
    check_output(root, kind="folder")
    from glancevad.data.published import init_dataset_root

    for path in init_dataset_root(root, dataset, force=force):
        console.print(f"wrote [bold]{path}[/]")
    console.print(f"features go in [bold]{root / 'i3d' / 'train'}[/] and [bold]{root / 'i3d' / 'test'}[/] "
                  "(<video-id>.npy, crops as <video-id>__<c>.npy)")


@data_app.command("check")
def data_check(
    root: Annotated[Path, typer.Argument(help="Dataset root in the official layout.")],
    dim: Annotated[int | None, typer.Option(help="Expected feature dimension (default: the majority).")] = None,
    glances: Annotated[Path | None, typer.Option(help="Glance CSV (default: the one *glance*.csv in ROOT).")] = None,
    features: Annotated[str, typer.Option(help="Feature folder under ROOT (holding train/ and test/).")] = "i3d",
    normal_pattern: Annotated[str, typer.Option(help="Regex of normal video ids.")] = NORMAL_ID_PATTERN,
    frames_per_snippet: FramesOpt = FRAMES_PER_SNIPPET,
) -> None:
    """Validate every file of a dataset, one video at a time, and print a summary."""
    from glancevad.data import load_dataset
    from glancevad.data.check import check_dataset, describe

    dataset = load_dataset(
        root, glance_csv=glances, features=features, normal_pattern=normal_pattern,
        frames_per_snippet=frames_per_snippet,
    )
    total = len(dataset.train) + len(dataset.test)
    with progress_bar(unit="videos") as bar:
        task = bar.add_task("checking", total=total)
        report = check_dataset(dataset, expected_dim=dim, on_video=lambda _: bar.advance(task))
    table = Table(title=f"dataset {dataset.name} at {dataset.root}")
    for column in ("split", "normal", "abnormal", "crops", "dim", "T min/med/mean/max",
                   "glances/video min/med/mean/max"):
        table.add_column(column)
    for split, summary in report.splits.items():
        table.add_row(
            split, str(summary.normal), str(summary.abnormal),
            ",".join(map(str, sorted(summary.crops))), ",".join(map(str, sorted(summary.dims))),
            describe(summary.lengths),
            describe(summary.glances_per_video) if split == "train" else "-",
        )
    console.print(table)
    console.print(
        f"glances: {dataset.glance_csv or 'none'}; ground truth: "
        f"{'yes' if dataset.ground_truth is not None else 'none'}"
    )
    if not report.ok:
        for line in report.errors:
            err_console.print(f"[red]error:[/] {GlanceVADError(line)}", highlight=False, soft_wrap=True)
        raise GlanceVADError(f"{root}: {len(report.errors)} problem(s) found")
    console.print("[green]all checks passed[/]")


@gt_app.command("build")
def gt_build(
    out: Annotated[Path, typer.Option(help="Ground-truth JSON to write.")],
    dataset: Annotated[str | None, typer.Option(
        help="Published dataset (ucf-crime / ucf, xd-violence / xd): its bundled annotation, test list and "
             "lengths are the defaults of the three options below.")] = None,
    annotations: Annotated[Path | None, typer.Option(help="Temporal annotation file (UCF- or XD-style).")] = None,
    video_list: Annotated[Path | None, typer.Option("--list", help="List CSV of the videos to label.")] = None,
    lengths: Annotated[Path | None, typer.Option(help="CSV with video-id,num_snippets_T.")] = None,
    features: Annotated[Path | None, typer.Option(help="Feature folder to read T from instead.")] = None,
    fmt: Annotated[AnnotationFormat, typer.Option("--format", help="auto, or " + escape("; ".join(
        f"{f.name}: {f.description} ({f.example})" for f in ANNOTATION_FORMATS.values())))] = AnnotationFormat("auto"),
    frames_per_snippet: FramesOpt = FRAMES_PER_SNIPPET,
) -> None:
    """Write <dataset>_ground_truth.json: labels of 16·T frames, intervals end-exclusive, clipped."""
    check_output(out, kind="file")
    from glancevad.data.groundtruth import ground_truth_from_annotations, write_ground_truth

    if dataset is not None:
        from glancevad.data.published import published_dataset

        bundled = published_dataset(dataset)
        annotations = annotations or bundled.annotations
        video_list = video_list or bundled.testing_list
        if features is None:
            lengths = lengths or bundled.test_lengths
    if annotations is None or video_list is None:
        raise GlanceVADError("give --annotations and --list, or --dataset for a published dataset's files")
    ground_truth, unmatched = ground_truth_from_annotations(
        annotations, video_list, fmt=fmt.value, lengths=lengths, features=features,
        frames_per_snippet=frames_per_snippet)
    write_ground_truth(out, ground_truth)
    abnormal = sum(bool(labels.any()) for labels in ground_truth.values())
    for name in unmatched:
        err_console.print(f"[yellow]warning:[/] {annotations}: {name} matches no id of {video_list}")
    console.print(
        f"{len(ground_truth)} videos ({abnormal} abnormal, {len(unmatched)} annotation(s) "
        f"unmatched) -> [bold]{out}[/]"
    )


@app.command()
def evaluate(
    scores: Annotated[Path, typer.Option(help="JSON: video id -> list of snippet scores.")],
    gt: Annotated[Path, typer.Option(help="Ground-truth JSON (official format).")],
    out: Annotated[Path | None, typer.Option(help="Metrics JSON to write (default: beside SCORES).")] = None,
    far_threshold: Annotated[float, typer.Option(help="Score threshold of the false-alarm rate.")] = 0.5,
    frames_per_snippet: FramesOpt = FRAMES_PER_SNIPPET,
) -> None:
    """Frame-level AUC, AP (trapezoid and step-wise), AUC_A, AP_A and false-alarm rate."""
    if out is not None:
        check_output(out, kind="file")
    from glancevad.data.groundtruth import read_ground_truth
    from glancevad.data.scores import read_scores
    from glancevad.fileio import write_json
    from glancevad.metrics import evaluate_scores

    # an undefined metric is a one-line warning (glancevad.cli.main shows glancevad's warnings so)
    metrics = evaluate_scores(read_scores(scores), read_ground_truth(gt), frames_per_snippet=frames_per_snippet,
                              far_threshold=far_threshold)
    console.print(metrics_table("frame-level metrics (%)", {"": metrics}))
    path = write_json(out or scores.with_name("metrics.json"), metrics)
    console.print(f"wrote [bold]{path}[/]")
