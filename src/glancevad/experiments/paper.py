"""``glancevad paper``: the paper's six grids on one or more data roots, runs shared across grids, one report.

A setting that several grids contain (the glance-supervised UR-DMU default is a row of five of them)
resolves to the same configuration, glance file and data, hence the same run folder
(``runner.run_digest``), and is trained once. Several data roots (``make paper``: synthetic data
seeds 1-3, the report data; seed 0 is the design set) give each table over every data and
training seed, and the "does it hold here?" lines count the data seeds a claim holds on. Folder::

    paper.json                    what was planned: data roots, grids, seeds, budget, runs, estimate, wall time
    runs/<digest>/                one ordinary run folder per distinct run (+ test/, test/last/)
    runs/cache/                   training caches, one per data root (never one per glance file)
    <grid>/                       pooled over every data root: grid.json, table.csv, table.md, figures/,
                                  holds.json (the "does it hold here?" lines, per checkpoint)
    per-data/<label>/<grid>/      one data root's grid.json, table.*, figures/, glances/ (perturbed glances);
                                  ``<label>``: the root's folder name, made unique (:func:`data_labels`)
    index.html                    the report (``glancevad.report.render_paper_report``)

Resumable like a grid: finished runs are skipped, unfinished ones resumed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glancevad.errors import GlanceVADError
from glancevad.experiments.grids import PAPER_GRIDS, Cell
from glancevad.experiments.planning import Estimate, check_budget, choose_preset, estimate_plan
from glancevad.experiments.runner import (
    RunSpec,
    budget_seeds,
    build_caches,
    execute_specs,
    plan_grid,
    write_grid_info,
)
from glancevad.fileio import write_json

#: The grids of the paper, in its order: Tables 1-2, 3, 4, 5, 6 and Fig. 4.

#: The subfolder of a paper folder that holds each data root's own grids (``per-data/<label>/<grid>``):
#: never inside a data root, even when the data roots lie in the paper folder (``make paper``).
PER_DATA = "per-data"


@dataclass
class PaperPlan:
    """Every grid's cells and runs, and the distinct runs among them."""

    grids: dict[str, tuple[list[Cell], list[RunSpec]]]

    @property
    def specs(self) -> list[RunSpec]:
        return [spec for _, specs in self.grids.values() for spec in specs]

    @property
    def unique(self) -> list[RunSpec]:
        return list({spec.run_dir: spec for spec in self.specs}.values())


def plan_paper(
    data: Path, out: Path, *, preset: str | None, seeds: int, budget: str, overrides: dict[str, Any] | None = None,
    grids: tuple[str, ...] = PAPER_GRIDS, store: Path | None = None,
) -> PaperPlan:
    """Plan every grid of one data root with one shared run store (``store``, default ``out/runs``)."""
    return PaperPlan({name: plan_grid(name, data, out / name, preset=preset, seeds=seeds, budget=budget,
                                      overrides=overrides, store=store or out / "runs") for name in grids})


def write_deviations(out: Path, data: Path, preset: str | None, budget: str,
                     overrides: dict[str, Any] | None) -> Path:
    """``deviations.json`` and ``deviations.md``: our settings (this data's shape) against the paper's and the
    release's (``experiments.deviations``)."""
    from glancevad.data.dataset import load_dataset
    from glancevad.data.feature_files import feature_shape
    from glancevad.experiments.deviations import (
        deviation_rows,
        network_rows,
        our_settings,
        write_deviations_markdown,
    )

    dataset = load_dataset(data)
    _, crops, dim = feature_shape(dataset.feature_index("train").locate(dataset.train[0].id))
    rows = deviation_rows(our_settings(preset, budget, crops=crops, dim=dim, overrides=overrides))
    networks = network_rows(preset, budget, overrides)
    write_deviations_markdown(out / "deviations.md", rows, networks)
    return write_json(out / "deviations.json", rows + networks)


def resolve_roots(roots: list[str | Path]) -> list[Path]:
    """The data roots as absolute paths, symlinks resolved; a root given twice (by any path to the
    same folder) is refused, since it would count as two data seeds."""
    resolved: dict[Path, str | Path] = {}
    for root in roots:
        path = Path(root).resolve()
        if path in resolved:
            same = "" if str(resolved[path]) == str(root) else f" (as {resolved[path]} and {root})"
            raise GlanceVADError(f"--data {path} is given twice{same}; each data root counts as one data seed")
        resolved[path] = root
    return list(resolved)


def data_labels(roots: list[Path]) -> list[str]:
    """A folder name per (resolved, distinct) data root, unique among them: the root's own folder
    name (``root`` for the file-system root), and where several roots share a name, that name with
    ``-1``, ``-2`` ... (the first number no other label or root name takes). Never empty, ``.`` or ``..``."""
    names = [root.name or "root" for root in roots]
    labels: list[str] = []
    for name in names:
        label, number = name, 0
        while (names.count(name) > 1 and label == name) or label in labels or (label != name and label in names):
            number += 1
            label = f"{name}-{number}"
        labels.append(label)
    return labels


def run_paper(
    data: str | Path | list[str | Path], out: str | Path, *, preset: str | None = None, seeds: int = 3,
    budget: str = "paper", parallel: int = 2, overrides: dict[str, Any] | None = None,
    on_plan: Callable[[list[PaperPlan], Estimate, str], None] | None = None,
    on_run: Callable[[RunSpec], None] | None = None, prepare_only: bool = False,
    grids: tuple[str, ...] = PAPER_GRIDS,
) -> Path:
    """Run (or resume) every grid of the paper on each data root (the report's data seeds): each
    grid's tables pooled over every data and training seed in ``out/<grid>/``, per data root in
    ``out/per-data/<label>/<grid>/`` (:data:`PER_DATA`, :func:`data_labels`), the "does it hold
    here?" lines with per-data-seed counts in ``out/<grid>/holds.json``, and ``paper.json``; returns
    the folder (``glancevad.report.render_paper_report`` renders it as ``index.html``).

    Without a ``preset`` the dataset's name chooses one; ``--budget paper`` on a real dataset is
    refused (``planning.check_budget``), and so is a root given twice (:func:`resolve_roots`).
    ``on_plan(plans, estimate, preset_line)`` is called before any training, ``on_run(spec)`` after
    each run. ``prepare_only``: build the training caches (``paper.json`` records their folders and
    bytes) and stop; nothing trains.
    """
    from glancevad.data.dataset import load_dataset
    from glancevad.experiments.holds import grid_findings
    from glancevad.experiments.tables import CHECKPOINTS, paper_results, summarise, tabulate_grid

    roots = resolve_roots(list(data) if isinstance(data, list | tuple) else [data])
    out = Path(out)
    seeds = budget_seeds(budget, seeds)
    names = {load_dataset(root).name for root in roots}  # a bad root fails here, before anything is written
    if len(names) > 1:
        raise GlanceVADError(f"the data roots are different datasets ({', '.join(sorted(names))}); "
                             "the report's data seeds must be one dataset's")
    dataset_name = names.pop()
    preset, said = choose_preset(dataset_name, preset)
    check_budget(budget, dataset_name, preset)
    labels = data_labels(roots)
    plans = [plan_paper(root, out / PER_DATA / label, preset=preset, seeds=seeds, budget=budget, overrides=overrides,
                        grids=grids, store=out / "runs") for root, label in zip(roots, labels, strict=True)]
    unique = list({spec.run_dir: spec for plan in plans for spec in plan.unique}.values())
    full = estimate_plan(unique, parallel)
    out.mkdir(parents=True, exist_ok=True)   # once the plan stands (a bad --set leaves no folder)
    info_path = out / "paper.json"
    previous = json.loads(info_path.read_text()) if info_path.exists() else {}
    # the first estimate and the wall time add up over the sessions of a resumed run
    info = {"data": [str(root) for root in roots], "data_labels": labels, "dataset": dataset_name,
            "preset": preset, "seeds": seeds, "budget": budget, "overrides": overrides or {},
            "grids": list(plans[0].grids), "settings": sum(len(plan.specs) for plan in plans), "runs": len(unique),
            "estimate_s": previous.get("estimate_s", full.wall_seconds), "wall_s": previous.get("wall_s", 0.0)}
    write_json(info_path, info)
    write_deviations(out, roots[0], preset, budget, overrides)
    if on_plan:
        on_plan(plans, full, said)
    started, wall_before = time.monotonic(), info["wall_s"]

    def finished(spec: RunSpec) -> None:
        info["wall_s"] = wall_before + time.monotonic() - started
        write_json(info_path, info)
        if on_run:
            on_run(spec)

    caches = build_caches(unique)
    info["caches"] = {str(folder): sum(f.stat().st_size for f in folder.iterdir()) for folder in caches}
    write_json(info_path, info)
    if prepare_only:
        return out
    done = execute_specs(unique, parallel=parallel, on_run=finished)
    for name in info["grids"]:
        cells = plans[0].grids[name][0]
        pooled: dict[tuple[str, Any], dict[str, dict[str, Any]]] = {}
        per_data: dict[str, list[list[dict[str, Any]]]] = {checkpoint: [] for checkpoint in CHECKPOINTS}
        for root, label, plan in zip(roots, labels, plans, strict=True):
            specs = plan.grids[name][1]
            write_grid_info(out / PER_DATA / label / name, name, root, preset=preset, seeds=seeds, budget=budget,
                            overrides=overrides, cells=cells, specs=specs)
            results = {(spec.cell_key, spec.seed): done[spec.run_dir] for spec in specs}
            tabulate_grid(out / PER_DATA / label / name, name, cells, results, dataset_name=dataset_name, seeds=seeds)
            pooled.update({(key, (label, seed)): value for (key, seed), value in results.items()})
            for checkpoint in CHECKPOINTS:
                per_data[checkpoint].append(summarise(cells, results, checkpoint=checkpoint))
        all_specs = [spec for plan in plans for spec in plan.grids[name][1]]
        write_grid_info(out / name, name, roots, preset=preset, seeds=seeds, budget=budget,
                        overrides=overrides, cells=cells, specs=all_specs)
        tabulate_grid(out / name, name, cells, pooled, dataset_name=dataset_name, seeds=seeds, data_seeds=len(roots))
        rows = {checkpoint: summarise(cells, pooled, checkpoint=checkpoint) for checkpoint in CHECKPOINTS}
        write_json(out / name / "holds.json", grid_findings(name, cells, rows, per_data, paper_results(name)["rows"]))
    info["wall_s"] = wall_before + time.monotonic() - started
    write_json(info_path, info)
    return out
