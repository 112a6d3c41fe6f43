"""The plateau study: after how many steps does each network's validation score level off?

It trains the ``networks`` grid (MIL, RTFM, UR-DMU x weak / glance) for a long horizon and reads
each run's validation trace (minus the held-out BCE on held-out training videos, never the test
set: :func:`validation_trace`). A trace has levelled off at the first evaluation after which its
smoothed value never gains more than its noise again (:func:`plateau_step`; one criterion for every network and rule,
whatever the rule's scale). Each network's budget is the latest plateau over its runs; the ``paper``
budget of ``glancevad.experiments.runner`` takes its per-network step counts from this study.

The study also scores the test set at every evaluation (for this analysis only: no run's ``best.pt``
sees it) to check the budget: a run's trajectory does not depend on its total steps, so the
checkpoint the rule selects among the evaluations up to the budget is ``best.pt`` of a run of that
budget, and the one it selects up to twice the budget is ``best.pt`` of a run twice as long.

Folder: the grid's own layout (``runs/<cell>/seed<k>/`` with ``test_trace.jsonl``, ``table.md``) plus::

    plateau.csv, plateau.md     one row per run: plateau step, noise, test AUC of best.pt at the budget and at twice it
    plateau.png                 the validation traces, each plateau marked
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from glancevad.checkpoint_selection import choose_step, selection_value
from glancevad.engine.run_folder import read_evaluations, read_first_eligible, read_run_config
from glancevad.fileio import atomic_write, read_jsonl, save_figure, write_csv

#: The default horizon, as a multiple of the preset's steps.
HORIZON_FACTOR = 3
#: Evaluations averaged when smoothing a trace (validation on a few dozen videos is noisy).
WINDOW = 3
#: The budget check: test AUC (in points) of best.pt at the budget may trail a run twice as long by this much.
CHECK_POINTS = 1.0


def trace_noise(values: Sequence[float]) -> float:
    """The noise of a validation trace: the spread of consecutive differences over its second half,
    as a standard deviation over sqrt(2) (a level plus independent noise of std sigma differs by
    sqrt(2) sigma from one evaluation to the next). The spread is the median absolute deviation
    (x 1.4826, a normal's std), not the std: UR-DMU's held-out BCE jumps by 1-2 at single
    evaluations (a few held-out snippets scored near 0 or 1), and the std of those jumps would call
    every gain noise. The second half, where a long run has mostly levelled off, keeps the early
    rise out of it. ``nan`` values count as 0."""
    clean = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)
    steps = np.diff(clean[len(clean) // 2:])
    if len(steps) < 2:
        return 0.0
    return float(1.4826 * np.median(np.abs(steps - np.median(steps))) / math.sqrt(2))


def plateau_step(steps: Sequence[int], values: Sequence[float], *, tolerance: float | None = None,
                 window: int = WINDOW) -> int:
    """The first step after which the trace's running mean over ``window`` evaluations never rises
    more than ``tolerance`` above its value there (``None``: the trace's own :func:`trace_noise`).
    ``nan`` values (undefined scores) count as 0."""
    if len(steps) != len(values) or not steps:
        raise ValueError("plateau_step needs as many values as steps, and at least one")
    clean = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)
    if tolerance is None:
        tolerance = trace_noise(clean)
    smooth = np.array([clean[max(0, i - window + 1): i + 1].mean() for i in range(len(clean))])
    best_after = np.maximum.accumulate(smooth[::-1])[::-1]
    levelled = np.flatnonzero(best_after - smooth <= tolerance)
    return int(steps[levelled[0]])


def validation_trace(run_dir: Path) -> tuple[list[int], list[float]]:
    """``(steps, values)`` of the signal a budget is read from, on the run's held-out training videos:
    minus the held-out BCE (``heldout_bce``), which has no ceiling and so keeps moving while the network
    improves, where the AUCs of the selection rules sit at 1; the video AUC where the held-out videos
    have no glances."""
    evaluated = read_evaluations(run_dir)
    return [step for step, _ in evaluated], [selection_value(val, "heldout_bce") for _, val in evaluated]


def run_plateau_study(
    data: str | Path, out: str | Path, *, preset: str | None = "demo", seeds: int = 1, parallel: int = 1,
    overrides: dict[str, Any] | None = None, on_plan: Callable[[int], None] | None = None,
    on_run: Callable[[Any], None] | None = None,
) -> tuple[Path, Path, Path]:
    """Train the networks grid for ``HORIZON_FACTOR`` x the preset's steps (or ``--set steps=``) with a
    test trace, and write where each run levelled off and how its budget tests against twice the budget.
    Returns ``(plateau.csv, plateau.md, plateau.png)``."""
    from glancevad.config import resolve_config
    from glancevad.experiments.runner import run_grid

    out = Path(out)
    overrides = dict(overrides or {})
    overrides.setdefault("steps", HORIZON_FACTOR * resolve_config(preset).steps)
    cells, _ = run_grid("networks", data, out, preset=preset, seeds=seeds, parallel=parallel, overrides=overrides,
                        on_plan=on_plan, on_run=on_run, trace_test=True)
    rows, run_dirs = [], []
    for cell in cells:
        for seed in range(seeds):
            run_dir = out / "runs" / cell.key / f"seed{seed}"
            run_dirs.append(run_dir)
            steps, values = validation_trace(run_dir)
            summary = json.loads((run_dir / "summary.json").read_text())
            rows.append({"model": cell.overrides["model"], "supervision": cell.overrides["supervision"],
                         "seed": seed, "plateau_step": plateau_step(steps, values), "noise": trace_noise(values),
                         "horizon": steps[-1],
                         "best_value": float(np.nanmax(values)) if not all(map(math.isnan, values)) else math.nan,
                         "seconds_per_step": summary["timing"]["seconds_per_step"]})
    budgets = suggested_steps(rows)
    for row, run_dir in zip(rows, run_dirs, strict=True):
        row.update(budget_check(run_dir, budgets[row["model"]]))
    return (*_write_tables(out, rows), _plot(out, cells, seeds))


def budget_check(run_dir: Path, budget: int) -> dict[str, Any]:
    """Test AUC (%) of ``best.pt`` of the run at ``budget`` steps and at twice it (``nan`` past the horizon).

    ``best.pt`` of a run trained to ``last`` steps is the rule's choice among this run's evaluations up
    to ``last``: the steps before it do not depend on the total."""
    cfg, evaluated = read_run_config(run_dir), read_evaluations(run_dir)
    gate = read_first_eligible(run_dir)
    trace = {r["step"]: r for r in read_jsonl(run_dir / "test_trace.jsonl")}

    def best_auc(last: int) -> float:
        step = choose_step([e for e in evaluated if e[0] <= last], cfg.selection_rule, first_eligible=gate,
                           tiebreak=cfg.selection_tiebreak)
        return 100 * trace[step]["auc"]

    at = {"budget_auc": best_auc(budget), "double_auc": best_auc(2 * budget) if 2 * budget <= max(trace) else math.nan}
    return {**at, "within": bool(at["budget_auc"] >= at["double_auc"] - CHECK_POINTS)
            if not math.isnan(at["double_auc"]) else None}


def suggested_steps(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Per network, the latest plateau over its supervisions and seeds: every run has levelled off."""
    steps: dict[str, int] = {}
    for row in rows:
        steps[row["model"]] = max(steps.get(row["model"], 0), int(row["plateau_step"]))
    return steps


def _write_tables(out: Path, rows: list[dict[str, Any]]) -> tuple[Path, Path]:
    write_csv(out / "plateau.csv", rows)
    lines = [f"# Where validation levels off (gain <= the trace's noise after it, {WINDOW}-evaluation mean)", "",
             "| network | supervision | seed | plateau step | noise | horizon | best value (- held-out BCE) | s / step "
             "| test AUC of best.pt at the budget | at twice the budget |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    budgets = suggested_steps(rows)
    for r in rows:
        double = "past the horizon" if math.isnan(r["double_auc"]) else f"{r['double_auc']:.2f}"
        lines.append(f"| {r['model']} | {r['supervision']} | {r['seed']} | {r['plateau_step']} | {r['noise']:.4f} | "
                     f"{r['horizon']} | {r['best_value']:.4f} | {r['seconds_per_step']:.3f} | "
                     f"{r['budget_auc']:.2f} ({budgets[r['model']]} steps) | {double} |")
    checked = [r for r in rows if r["within"] is not None]
    lines += ["", "Steps every run of a network needs (the latest plateau): "
              + ", ".join(f"{m} {s}" for m, s in budgets.items()),
              f"Runs whose best.pt at the budget tests within {CHECK_POINTS:g} AUC point of twice the budget: "
              f"{sum(r['within'] for r in checked)} of {len(checked)}"
              + (f" ({len(rows) - len(checked)} with twice the budget past the horizon)" if len(checked) < len(rows)
                 else ""), ""]
    with atomic_write(out / "plateau.md", "w") as handle:
        handle.write("\n".join(lines))
    return out / "plateau.csv", out / "plateau.md"


def _plot(out: Path, cells, seeds: int) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(cells), figsize=(3.2 * len(cells), 3), sharey=True, squeeze=False)
    for ax, cell in zip(axes[0], cells, strict=True):
        for seed in range(seeds):
            steps, values = validation_trace(out / "runs" / cell.key / f"seed{seed}")
            line, = ax.plot(steps, values, label=f"seed {seed}")
            at = plateau_step(steps, values)
            ax.axvline(at, color=line.get_color(), linestyle=":")
        ax.set_title(cell.label, fontsize=9)
        ax.set_xlabel("step")
    axes[0][0].set_ylabel("minus held-out BCE")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out / "plateau.png", dpi=100)
