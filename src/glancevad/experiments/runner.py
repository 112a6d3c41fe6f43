"""Running a grid: one ordinary training run per (cell, seed), then a test of its ``best.pt`` and ``last.pt``.

Layout of a grid folder::

    grid.json                  what was run: grid, data, preset, seeds, budget, overrides
    runs/<cell>/seed<k>/       an ordinary run folder (config.yaml, best.pt, ...) + test/ (best.pt)
                               and test/last/ (last.pt), as ``glancevad test`` writes them
    glances/shift-<K>.csv      perturbed glances (perturbation grid)
    table.csv, table.md        mean ± std over seeds (paper figures beside ours when known)
    figures/*.png

A grid is resumable: a run whose ``test/metrics.json`` exists is not trained again, an unfinished run is
resumed from its ``last.pt``. ``parallel > 1`` runs that many at once in worker processes, each
with its share of the CPU threads.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from glancevad.config import TrainConfig, resolve_config
from glancevad.data.cache import build_or_open_cache
from glancevad.data.dataset import load_dataset
from glancevad.data.feature_files import feature_shape
from glancevad.errors import GlanceVADError
from glancevad.experiments.grids import Cell, grid_cells
from glancevad.experiments.tables import PAPER_METRICS
from glancevad.fileio import read_jsonl, write_json
from glancevad.glance import perturb_glances, read_glances, write_glances
from glancevad.metrics import UndefinedMetricWarning
from glancevad.models import get_spec, list_models
from glancevad.presets import is_real_dataset
from glancevad.runtime import resolve_device, resolve_precision

#: What each ``--budget`` changes in every run's configuration; ``small`` also runs one seed only,
#: so that a grid runs in minutes on a CPU. ``paper`` is meant for the demo-sized synthetic data
#: (``--preset demo``): each network trains until its validation score has levelled off.
BUDGETS: dict[str, dict[str, Any]] = {
    "full": {},
    "small": {"steps": 40, "eval_every": 10, "log_every": 5, "min_mining_step": 10},
    "paper": {},
}



def budget_steps(budget: str) -> dict[str, int]:
    """Per-network steps of a budget (``{}``: the configuration's own). ``paper``: each network's
    ``ModelSpec.paper_steps``, the latest plateau of the held-out BCE over weak and glance runs,
    measured by ``glancevad experiment plateau --data D --out O --preset demo --seeds 1 --parallel 2
    --set steps=1500`` on ``glancevad synth D --size demo --seed 0`` (table in docs/paper.md, "The
    ``paper`` budget")."""
    if budget != "paper":
        return {}
    return {name: get_spec(name).paper_steps for name in list_models()}


def budget_seeds(budget: str, seeds: int) -> int:
    """How many seeds a budget runs per setting."""
    if budget not in BUDGETS:
        raise GlanceVADError(f"budget must be one of {', '.join(BUDGETS)}, got {budget!r}")
    if seeds < 1:
        raise GlanceVADError("seeds must be >= 1")
    return 1 if budget == "small" else seeds


@dataclass(frozen=True)
class RunSpec:
    """Everything one worker needs to train and test one (cell, seed)."""

    cell_key: str
    seed: int
    config: dict[str, Any]
    data: str
    run_dir: str
    cache_dir: str
    #: also score the test set at every evaluation into ``test_trace.jsonl`` (studies only; always on
    #: a published dataset, the authors' protocol); the run's own ``best.pt`` never sees it
    trace_test: bool = False


def plan_grid(
    name: str, data: Path, out: Path, *, preset: str | None, seeds: int, budget: str,
    overrides: dict[str, Any] | None = None, store: Path | None = None,
) -> tuple[list[Cell], list[RunSpec]]:
    """The cells of grid ``name`` and one ``RunSpec`` per (cell, seed); writes perturbed glances.

    Runs go to ``out/runs/<cell>/seed<k>``, or, with a ``store``, to ``store/<run_digest>`` so that
    equal runs of different grids are one run.
    """
    budget_seeds(budget, seeds)
    cells = grid_cells(name)
    dataset = load_dataset(data)
    specs = []
    for cell in cells:
        extra: dict[str, Any] = {}
        if cell.glance_shift:
            extra["glance_csv"] = str(_perturbed_glances(dataset, out, cell.glance_shift))
        for seed in range(seeds):
            layers = (overrides or {}, cell.overrides, extra, {"seed": seed})
            model = resolve_config(preset, BUDGETS[budget], *layers).model
            cfg = resolve_config(preset, budget_overrides(budget, model), *layers).to_dict()
            # the precision the run trains in names it (auto means another thing on another machine)
            cfg["precision"] = resolve_precision(cfg["precision"], resolve_device(cfg["device"]))
            run_dir = store / run_digest(cfg, data) if store else out / "runs" / cell.key / f"seed{seed}"
            specs.append(RunSpec(cell.key, seed, cfg, str(data), str(run_dir), str((store or out) / "cache")))
    return cells, specs


def budget_overrides(budget: str, model: str) -> dict[str, Any]:
    """The configuration a budget sets for one network (the ``paper`` budget's steps differ by network)."""
    values = dict(BUDGETS[budget])
    if steps := budget_steps(budget):
        values["steps"] = steps[model]
    return values


def run_digest(config: dict[str, Any], data: Path) -> str:
    """A name for a run that equal runs share: the resolved configuration, the data root and the
    content of its glance file (perturbed glances of two grids are one file's worth of identity)."""
    identity = dict(config)
    if identity.get("glance_csv"):
        identity["glance_csv"] = hashlib.sha256(Path(identity["glance_csv"]).read_bytes()).hexdigest()
    identity["data"] = str(Path(data).resolve())
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{config['model']}-{config['supervision']}-s{config['seed']}-{digest}"


def _perturbed_glances(dataset, out: Path, shift: int) -> Path:
    path = out / "glances" / f"shift-{shift}.csv"
    if not path.exists():
        if dataset.glance_csv is None:
            raise GlanceVADError(f"{dataset.root}: no glance CSV to perturb")
        index = dataset.feature_index("train")
        frames = {v.id: dataset.frames_per_snippet * feature_shape(index.locate(v.id))[0] for v in dataset.train}
        moved = perturb_glances(read_glances(dataset.glance_csv), max_shift=shift, num_frames=frames, seed=shift)
        write_glances(path, moved)
    return path


def execute(spec: RunSpec, threads: int | None = None) -> dict[str, dict[str, Any]]:
    """Train (or resume, or skip) one run, then test it: ``{"best": metrics, "last": metrics}``."""
    from glancevad.engine.run import train
    from glancevad.evaluation import evaluate_checkpoint

    if threads:
        torch.set_num_threads(threads)
    run_dir = Path(spec.run_dir)
    dataset = load_dataset(spec.data)
    # on a published dataset, also the authors' protocol: the test set scored at every evaluation
    traced = spec.trace_test or is_real_dataset(dataset.name)
    trace = run_dir / TEST_TRACE if traced and dataset.ground_truth is not None else None
    if not (run_dir / "test" / "metrics.json").exists():
        summary = run_dir / "summary.json"
        finished = summary.exists() and json.loads(summary.read_text()).get("finished", False)
        if not finished:
            from glancevad.experiments.selection_study import trace_callback

            resume = (run_dir / "last.pt").exists()
            traced = [trace_callback(dataset, trace, spec.config["precision"])] if trace else []
            train(None if resume else TrainConfig(**spec.config), spec.data, run_dir, resume=resume,
                  cache_dir=spec.cache_dir, callbacks=traced)
    cfg = TrainConfig(**spec.config)
    results = {}
    for name, folder in (("best", run_dir / "test"), ("last", run_dir / "test" / "last")):
        if not (folder / "metrics.json").exists():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UndefinedMetricWarning)
                evaluate_checkpoint(run_dir / f"{name}.pt", spec.data, folder, device=resolve_device(cfg.device),
                                    precision=cfg.precision, plots=0)
        results[name] = json.loads((folder / "metrics.json").read_text())
    if trace is not None and trace.exists() and dataset.name in PAPER_METRICS:
        results["oracle"] = best_on_test(read_jsonl(trace), PAPER_METRICS[dataset.name][0])
    return results


#: The per-evaluation test metrics of a run on a published dataset (the authors' protocol only).
TEST_TRACE = "test_trace.jsonl"


def best_on_test(trace: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """The evaluation with the best test ``metric`` (the earliest of equals): how the release chose
    ``best.pth``, selection on the test set. Reported beside best.pt, never instead of it."""
    return max(trace, key=lambda record: (record[metric], -record["step"]))


def run_grid(
    name: str, data: str | os.PathLike, out: str | os.PathLike, *, preset: str | None = None, seeds: int = 3,
    budget: str = "full", parallel: int = 1, overrides: dict[str, Any] | None = None,
    on_plan: Callable[[int], None] | None = None, on_run: Callable[[RunSpec], None] | None = None,
    trace_test: bool = False,
) -> tuple[list[Cell], dict[tuple[str, int], dict[str, dict[str, Any]]]]:
    """Run every (cell, seed) of a grid; return the cells and ``{(cell, seed): {"best": .., "last": ..}}``.

    ``on_plan(number_of_runs)`` is called once the grid is planned, ``on_run(spec)`` after each run;
    ``trace_test``: every run also scores the test set at each evaluation (a study's trace, see :class:`RunSpec`).
    """
    data, out = Path(data), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cells, specs = plan_grid(name, data, out, preset=preset, seeds=seeds, budget=budget, overrides=overrides)
    if trace_test:
        specs = [replace(spec, trace_test=True) for spec in specs]
    if on_plan:
        on_plan(len({spec.run_dir for spec in specs}))
    write_grid_info(out, name, data, preset=preset, seeds=seeds, budget=budget, overrides=overrides, cells=cells,
                    specs=specs)
    return cells, run_specs(specs, parallel=parallel, on_run=on_run)


def run_specs(
    specs: list[RunSpec], *, parallel: int = 1, on_run: Callable[[RunSpec], None] | None = None,
) -> dict[tuple[str, int], dict[str, dict[str, Any]]]:
    """Build the caches, then execute every distinct run: ``{(cell, seed): {"best": .., "last": ..}}``."""
    build_caches(specs)
    done = execute_specs(specs, parallel=parallel, on_run=on_run)
    return {(spec.cell_key, spec.seed): done[spec.run_dir] for spec in specs}


def write_grid_info(
    out: Path, name: str, data: Path | list[Path], *, preset: str | None, seeds: int, budget: str,
    overrides: dict[str, Any] | None, cells: list[Cell], specs: list[RunSpec],
) -> Path:
    """``grid.json``: what was run, and each cell's run folder per seed (shared runs live elsewhere).

    ``data``: the data root, or (a grid pooled over several data roots, ``glancevad paper``) the
    list of them, recorded as a list; ``seeds``: training seeds per data root."""
    runs: dict[str, list[str]] = {}
    for spec in specs:
        runs.setdefault(spec.cell_key, []).append(spec.run_dir)
    out.mkdir(parents=True, exist_ok=True)
    roots = [str(root) for root in data] if isinstance(data, list) else str(data)
    return write_json(out / "grid.json", {"grid": name, "data": roots, "preset": preset, "seeds": seeds,
                                          "budget": budget, "overrides": overrides or {},
                                          "cells": [asdict(c) for c in cells], "runs": runs})


def cache_keys(specs: list[RunSpec]) -> list[tuple[str, str, int]]:
    """The distinct training caches of ``specs``: ``(data, cache_dir, N)``. A cache depends on the
    features and N only (``glancevad.data.cache``), so glance files, mixed fractions and
    perturbations of a grid all share one."""
    return sorted({(s.data, s.cache_dir, s.config["num_snippets"]) for s in specs})


def build_caches(specs: list[RunSpec]) -> list[Path]:
    """Build each distinct training cache once, before any worker needs it; returns their folders."""
    return [build_or_open_cache(load_dataset(data), cache_dir, num_snippets=num_snippets).folder
            for data, cache_dir, num_snippets in cache_keys(specs)]


def execute_specs(
    specs: list[RunSpec], *, parallel: int = 1, on_run: Callable[[RunSpec], None] | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Execute each distinct run folder once (``parallel`` at a time): ``{run_dir: {"best", "last"}}``."""
    unique = list({spec.run_dir: spec for spec in specs}.values())
    results: dict[str, dict[str, dict[str, Any]]] = {}
    if parallel <= 1:
        for spec in unique:
            results[spec.run_dir] = execute(spec)
            if on_run:
                on_run(spec)
        return results
    threads = max(1, (os.cpu_count() or 1) // parallel)
    with ProcessPoolExecutor(max_workers=parallel, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(execute, spec, threads): spec for spec in unique}
        for future in as_completed(futures):
            spec = futures[future]
            results[spec.run_dir] = future.result()
            if on_run:
                on_run(spec)
    return results
