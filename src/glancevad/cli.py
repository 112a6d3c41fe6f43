"""The ``glancevad`` command line: thin commands over the library.

User errors (:class:`~glancevad.errors.GlanceVADError`) print one line on stderr and exit 2.
"""

from __future__ import annotations

import contextlib
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from glancevad.config import PRECISIONS, SUPERVISIONS
from glancevad.console import console, err_console, progress_bar
from glancevad.constants import FRAMES_PER_SNIPPET, NORMAL_ID_PATTERN
from glancevad.errors import GlanceVADError

app = typer.Typer(
    help="GlanceVAD: video anomaly detection with glance supervision.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Inspect and validate datasets in the official layout.", no_args_is_help=True)
gt_app = typer.Typer(help="Build frame-level ground truth from temporal annotations.", no_args_is_help=True)
glances_app = typer.Typer(help="Glance annotations: statistics, simulation, perturbation.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(gt_app, name="gt")
app.add_typer(glances_app, name="glances")
annotate_app = typer.Typer(
    help="The glance annotation tool: serve a video folder (default), import or export glances.",
)
app.add_typer(annotate_app, name="annotate")

FramesOpt = Annotated[
    int, typer.Option("--frames-per-snippet", min=1, help="Frames covered by one snippet.")
]


class AnnotationFormat(str, Enum):
    auto = "auto"
    ucf = "ucf"
    xd = "xd"


class CropNaming(str, Enum):
    glancevad = "glancevad"
    indexed = "indexed"
    stacked = "stacked"


def _metrics_table(title: str, rows: dict[str, dict[str, float]]) -> Table:
    """Metrics in % as a table, one row per named result (an empty name hides the name column)."""
    from glancevad.metrics import METRIC_NAMES

    table = Table(title=title)
    named = any(rows)
    if named:
        table.add_column("run")
    for key in METRIC_NAMES:
        table.add_column(key)
    for name, metrics in rows.items():
        table.add_row(*([name] if named else []), *(f"{100 * metrics[key]:.2f}" for key in METRIC_NAMES))
    return table


def _frame_counts(data: Path | None, lengths: Path | None, frames_per_snippet: int, split: str):
    """Frame counts per video from a dataset root (16·T from features) or a lengths file."""
    from glancevad.data import load_dataset
    from glancevad.data.features import feature_shape
    from glancevad.data.lengths import read_frame_counts

    if lengths is not None:
        return read_frame_counts(lengths, frames_per_snippet=frames_per_snippet)
    if data is None:
        return None
    dataset = load_dataset(data, frames_per_snippet=frames_per_snippet)
    index = dataset.feature_index(split)
    return {
        video.id: frames_per_snippet * feature_shape(index.locate(video.id))[0]
        for video in dataset.videos[split]
    }


@app.command()
def synth(
    root: Annotated[Path, typer.Argument(help="Folder to write the dataset into.")],
    preset: Annotated[str, typer.Option(help="Size preset: demo, tiny or default.")] = "demo",
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
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    force: Annotated[bool, typer.Option(help="Replace a non-empty folder.")] = False,
) -> None:
    """Write a synthetic dataset in the official layout (lists, glances, ground truth, features)."""
    from glancevad.synth import synth_config, write_synthetic_dataset

    cfg = synth_config(
        preset, train_normal=train_normal, train_abnormal=train_abnormal,
        test_normal=test_normal, test_abnormal=test_abnormal, dim=dim, crops=crops,
        min_snippets=min_snippets, max_snippets=max_snippets, crop_naming=crop_naming.value,
        seed=seed,
    )
    total = cfg.train_normal + cfg.train_abnormal + cfg.test_normal + cfg.test_abnormal
    with progress_bar(unit="videos") as bar:
        task = bar.add_task("synthesising", total=total)
        out = write_synthetic_dataset(root, cfg, force=force, on_video=lambda _: bar.advance(task))
    console.print(
        f"wrote {total} videos ({cfg.crops} crops, D={cfg.dim}) to [bold]{out}[/]"
    )


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
            err_console.print(f"[red]error:[/] {line}", highlight=False)
        raise GlanceVADError(f"{root}: {len(report.errors)} problem(s) found")
    console.print("[green]all checks passed[/]")


@gt_app.command("build")
def gt_build(
    annotations: Annotated[Path, typer.Option(help="Temporal annotation file (UCF- or XD-style).")],
    video_list: Annotated[Path, typer.Option("--list", help="List CSV of the videos to label (video-id).")],
    out: Annotated[Path, typer.Option(help="Ground-truth JSON to write.")],
    lengths: Annotated[Path | None, typer.Option(help="CSV with video-id,num_snippets_T.")] = None,
    features: Annotated[Path | None, typer.Option(help="Feature folder to read T from instead.")] = None,
    fmt: Annotated[AnnotationFormat, typer.Option("--format", help="Annotation format.")] = AnnotationFormat.auto,
    frames_per_snippet: FramesOpt = FRAMES_PER_SNIPPET,
) -> None:
    """Write <dataset>_ground_truth.json: labels of 16·T frames, intervals end-exclusive, clipped."""
    from glancevad.data.features import FeatureIndex, feature_shape
    from glancevad.data.groundtruth import (
        build_ground_truth,
        match_annotations,
        read_temporal_annotations,
        write_ground_truth,
    )
    from glancevad.data.lengths import read_snippet_counts
    from glancevad.data.lists import read_video_list

    if (lengths is None) == (features is None):
        raise GlanceVADError("give exactly one of --lengths and --features")
    ids = read_video_list(video_list).ids
    parsed = read_temporal_annotations(annotations, fmt.value)
    matched, unmatched = match_annotations(parsed, ids)
    if lengths is not None:
        counts = read_snippet_counts(lengths)
    else:
        index = FeatureIndex(features)
        counts = {vid: feature_shape(index.locate(vid))[0] for vid in ids}
    ground_truth = build_ground_truth(ids, matched, counts, frames_per_snippet=frames_per_snippet)
    write_ground_truth(out, ground_truth)
    abnormal = sum(bool(labels.any()) for labels in ground_truth.values())
    for name in unmatched:
        err_console.print(f"[yellow]warning:[/] {annotations}: {name} matches no id of {video_list}")
    console.print(
        f"{len(ground_truth)} videos ({abnormal} abnormal, {len(unmatched)} annotation(s) "
        f"unmatched) -> [bold]{out}[/]"
    )


@glances_app.command("stats")
def glances_stats(
    csv: Annotated[Path, typer.Argument(help="Glance CSV (video-id,glance).")],
    data: Annotated[Path | None, typer.Option(help="Dataset root: frame counts 16·T from training features.")] = None,
    lengths: Annotated[Path | None, typer.Option(help="Frame counts: lengths CSV or 'name n_frames' file.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for glance_stats.json and .png.")] = Path("glance_stats"),
    frames_per_snippet: FramesOpt = FRAMES_PER_SNIPPET,
) -> None:
    """Glances per video (mean/median/max) and a PNG of counts and relative positions (Fig. 2)."""
    from glancevad.fileio import write_json
    from glancevad.glance import glance_stats, read_glances
    from glancevad.glance.stats import plot_glance_stats

    glances = read_glances(csv)
    counts = _frame_counts(data, lengths, frames_per_snippet, "train")
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
    from glancevad.glance import perturb_glances, read_glances, write_glances

    counts = _frame_counts(data, lengths, frames_per_snippet, "train")
    if counts is None:
        raise GlanceVADError("give --data or --lengths: perturbed glances are clipped to the video")
    glances = perturb_glances(read_glances(csv), max_shift=max_shift, num_frames=counts, seed=seed)
    write_glances(out, glances)
    console.print(f"glances shifted by up to ±{max_shift} frames -> [bold]{out}[/]")


@app.command()
def evaluate(
    scores: Annotated[Path, typer.Option(help="JSON: video id -> list of snippet scores.")],
    gt: Annotated[Path, typer.Option(help="Ground-truth JSON (official format).")],
    out: Annotated[Path | None, typer.Option(help="Metrics JSON to write (default: beside SCORES).")] = None,
    far_threshold: Annotated[float, typer.Option(help="Score threshold of the false-alarm rate.")] = 0.5,
    frames_per_snippet: FramesOpt = FRAMES_PER_SNIPPET,
) -> None:
    """Frame-level AUC, AP (trapezoid and step-wise), AUC_A, AP_A and false-alarm rate."""
    import warnings

    from glancevad.data.groundtruth import read_ground_truth
    from glancevad.data.scores import read_scores
    from glancevad.fileio import write_json
    from glancevad.metrics import evaluate_scores

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics = evaluate_scores(
            read_scores(scores), read_ground_truth(gt),
            frames_per_snippet=frames_per_snippet, far_threshold=far_threshold,
        )
    for warning in caught:
        err_console.print(f"[yellow]warning:[/] {warning.message}")
    console.print(_metrics_table("frame-level metrics (%)", {"": metrics}))
    path = write_json(out or scores.with_name("metrics.json"), metrics)
    console.print(f"wrote [bold]{path}[/]")


# The choices come from the config module, so the CLI and the config cannot drift apart.
Supervision = Enum("Supervision", {name: name for name in SUPERVISIONS}, type=str)
Precision = Enum("Precision", {name: name for name in PRECISIONS}, type=str)


def _model_names() -> str:
    from glancevad.models import list_models

    return ", ".join(list_models())


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="Dataset root in the official layout.")],
    out: Annotated[Path | None, typer.Option(help="Run folder to create (checkpoints, logs, config).")] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue the run in this folder from its last.pt.")] = None,
    preset: Annotated[str | None, typer.Option(help="Preset: ucf, xd or demo.")] = None,
    model: Annotated[str | None, typer.Option(help=f"Network: {_model_names()}.")] = None,
    supervision: Annotated[Supervision | None, typer.Option(help="weak, glance or mixed.")] = None,
    glance_fraction: Annotated[float | None, typer.Option(help="mixed: share of abnormal videos glanced.")] = None,
    weak_fraction: Annotated[float | None, typer.Option(help="mixed: share with video labels only.")] = None,
    steps: Annotated[int | None, typer.Option(min=1, help="Training steps.")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Videos per class per step.")] = None,
    precision: Annotated[Precision | None, typer.Option(help="fp32 or bf16 autocast.")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:1 ...")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML file of config keys (applied after the preset).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Any config key: --set alpha=0.7.")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Where the resampled training cache lives.")] = None,
    nproc: Annotated[int, typer.Option(min=1, help="Data-parallel processes (starts torchrun for you).")] = 1,
) -> None:
    """Train a network under weak, glance (GlanceVAD) or mixed supervision.

    Writes config.yaml, last.pt, best.pt (selected on held-out training videos), metrics.jsonl, tb/, summary.json.
    With --resume, --steps sets a new total. Under `torchrun --nproc_per_node K -m glancevad train ...`
    (or --nproc K) each process trains on its slice of every batch (PyTorch DDP).
    """
    import yaml

    from glancevad.config import parse_overrides, resolve_config
    from glancevad.engine.distributed import context_from_env
    from glancevad.engine.trainer import train as run_training

    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        _relaunch_with_torchrun(nproc)
        return
    if (out is None) == (resume is None):
        raise GlanceVADError("give exactly one of --out (a new run) and --resume (an existing run)")
    cfg = None
    if out is not None:
        file_values = {}
        if config is not None:
            try:
                file_values = yaml.safe_load(config.read_text()) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise GlanceVADError(f"{config}: cannot read config ({exc})".splitlines()[0]) from None
            if not isinstance(file_values, dict):
                raise GlanceVADError(f"{config}: a config file must map keys to values")
        options = {
            "model": model, "supervision": supervision.value if supervision else None,
            "glance_fraction": glance_fraction, "weak_fraction": weak_fraction, "steps": steps,
            "batch_size": batch_size, "precision": precision.value if precision else None,
            "device": device, "seed": seed,
        }
        cfg = resolve_config(preset, file_values, parse_overrides(set_ or []),
                             {k: v for k, v in options.items() if v is not None})
        from glancevad.models import get_spec

        get_spec(cfg.model)
    run_dir = out or resume
    ctx = context_from_env()
    with progress_bar(unit="steps", info=True) if ctx.is_main else contextlib.nullcontext() as bar:
        result = run_training(cfg, data, run_dir, resume=resume is not None, cache_dir=cache_dir, progress=bar,
                              steps=steps if resume is not None else None, dist_ctx=ctx)
    if not ctx.is_main:
        return
    best = result.summary["best"]
    console.print(
        f"trained {result.summary['steps']} steps; best validation score {best['score']:.4f} at step "
        f"{best['step']}\nrun folder [bold]{result.run_dir}[/]: best.pt, last.pt, metrics.jsonl, tb/, summary.json"
    )


@app.command()
def test(
    checkpoint: Annotated[Path, typer.Option(help="A glancevad checkpoint or the authors' UR-DMU .pth.")],
    data: Annotated[Path, typer.Option(help="Dataset root in the official layout.")],
    out: Annotated[Path, typer.Option(help="Folder for scores.json, metrics.json and plots/.")],
    precision: Annotated[Precision, typer.Option(help="fp32 or bf16 autocast.")] = Precision.fp32,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda ...")] = "auto",
    plots: Annotated[int, typer.Option(min=0, help="Score-curve PNGs to draw.")] = 4,
    window: Annotated[list[int] | None, typer.Option(
        help="Also score causally with this window of snippets, as `watch` does (repeatable): "
             "a table offline vs causal.")] = None,
    lookahead: Annotated[int, typer.Option(min=0, help="With --window: snippets each causal score waits for.")] = 0,
) -> None:
    """Score every test video (all crops, averaged) and compute the metrics against the ground truth."""
    from glancevad.engine.inference import evaluate_checkpoint
    from glancevad.engine.trainer import resolve_device

    if window:
        _causal_test(checkpoint, data, out, window, lookahead, resolve_device(device), precision.value)
        return
    with progress_bar(unit="videos") as bar:
        task = bar.add_task("testing", total=None)
        metrics = evaluate_checkpoint(checkpoint, data, out, device=resolve_device(device), precision=precision.value,
                                      plots=plots, on_start=lambda total: bar.update(task, total=total),
                                      on_video=lambda _: bar.advance(task))
    if metrics:
        console.print(_metrics_table(f"test metrics of {checkpoint} (%)", {"": metrics}))
    console.print(f"wrote [bold]{out}[/]: scores.json" + (", metrics.json" if metrics else "") + ", plots/")


def _causal_test(checkpoint: Path, data: Path, out: Path, windows: list[int], lookahead: int, device,
                 precision: str) -> None:
    from glancevad.causal import causal_comparison

    with progress_bar(unit="scorings") as bar:
        task = bar.add_task("testing offline and causally", total=len(windows) + 1)
        rows = causal_comparison(checkpoint, data, out, windows, lookahead=lookahead, device=device,
                                 precision=precision, on_window=lambda _: bar.advance(task))
    console.print(_metrics_table(f"{checkpoint}: offline vs causal (lookahead {lookahead}) (%)", rows))
    console.print(f"wrote [bold]{out}[/]: causal.json, causal.md, offline/ and causal-w*/ (scores.json, metrics.json)")


@app.command()
def compare(
    folders: Annotated[list[Path], typer.Argument(help="Output folders of glancevad test.")],
    names: Annotated[list[str] | None, typer.Option("--name", help="A name per folder (default: run folder).")] = None,
    data: Annotated[Path | None, typer.Option(help="Dataset root: also plot score curves side by side.")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for comparison.json and the plots.")] = None,
) -> None:
    """Print the metrics of several test outputs side by side; plot their score curves together."""
    from glancevad.compare import plot_comparison, read_test_results
    from glancevad.data import load_dataset
    from glancevad.fileio import write_json

    results = read_test_results(folders, names)
    console.print(_metrics_table("test metrics (%)", {name: r["metrics"] for name, r in results.items()}))
    if out is not None:
        path = write_json(out / "comparison.json", {name: r["metrics"] for name, r in results.items()})
        console.print(f"wrote [bold]{path}[/]")
        if data is not None:
            pngs = plot_comparison(out / "plots", results, load_dataset(data))
            console.print(f"score curves: [bold]{pngs[0].parent}[/] ({len(pngs)} PNG)")


GRID_HELP = "networks, ablation, perturbation, supervision-mix, kernels or sensitivity."


@app.command()
def experiment(
    name: Annotated[str, typer.Argument(help=GRID_HELP)],
    data: Annotated[Path, typer.Option(help="Dataset root in the official layout.")],
    out: Annotated[Path, typer.Option(help="Grid folder (runs/, table.csv, table.md, figures/).")],
    preset: Annotated[str | None, typer.Option(help="Training preset: ucf, xd or demo.")] = None,
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per setting (mean ± std).")] = 3,
    budget: Annotated[str, typer.Option(help="full, or small: few steps for a quick look.")] = "full",
    parallel: Annotated[int, typer.Option(min=1, help="Runs at once (each gets cores / parallel threads).")] = 1,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Config key for every run: --set steps=100.")] = None,
) -> None:
    """Reproduce a table or figure of the paper: one training run per setting and seed, then a table.

    Finished runs are skipped and unfinished ones resumed, so an interrupted grid continues where it stopped.
    """
    from glancevad.config import parse_overrides
    from glancevad.data import load_dataset
    from glancevad.experiments.runner import run_grid
    from glancevad.experiments.tables import gain_rows, plot_grid, summarise, write_tables

    overrides = parse_overrides(set_ or [])
    budget_seeds = 1 if budget == "small" else seeds
    with progress_bar(unit="runs") as bar:
        task = bar.add_task(f"experiment {name}", total=None)
        cells, results = run_grid(name, data, out, preset=preset, seeds=budget_seeds, budget=budget, parallel=parallel,
                                  overrides=overrides, on_plan=lambda total: bar.update(task, total=total),
                                  on_run=lambda _: bar.advance(task))
    rows = summarise(cells, results)
    if name == "networks":
        rows += gain_rows(rows)
    csv_path, md_path = write_tables(out, name, rows, dataset_name=load_dataset(data).name, seeds=budget_seeds)
    pngs = plot_grid(out, name, cells, rows)
    console.print(md_path.read_text(), markup=False, highlight=False)
    console.print(f"wrote [bold]{csv_path}[/], [bold]{md_path}[/], [bold]{pngs[0]}[/]; runs in {out / 'runs'}")


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(help="A run folder (glancevad train) or a grid (glancevad experiment).")],
) -> None:
    """Render one self-contained HTML report (figures embedded) of a run or a grid."""
    from glancevad.report import render_report

    console.print(f"wrote [bold]{render_report(folder)}[/]")


@app.command()
def extract(
    videos: Annotated[list[Path] | None, typer.Argument(help="Video files or folders (or: merge OUT).")] = None,
    out: Annotated[Path | None, typer.Option(help="Feature folder to write.")] = None,
    list_file: Annotated[Path | None, typer.Option("--list", help="A file of video paths, one per line.")] = None,
    root: Annotated[str | None, typer.Option(help="Base of relative paths in --list (default: its folder).")] = None,
    crops: Annotated[int, typer.Option(help="1 (centre), 5 (corners + centre) or 10 (those + flips).")] = 10,
    layout: Annotated[CropNaming, typer.Option(help="glancevad (vid, vid__1..), indexed (vid__0..), stacked.")] = (
        CropNaming.glancevad
    ),
    stack: Annotated[int, typer.Option(help="Frames per snippet.")] = FRAMES_PER_SNIPPET,
    step: Annotated[int, typer.Option(help="Frames between snippet starts.")] = FRAMES_PER_SNIPPET,
    fps: Annotated[float | None, typer.Option(help="Resample to this frame rate (default: native).")] = None,
    weights: Annotated[str, typer.Option(help="rgb_scratch (bundled) or a PyTorch I3D state dict.")] = "rgb_scratch",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda ...")] = "auto",
    batch: Annotated[int, typer.Option(min=1, help="Snippets per forward pass.")] = 1,
    precision: Annotated[Precision, typer.Option(help="fp32 or bf16 autocast.")] = Precision.fp32,
    shard: Annotated[str | None, typer.Option(help="i/N: this process's share (default: RANK/WORLD_SIZE).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue an extraction in --out, skipping finished videos.")] = False,
) -> None:
    """Extract 1024-d I3D snippet features (Mixed_5c, 16-frame snippets) into the official layout.

    Broken videos are recorded in the folder's manifest and skipped.

    `glancevad extract merge OUT` checks a folder written by --shard processes: every video once.
    """
    from glancevad.engine.trainer import resolve_device
    from glancevad.features.extract import ExtractionSettings, Shard, SnippetExtractor, extract_videos, video_list
    from glancevad.features.weights import load_i3d

    if videos and str(videos[0]) == "merge":
        _extract_merge(videos[1:])
        return
    if out is None:
        raise GlanceVADError("--out is required")
    this_shard = Shard.parse(shard)
    settings = ExtractionSettings(crops=crops, stack=stack, step=step, fps=fps, weights=weights)
    todo = video_list(videos or [], list_file, root)
    extractor = SnippetExtractor(load_i3d(weights), settings, device=resolve_device(device),
                                 precision=precision.value, batch=batch)
    failed: list[str] = []
    with progress_bar(unit="snippets", info=True) as bar:
        task = bar.add_task("extracting", total=None, info="")

        def started(pending: list, snippets: int) -> None:
            bar.update(task, total=snippets, info=f"{len(pending)} videos to do")

        def finished(vid: str, status: str) -> None:
            if status != "done":
                failed.append(vid)
            bar.update(task, info=f"{vid}: {status}")

        manifest = extract_videos(todo, out, extractor, layout=layout.value, shard=this_shard, resume=resume,
                                  on_start=started, on_snippet=lambda: bar.advance(task), on_video=finished)
    for vid in failed:
        err_console.print(f"[yellow]failed:[/] {vid}: {manifest['videos'][vid]['error']}", highlight=False)
    done = sum(entry["status"] == "done" for entry in manifest["videos"].values())
    console.print(f"wrote features of {done} videos to [bold]{out}[/] ({layout.value} layout, {crops} crops); "
                  f"{len(failed)} failed; manifest [bold]{out / this_shard.manifest_name}[/]")
    if failed:
        raise typer.Exit(1)


def _extract_merge(args: list[Path]) -> None:
    from glancevad.features.extract import merge_manifests

    if len(args) != 1:
        raise GlanceVADError("usage: glancevad extract merge OUT")
    report = merge_manifests(args[0])
    console.print(f"{report['done']} videos extracted once each in [bold]{args[0]}[/] "
                  f"({report['shards']} shard manifest(s)); merged manifest [bold]{report['path']}[/]")
    for vid, error in report["failed"].items():
        err_console.print(f"[yellow]failed:[/] {vid}: {error}", highlight=False)
    if report["failed"]:
        raise GlanceVADError(f"{len(report['failed'])} video(s) failed; see {report['path']}")


@app.command()
def detect(
    video: Annotated[Path | None, typer.Argument(help="The video to analyse.")] = None,
    checkpoint: Annotated[Path, typer.Option(help="A trained glancevad checkpoint (1024-d I3D features).")] = ...,
    features: Annotated[Path | None, typer.Option(help="[T, crops, D] features to use instead of extracting.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default runs/detect/<video id>).")] = None,
    threshold: Annotated[float, typer.Option(help="Score at or above which a frame is anomalous.")] = 0.5,
    min_event: Annotated[str, typer.Option(help="Shortest event kept, e.g. 1.0s.")] = "1.0s",
    merge_gap: Annotated[str, typer.Option(help="Events closer than this are joined, e.g. 2.0s.")] = "2.0s",
    overlay: Annotated[Path | None, typer.Option(help="Also write the video with its score drawn on (.mp4).")] = None,
    fps: Annotated[float | None, typer.Option(help="Frame rate for times (default: the video's, else 30).")] = None,
    crops: Annotated[int | None, typer.Option(help="Crops to extract (default: the checkpoint's).")] = None,
    weights: Annotated[str, typer.Option(help="rgb_scratch (bundled) or a PyTorch I3D state dict.")] = "rgb_scratch",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda ...")] = "auto",
    batch: Annotated[int, typer.Option(min=1, help="Snippets per forward pass.")] = 1,
    precision: Annotated[Precision, typer.Option(help="fp32 or bf16 autocast.")] = Precision.fp32,
    causal: Annotated[bool, typer.Option(help="Score as `watch` does: each snippet from the last --window.")] = False,
    window: Annotated[int, typer.Option(help="--causal: snippets the network sees (the scored one last).")] = 32,
    lookahead: Annotated[int, typer.Option(help="--causal: snippets each score waits for (0: none).")] = 0,
) -> None:
    """Score a new video with a trained model: per-frame scores, events (JSON, CSV) and a PNG."""
    from glancevad.detect import run_detection

    if video is None and features is None:
        raise GlanceVADError("give a VIDEO, or --features F.npy")
    with progress_bar(unit="snippets") if features is None else contextlib.nullcontext() as bar:
        task = bar.add_task("extracting", total=None) if bar is not None else None
        result = run_detection(
            video, checkpoint, features=features, out=out, threshold=threshold,
            min_event=_seconds(min_event, "--min-event"), merge_gap=_seconds(merge_gap, "--merge-gap"),
            overlay=overlay, fps=fps, crops=crops, weights=weights,
            device=device, precision=precision.value, batch=batch,
            window=window if causal else None, lookahead=lookahead,
            on_start=(lambda total: bar.update(task, total=total)) if bar is not None else None,
            on_snippet=(lambda: bar.advance(task)) if bar is not None else None,
        )
    for event in result["events"]:
        console.print(f"event {event.start_s:8.2f}s – {event.end_s:8.2f}s  frames {event.start_frame}–{event.end_frame}"
                      f"  peak {event.peak_score:.3f}")
    console.print(f"{len(result['events'])} event(s); wrote " + ", ".join(f"[bold]{p}[/]" for p in result["paths"]))


@app.command()
def watch(
    source: Annotated[str, typer.Argument(help="A video file, a growing file (--follow), a URL (rtsp://, http://) "
                                               "or a capture device (/dev/video0).")],
    checkpoint: Annotated[Path, typer.Option(help="A trained glancevad checkpoint (1024-d I3D features).")] = ...,
    window: Annotated[int, typer.Option(help="Snippets the network sees for each score (the newest last).")] = 32,
    lookahead: Annotated[int, typer.Option(help="Snippets each score waits for (adds latency; 0: none).")] = 0,
    threshold: Annotated[float, typer.Option(help="Score at or above which a frame is anomalous.")] = 0.5,
    min_event: Annotated[str, typer.Option(help="An event raises an alarm once it lasts this long, e.g. 1.0s.")] = (
        "1.0s"),
    merge_gap: Annotated[str, typer.Option(help="Events closer than this are one, e.g. 2.0s.")] = "2.0s",
    crops: Annotated[int | None, typer.Option(help="1, 5 or 10 (default: the checkpoint's).")] = None,
    precision: Annotated[Precision, typer.Option(help="fp32 or bf16 (I3D and the network).")] = Precision.fp32,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda ...")] = "auto",
    weights: Annotated[str, typer.Option(help="rgb_scratch (bundled) or a PyTorch I3D state dict.")] = "rgb_scratch",
    realtime: Annotated[bool, typer.Option(help="Read a file at its frame rate (default: as fast as possible).")] = (
        False),
    follow: Annotated[bool, typer.Option(help="The source is live: wait for a file to grow, reconnect a "
                                              "stream that ends.")] = False,
    stall_timeout: Annotated[float, typer.Option(help="Seconds without data before a stall is reported.")] = 5.0,
    retries: Annotated[int, typer.Option(help="Failed attempts in a row before the source is given up.")] = 5,
    backoff: Annotated[float, typer.Option(help="First wait before a retry, in seconds (doubles, up to 30).")] = 1.0,
    input_format: Annotated[str | None, typer.Option(help="PyAV/FFmpeg input format (v4l2, mpegts ...).")] = None,
    alarms: Annotated[Path | None, typer.Option(help="Also append the JSON lines to this file.")] = None,
    webhook: Annotated[str | None, typer.Option(help="Also POST each alarm as JSON to this URL.")] = None,
) -> None:
    """Score a stream as it arrives; alarms as JSON lines on stdout (Ctrl+C ends with a summary).

    Each 16-frame snippet is scored from the last --window snippets; an event raises a `start`
    alarm once it lasts --min-event and an `end` alarm when it is over. Status goes to stderr.
    """
    from glancevad.watch import AlarmSinks, WatchSettings
    from glancevad.watch import watch as run_watch

    settings = WatchSettings(
        window=window, lookahead=lookahead, threshold=threshold, min_event=_seconds(min_event, "--min-event"),
        merge_gap=_seconds(merge_gap, "--merge-gap"), crops=crops, precision=precision.value, device=device,
        weights=weights, realtime=realtime, follow=follow, stall_timeout=stall_timeout, retries=retries,
        backoff=backoff, input_format=input_format,
    )

    def status(kind: str, message: str) -> None:
        colour = "yellow" if kind in ("stall", "drop", "lost", "warning", "webhook") else "cyan"
        err_console.print(f"[{colour}]{kind}:[/] {message}", highlight=False)

    sinks = AlarmSinks(sys.stdout, alarms, webhook, on_status=status)
    summary = run_watch(source, checkpoint, settings, sinks=sinks, on_status=status)
    err_console.print(
        f"{summary.ended}: {summary.media_s:.1f} s of media ({summary.frames} frames, {summary.snippets} snippets) "
        f"in {summary.wall_s:.1f} s (real-time factor {summary.realtime_factor or 0:.2f}); {summary.alarms} alarm(s)"
        + (f", largest latency {summary.max_latency_s:.2f} s" if summary.max_latency_s is not None else "")
        + f"; {summary.stalls} stall(s), {summary.reconnects} reconnect(s)", highlight=False)
    err_console.print("alarms and summary: stdout" + (f", [bold]{alarms}[/]" if alarms else "")
                      + (f", {webhook}" if webhook else ""), highlight=False)
    if summary.ended == "source lost":
        raise typer.Exit(1)


class ExportFormat(str, Enum):
    torchscript = "torchscript"
    onnx = "onnx"


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Option(help="A trained glancevad checkpoint.")],
    format: Annotated[ExportFormat, typer.Option(help="torchscript, or onnx (the onnx extra).")] = (
        ExportFormat.torchscript),
    out: Annotated[Path | None, typer.Option(help="Folder to write (default runs/export/<checkpoint stem>).")] = None,
    with_i3d: Annotated[bool, typer.Option(help="Also export the I3D feature extractor.")] = False,
    crops: Annotated[int | None, typer.Option(help="Crops of the traced example (default: the checkpoint's).")] = None,
    weights: Annotated[str, typer.Option(help="I3D weights: rgb_scratch (bundled) or a state dict.")] = "rgb_scratch",
) -> None:
    """Write the scoring network (and with --with-i3d the feature extractor) for use without glancevad.

    Every file is checked against glancevad's own outputs (to 1e-5) before the command returns.
    """
    from glancevad.export import export_checkpoint

    out = out or Path("runs") / "export" / checkpoint.stem
    with console.status(f"exporting {checkpoint} as {format.value} ..."):
        manifest = export_checkpoint(checkpoint, out, fmt=format.value, with_i3d=with_i3d, crops=crops,
                                     weights=weights)
    for part, entry in manifest["files"].items():
        console.print(f"{part}: {entry['input']} -> {entry['output']}; largest difference from glancevad "
                      f"{entry['max_abs_difference']:.1e}", highlight=False)
    console.print("wrote " + ", ".join(f"[bold]{p}[/]" for p in manifest["paths"]))


def _seconds(text: str, option: str) -> float:
    """``"1.5s"`` or ``"1.5"`` → 1.5."""
    try:
        value = float(text.strip().removesuffix("s"))
    except ValueError:
        raise GlanceVADError(f"{option}: expected seconds such as 1.0s, not {text!r}") from None
    if value < 0:
        raise GlanceVADError(f"{option}: must not be negative")
    return value


@annotate_app.callback(invoke_without_command=True)
def annotate(
    ctx: typer.Context,
    videos: Annotated[Path | None, typer.Option(help="Folder of videos to annotate (searched recursively).")] = None,
    db: Annotated[Path, typer.Option(help="SQLite database: the store of record.")] = Path("glances.sqlite"),
    host: Annotated[str, typer.Option(help="Interface to bind; off loopback a token is required.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
    token: Annotated[str | None, typer.Option(help="Access token (generated when binding off loopback).")] = None,
    duplicate_frames: Annotated[int, typer.Option(min=0, help="Review: glances this close are flagged.")] = 8,
    transcode: Annotated[bool, typer.Option(help="Make H.264 copies of videos a browser cannot play.")] = True,
) -> None:
    """Serve the annotation page for a video folder: glance, review, export (`glancevad annotate --videos DIR`)."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from glancevad.annotate.library import scan_videos
    from glancevad.annotate.server import create_app, is_loopback, new_token
    from glancevad.annotate.store import GlanceStore

    if videos is None:
        raise GlanceVADError("--videos DIR is required to serve (or use: annotate export / annotate import)")
    if token is None and not is_loopback(host):
        token = new_token()
    store = GlanceStore(db)
    proxies = db.parent / f"{db.stem}-proxies" if transcode else None
    with console.status(f"probing videos in {videos} ...") as status:
        count, problems = scan_videos(videos, store, proxies=proxies,
                                      on_video=lambda vid, what: status.update(f"{vid}: {what} ..."))
    for problem in problems:
        err_console.print(f"[yellow]skipped:[/] {problem}", highlight=False)
    url = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
    console.print(f"{count} videos from [bold]{videos}[/]; glances stored in [bold]{db}[/]"
                  + (f"; browser copies in [bold]{proxies}[/]" if proxies and proxies.is_dir() else ""))
    console.print(f"open [bold]{url}[/]  (Ctrl+C stops; every action is already saved)")
    app_ = create_app(videos, store, token=token, duplicate_frames=duplicate_frames, proxies=proxies)
    uvicorn.run(app_, host=host, port=port, log_level="warning")


@annotate_app.command("export")
def annotate_export(
    out: Annotated[Path, typer.Option(help="CSV to write (video-id,glance).")],
    db: Annotated[Path, typer.Option(help="SQLite database of glancevad annotate.")] = Path("glances.sqlite"),
    include_proposed: Annotated[bool, typer.Option(help="Also glances not yet reviewed (not rejected).")] = False,
) -> None:
    """Export accepted glances as the official `video-id,glance` CSV."""
    from glancevad.annotate.store import GlanceStore
    from glancevad.glance import write_glances

    if not db.is_file():
        raise GlanceVADError(f"{db}: database not found")
    glances = GlanceStore(db).export_glances(include_proposed=include_proposed)
    write_glances(out, glances)
    console.print(f"wrote {sum(map(len, glances.values()))} glances of {len(glances)} videos to [bold]{out}[/]")


@annotate_app.command("import")
def annotate_import(
    csv_path: Annotated[Path, typer.Argument(help="An official glance CSV (video-id,glance).")],
    videos: Annotated[Path, typer.Option(help="The video folder the CSV's ids refer to.")],
    db: Annotated[Path, typer.Option(help="SQLite database of glancevad annotate.")] = Path("glances.sqlite"),
    annotator: Annotated[str, typer.Option(help="Name the imported glances are stored under.")] = "imported",
    status: Annotated[str, typer.Option(help="accepted (curated glances) or proposed (to be reviewed).")] = "accepted",
) -> None:
    """Import an existing glance CSV into the database (repeated imports add nothing twice)."""
    from glancevad.annotate.library import scan_videos
    from glancevad.annotate.store import GlanceStore
    from glancevad.glance import read_glances

    if status not in ("accepted", "proposed"):
        raise GlanceVADError("--status must be accepted or proposed")
    glances = read_glances(csv_path)
    store = GlanceStore(db)
    scan_videos(videos, store)
    added = store.import_glances({vid: list(frames) for vid, frames in glances.items()}, annotator, status=status)
    console.print(f"imported {added} glances of {len(glances)} videos from {csv_path} into [bold]{db}[/]")


def _relaunch_with_torchrun(nproc: int) -> None:
    """Run this same command under ``torchrun --standalone --nproc_per_node nproc`` and exit with its code."""
    import subprocess

    args, skip = [], False
    for arg in _ARGV:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            args.append(arg)
    threads = max(1, (os.cpu_count() or 1) // nproc)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(threads))}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "glancevad", *args]
    err_console.print(f"starting {nproc} processes: torchrun --standalone --nproc_per_node={nproc} -m glancevad "
                      + " ".join(args), highlight=False)
    code = subprocess.run(command, env=env).returncode
    if code:
        raise typer.Exit(code)


_ARGV: list[str] = []


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning user errors into one line on stderr and exit code 2."""
    _ARGV[:] = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args=argv, prog_name="glancevad")
    except GlanceVADError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
