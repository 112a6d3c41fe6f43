"""``glancevad paper``: the paper's six grids at the ``paper`` budget, runs shared across grids, one report.

A setting that several grids contain (the glance-supervised UR-DMU default is a row of five of them)
resolves to the same configuration, glance file and data, hence the same run folder
(``runner.run_digest``), and is trained once. Folder::

    paper.json                    what was planned: grids, seeds, budget, runs, the estimate, wall time
    runs/<digest>/                one ordinary run folder per distinct run (+ test/, test/last/)
    cache/                        training caches
    <grid>/                       grid.json (its runs), table.csv, table.md, figures/, glances/
    index.html                    the report (``glancevad.report.render_paper_report``)

Resumable like a grid: finished runs are skipped, unfinished ones resumed.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

from glancevad.experiments.grids import Cell
from glancevad.experiments.planning import (
    SECONDS_PER_RUN,  # noqa: F401  (re-exported: the estimate's per-run constant)
    Estimate,
    check_budget,
    choose_preset,
    estimate_plan,
    estimate_specs,
)
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
PAPER_GRIDS = ("networks", "ablation", "perturbation", "supervision-mix", "kernels", "sensitivity")



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
    grids: tuple[str, ...] = PAPER_GRIDS,
) -> PaperPlan:
    """Plan every grid with one shared run store, ``out/runs``."""
    return PaperPlan({name: plan_grid(name, data, out / name, preset=preset, seeds=seeds, budget=budget,
                                      overrides=overrides, store=out / "runs") for name in grids})


def estimate_seconds(specs: list[RunSpec], parallel: int) -> float:
    """Wall seconds the unfinished runs should take (``planning.estimate_specs`` at the reference shape)."""
    return estimate_specs(specs, parallel).wall_seconds


def run_paper(
    data: str | Path, out: str | Path, *, preset: str | None = None, seeds: int = 3, budget: str = "paper",
    parallel: int = 2, overrides: dict[str, Any] | None = None,
    on_plan: Callable[[PaperPlan, Estimate, str], None] | None = None,
    on_run: Callable[[RunSpec], None] | None = None, prepare_only: bool = False,
) -> Path:
    """Run (or resume) every grid of the paper: each grid's tables and figures, and ``paper.json``;
    returns the folder (``glancevad.report.render_paper_report`` renders it as ``index.html``).

    Without a ``preset`` the dataset's name chooses one; ``--budget paper`` on a real dataset is
    refused (``planning.check_budget``). ``on_plan(plan, estimate, preset_line)`` is called before
    any training, ``on_run(spec)`` after each run. ``prepare_only``: build the training caches
    (``paper.json`` records their folders and bytes) and stop; nothing trains.
    """
    from glancevad.data.dataset import load_dataset
    from glancevad.experiments.tables import tabulate_grid

    data, out = Path(data), Path(out)
    seeds = budget_seeds(budget, seeds)
    dataset_name = load_dataset(data).name  # a bad root fails here, before anything is written
    preset, said = choose_preset(dataset_name, preset)
    check_budget(budget, dataset_name, preset)
    out.mkdir(parents=True, exist_ok=True)
    plan = plan_paper(data, out, preset=preset, seeds=seeds, budget=budget, overrides=overrides)
    full = estimate_plan(plan.unique, parallel)
    estimate = full.wall_seconds
    info_path = out / "paper.json"
    previous = json.loads(info_path.read_text()) if info_path.exists() else {}
    # the first estimate and the wall time add up over the sessions of a resumed run
    info = {"data": str(data), "preset": preset, "seeds": seeds, "budget": budget, "overrides": overrides or {},
            "grids": list(plan.grids), "settings": len(plan.specs), "runs": len(plan.unique),
            "estimate_s": previous.get("estimate_s", estimate), "wall_s": previous.get("wall_s", 0.0)}
    write_json(info_path, info)
    if on_plan:
        on_plan(plan, full, said)
    started, wall_before = time.monotonic(), info["wall_s"]

    def finished(spec: RunSpec) -> None:
        info["wall_s"] = wall_before + time.monotonic() - started
        write_json(info_path, info)
        if on_run:
            on_run(spec)

    caches = build_caches(plan.unique)
    info["caches"] = {str(folder): sum(f.stat().st_size for f in folder.iterdir()) for folder in caches}
    write_json(info_path, info)
    if prepare_only:
        return out
    done = execute_specs(plan.unique, parallel=parallel, on_run=finished)
    for name, (cells, specs) in plan.grids.items():
        write_grid_info(out / name, name, data, preset=preset, seeds=seeds, budget=budget, overrides=overrides,
                        cells=cells, specs=specs)
        results = {(spec.cell_key, spec.seed): done[spec.run_dir] for spec in specs}
        tabulate_grid(out / name, name, cells, results, dataset_name=dataset_name, seeds=seeds)
    info["wall_s"] = wall_before + time.monotonic() - started
    write_json(info_path, info)
    return out


# ---------------------------------------------------------------------------------------------------------------
# "Does it hold here?": the paper's ordering of a table's rows beside ours, stated without judgement


def ordering_statement(
    ours: dict[str, tuple[float, float]], paper: dict[str, float], labels: dict[str, str], *, what: str,
) -> str:
    """One sentence comparing two orderings of the same rows.

    ``ours`` maps a row key to (mean, std over seeds), ``paper`` to the published value. Counts the
    row pairs the paper orders that we order the same way, and how many of ours differ by less
    than the larger std (an ordering a few seeds cannot settle), and names each side's best row.
    """
    keys = [key for key in paper if key in ours and not math.isnan(ours[key][0])]
    if len(keys) < 2:
        return f"{what}: fewer than two rows with published figures; nothing to compare."
    pairs = [(a, b) for a, b in combinations(keys, 2) if paper[a] != paper[b]]
    agree = sum((paper[a] - paper[b]) * (ours[a][0] - ours[b][0]) > 0 for a, b in pairs)
    unsettled = sum(abs(ours[a][0] - ours[b][0]) < max(ours[a][1], ours[b][1]) for a, b in pairs)
    noise = f" ({unsettled} of them closer here than one seed std)" if any(ours[k][1] > 0 for k in keys) else ""
    best_paper = max(keys, key=lambda k: paper[k])
    best_ours = max(keys, key=lambda k: ours[k][0])
    order = " > ".join(labels[k] for k in sorted(keys, key=lambda k: -ours[k][0]))
    return (f"{what}: {agree} of {len(pairs)} row pairs ordered as in the paper{noise}; "
            f"best row: paper {labels[best_paper]}, here {labels[best_ours]}. "
            f"Here: {order}.")


def glance_gain_statement(ours: dict[str, tuple[float, float]], labels: dict[str, str], *, what: str) -> str:
    """Tables 1-2's claim: glance supervision beats video-level labels for every network."""
    networks = sorted({key.rsplit("-", 1)[0] for key in ours if key.endswith("-glance")})
    wins = [n for n in networks if f"{n}-weak" in ours and ours[f"{n}-glance"][0] > ours[f"{n}-weak"][0]]
    gains = ", ".join(f"{labels[f'{n}-glance'].split(' ')[0]} {ours[f'{n}-glance'][0] - ours[f'{n}-weak'][0]:+.2f}"
                      for n in networks if f"{n}-weak" in ours)
    return f"{what}: glance beats weak for {len(wins)} of {len(networks)} networks here (paper: all); gains {gains}."


def optimum_statement(ours: dict[str, tuple[float, float]], cells: list[Cell], *, what: str) -> str:
    """Fig. 4's claim: the optimum lies at r_g = 0.1 and alpha = 0.9."""
    best = {}
    for parameter in ("width", "alpha"):
        points = [(value, cell.key) for cell in cells for p, value in cell.sweeps if p == parameter]
        if points:
            best[parameter] = max(points, key=lambda point: ours[point[1]][0])[0]
    found = ", ".join(f"{'r_g' if p == 'width' else 'alpha'} = {v:g}" for p, v in best.items())
    return f"{what}: the paper's optimum is r_g = 0.1, alpha = 0.9; here the best points are {found}."


def statements(grid: str, cells: list[Cell], rows: list[dict[str, Any]], paper_rows: dict[str, Any]) -> list[str]:
    """The "does it hold here?" lines of one grid, from its best.pt rows (means and stds in %)."""
    labels = {row["key"]: row["label"] for row in rows}
    lines = []
    for metric, dataset, name in (("auc", "ucf-crime", "AUC vs UCF-Crime AUC"),
                                  ("ap", "xd-violence", "AP vs XD-Violence AP")):
        ours = {row["key"]: (row[f"{metric}_mean"], row[f"{metric}_std"]) for row in rows}
        paper = {key: figures[dataset][metric] for key, figures in paper_rows.items()
                 if metric in figures.get(dataset, {})}
        if paper:
            lines.append(ordering_statement(ours, paper, labels, what=name))
        if grid == "networks":
            lines.append(glance_gain_statement(ours, labels, what=metric.upper()))
        if grid == "sensitivity":
            lines.append(optimum_statement(ours, cells, what=metric.upper()))
    return lines
