"""``glancevad train``, ``test`` and ``compare``: training runs and their test results."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated

import typer

from glancevad.cli.app import app
from glancevad.cli.common import (
    PRECISION_HELP,
    DeviceOpt,
    Precision,
    PrecisionOpt,
    PresetOpt,
    config_option,
    metrics_table,
)
from glancevad.console import console, err_console, progress_bar
from glancevad.errors import GlanceVADError
from glancevad.fileio import check_output


@app.command()
def train(
    ctx: typer.Context,
    data: Annotated[Path | None, typer.Option(
        help="Dataset root in the official layout (with --resume: the run's own, which it records).")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder to create (checkpoints, logs, config).")] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue the run in this folder from its last.pt.")] = None,
    preset: PresetOpt = None,
    model: Annotated[str | None, config_option("model", "Network.")] = None,
    supervision: Annotated[str | None, config_option(
        "supervision", "Of the abnormal videos: video labels, glances, or a mix of both.")] = None,
    glance_fraction: Annotated[float | None, config_option(
        "glance_fraction", "mixed: share of abnormal videos glanced.")] = None,
    weak_fraction: Annotated[float | None, config_option(
        "weak_fraction", "mixed: share with video labels only.")] = None,
    steps: Annotated[int | None, config_option("steps", "Training steps.")] = None,
    batch_size: Annotated[int | None, config_option("batch_size", "Items per class per step.")] = None,
    crop_sampling: Annotated[str | None, config_option(
        "crop_sampling", "item: one crop of a video per item (as released); average: whole videos, crops averaged.")
    ] = None,
    precision: Annotated[str | None, config_option(
        "precision", PRECISION_HELP + " The run records which.")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:1 ...")] = None,
    seed: Annotated[int | None, config_option("seed", "Random seed.")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML file of config keys (applied after the preset).")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Any config key: --set alpha=0.7; a mapping's keys one by one: "
                      "--set loss.rtfm.sparsity=none.")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Where the resampled training cache lives.")] = None,
    nproc: Annotated[int, typer.Option(min=1, help="Data-parallel processes (starts torchrun for you).")] = 1,
) -> None:
    """Train a network under weak, glance (GlanceVAD) or mixed supervision.

    Writes config.yaml, data.json, last.pt, best.pt (selected on held-out training videos), metrics.jsonl, tb/,
    summary.json. `--resume RUN` alone continues a run on the data and cache it recorded; --data with it must
    be the same training set (it may have moved); --steps sets a new total; the other config options are
    refused (the run keeps the config it recorded).
    Under `torchrun --nproc_per_node K -m glancevad train ...` (or --nproc K) each process trains on its
    slice of every batch (PyTorch DDP).
    """
    from glancevad.config import load_train_config
    from glancevad.engine.distributed import context_from_env, run_under_torchrun
    from glancevad.engine.run import train as run_training

    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        code = run_under_torchrun(nproc, ctx.obj["argv"], on_start=lambda line: err_console.print(
            f"starting {nproc} processes: {line}", highlight=False))
        raise typer.Exit(code)
    if (out is None) == (resume is None):
        raise GlanceVADError("give exactly one of --out (a new run) and --resume (an existing run)")
    if resume is not None:
        given = {"--preset": preset, "--model": model, "--supervision": supervision,
                 "--glance-fraction": glance_fraction, "--weak-fraction": weak_fraction, "--batch-size": batch_size,
                 "--crop-sampling": crop_sampling, "--precision": precision, "--device": device, "--seed": seed,
                 "--config": config, "--set": set_}
        if refused := [name for name, value in given.items() if value not in (None, [])]:
            raise GlanceVADError(f"{resume}: a resumed run keeps the config it recorded; drop {', '.join(refused)}"
                                 " (--steps sets a new total, --data and --cache-dir say where its data is now)")
    cfg = None
    processes = context_from_env()
    if out is not None:
        if data is None:
            raise GlanceVADError("a new run needs --data (the dataset root)")
        if processes.is_main:  # under torchrun every rank runs this: their probes and clean-ups would race
            check_output(out, kind="folder")
        options = {
            "model": model, "supervision": supervision, "glance_fraction": glance_fraction,
            "weak_fraction": weak_fraction, "steps": steps, "batch_size": batch_size, "precision": precision,
            "crop_sampling": crop_sampling, "device": device, "seed": seed,
        }
        cfg = load_train_config(preset=preset, config_file=config, overrides=set_ or [], options=options)
    run_dir = out or resume
    with progress_bar(unit="steps", info=True) if processes.is_main else contextlib.nullcontext() as bar:
        result = run_training(cfg, data, run_dir, resume=resume is not None, cache_dir=cache_dir, progress=bar,
                              steps=steps if resume is not None else None, dist_ctx=processes)
    if not processes.is_main:
        return
    best = result.summary["best"]
    score = "" if best.get("score") is None else f", validation score {best['score']:.4f}"
    console.print(
        f"trained {result.summary['steps']} steps in {result.summary['precision']}; "
        f"best.pt is step {best['step']}{score} "
        f"({result.summary['selection']})\nrun folder [bold]{result.run_dir}[/]: best.pt, last.pt, metrics.jsonl, "
        "tb/, summary.json"
    )
    if note := result.summary["selection_note"]:
        console.print(f"[yellow]note:[/] {note}", highlight=False)


@app.command()
def test(
    checkpoint: Annotated[Path, typer.Option(help="A glancevad checkpoint or the authors' UR-DMU .pth.")],
    data: Annotated[Path, typer.Option(help="Dataset root in the official layout.")],
    out: Annotated[Path, typer.Option(help="Folder for scores.json, metrics.json and plots/.")],
    precision: PrecisionOpt = Precision.fp32,
    device: DeviceOpt = "auto",
    plots: Annotated[int, typer.Option(min=0, help="Score-curve PNGs to draw.")] = 4,
    window: Annotated[list[int] | None, typer.Option(
        help="Also score causally with this window of snippets, as `watch` does (repeatable): "
             "a table offline vs causal.")] = None,
    lookahead: Annotated[int, typer.Option(min=0, help="With --window: snippets each causal score waits for.")] = 0,
) -> None:
    """Score every test video (all crops, averaged) and compute the metrics against the ground truth.

    For a run's best.pt, its last.pt is tested too (into OUT/last/), so that both are reported.
    """
    check_output(out, kind="folder")
    from glancevad.evaluation import evaluate_best_and_last
    from glancevad.runtime import resolve_device

    if window:
        _causal_test(checkpoint, data, out, window, lookahead, resolve_device(device), precision.value)
        return
    with progress_bar(unit="videos") as bar:
        task = bar.add_task("testing", total=None)
        results = evaluate_best_and_last(
            checkpoint, data, out, device=resolve_device(device), precision=precision.value, plots=plots,
            on_start=lambda total: bar.reset(task, total=total), on_video=lambda _: bar.advance(task))
    rows = {name: metrics for name, metrics in results.items() if metrics}
    if rows:
        console.print(metrics_table(f"test metrics of {checkpoint.parent} (%)", rows))
    written = "scores.json" + (", metrics.json" if rows else "") + ", plots/" + (", last/" if len(results) > 1 else "")
    console.print(f"wrote [bold]{out}[/]: {written}")


def _causal_test(checkpoint: Path, data: Path, out: Path, windows: list[int], lookahead: int, device,
                 precision: str) -> None:
    from glancevad.evaluation import causal_comparison

    with progress_bar(unit="scorings") as bar:
        task = bar.add_task("testing offline and causally", total=len(windows) + 1)
        rows = causal_comparison(checkpoint, data, out, windows, lookahead=lookahead, device=device,
                                 precision=precision, on_window=lambda _: bar.advance(task))
    console.print(metrics_table(f"{checkpoint}: offline vs causal (lookahead {lookahead}) (%)", rows))
    console.print(f"wrote [bold]{out}[/]: causal.json, causal.md, offline/ and causal-w*/ (scores.json, metrics.json)")


@app.command()
def compare(
    folders: Annotated[list[Path], typer.Argument(help="Output folders of glancevad test.")],
    names: Annotated[list[str] | None, typer.Option("--name", help="A name per folder (default: run folder).")] = None,
    data: Annotated[Path | None, typer.Option(help="Dataset root: also plot score curves side by side.")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for comparison.json and the plots.")] = None,
) -> None:
    """Print the metrics of several test outputs side by side; plot their score curves together."""
    if out is not None:
        check_output(out, kind="folder")
    from glancevad.compare import plot_comparison, read_test_results
    from glancevad.data import load_dataset
    from glancevad.fileio import write_json

    results = read_test_results(folders, names)
    console.print(metrics_table("test metrics (%)", {name: r["metrics"] for name, r in results.items()}))
    if out is not None:
        path = write_json(out / "comparison.json", {name: r["metrics"] for name, r in results.items()})
        console.print(f"wrote [bold]{path}[/]")
        if data is not None:
            pngs = plot_comparison(out / "plots", results, load_dataset(data))
            console.print(f"score curves: [bold]{pngs[0].parent}[/] ({len(pngs)} PNG)")
