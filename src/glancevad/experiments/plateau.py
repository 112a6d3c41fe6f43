"""The plateau study: after how many steps does each network's validation score level off?

It trains the ``networks`` grid (MIL, RTFM, UR-DMU x weak / glance) for a long horizon and reads
each run's validation trace (the selection rule's value on held-out training videos, never the
test set). A trace has levelled off at the first evaluation after which its smoothed value never
gains more than ``tolerance`` again. The ``paper`` budget of ``glancevad.experiments.runner`` takes
its per-network step counts from this study.

Folder: the grid's own layout (``runs/<cell>/seed<k>/``, ``table.md``) plus::

    plateau.csv, plateau.md     one row per run: plateau step, best validation value, seconds per step
    plateau.png                 the validation traces, each plateau marked
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from glancevad.checkpoint_selection import selection_value
from glancevad.config import make_config
from glancevad.fileio import atomic_write, read_jsonl, save_figure, write_csv

#: The default horizon, as a multiple of the preset's steps.
HORIZON_FACTOR = 3
#: A gain of at most this much (0.01 = one AUC point) after the plateau step counts as levelled off.
TOLERANCE = 0.01
#: Evaluations averaged when smoothing a trace (validation on a few dozen videos is noisy).
WINDOW = 3


def plateau_step(steps: Sequence[int], values: Sequence[float], *, tolerance: float = TOLERANCE,
                 window: int = WINDOW) -> int:
    """The first step after which the trace's running mean over ``window`` evaluations never rises
    more than ``tolerance`` above its value there. ``nan`` values (undefined scores) count as 0."""
    if len(steps) != len(values) or not steps:
        raise ValueError("plateau_step needs as many values as steps, and at least one")
    clean = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)
    smooth = np.array([clean[max(0, i - window + 1): i + 1].mean() for i in range(len(clean))])
    best_after = np.maximum.accumulate(smooth[::-1])[::-1]
    levelled = np.flatnonzero(best_after - smooth <= tolerance)
    return int(steps[levelled[0]])


def validation_trace(run_dir: Path) -> tuple[list[int], list[float]]:
    """``(steps, values)`` of the run's selection rule on its held-out training videos."""
    rule = make_config(_read_config(run_dir)).selection_rule
    steps, values = [], []
    for record in read_jsonl(run_dir / "metrics.jsonl"):
        if "val_glance_auc" in record:
            steps.append(record["step"])
            values.append(selection_value({k[4:]: v for k, v in record.items() if k.startswith("val_")}, rule))
    return steps, values


def _read_config(run_dir: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((run_dir / "config.yaml").read_text())


def run_plateau_study(
    data: str | Path, out: str | Path, *, preset: str | None = "demo", seeds: int = 1, parallel: int = 1,
    overrides: dict[str, Any] | None = None, on_plan: Callable[[int], None] | None = None,
    on_run: Callable[[Any], None] | None = None,
) -> tuple[Path, Path, Path]:
    """Train the networks grid for ``HORIZON_FACTOR`` x the preset's steps (or ``--set steps=``) and
    write where each run levelled off. Returns ``(plateau.csv, plateau.md, plateau.png)``."""
    from glancevad.config import resolve_config
    from glancevad.experiments.runner import run_grid

    out = Path(out)
    overrides = dict(overrides or {})
    overrides.setdefault("steps", HORIZON_FACTOR * resolve_config(preset).steps)
    cells, _ = run_grid("networks", data, out, preset=preset, seeds=seeds, parallel=parallel, overrides=overrides,
                        on_plan=on_plan, on_run=on_run)
    rows = []
    for cell in cells:
        for seed in range(seeds):
            run_dir = out / "runs" / cell.key / f"seed{seed}"
            steps, values = validation_trace(run_dir)
            summary = json.loads((run_dir / "summary.json").read_text())
            rows.append({"model": cell.overrides["model"], "supervision": cell.overrides["supervision"],
                         "seed": seed, "plateau_step": plateau_step(steps, values), "horizon": steps[-1],
                         "best_value": float(np.nanmax(values)) if not all(map(math.isnan, values)) else math.nan,
                         "seconds_per_step": summary["timing"]["seconds_per_step"]})
    return (*_write_tables(out, rows), _plot(out, cells, seeds))


def suggested_steps(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Per network, the latest plateau over its supervisions and seeds: every run has levelled off."""
    steps: dict[str, int] = {}
    for row in rows:
        steps[row["model"]] = max(steps.get(row["model"], 0), int(row["plateau_step"]))
    return steps


def _write_tables(out: Path, rows: list[dict[str, Any]]) -> tuple[Path, Path]:
    write_csv(out / "plateau.csv", rows)
    lines = [f"# Where validation levels off (gain <= {TOLERANCE:g} after it, {WINDOW}-evaluation mean)", "",
             "| network | supervision | seed | plateau step | horizon | best validation value | s / step |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['supervision']} | {r['seed']} | {r['plateau_step']} | {r['horizon']} | "
                     f"{r['best_value']:.4f} | {r['seconds_per_step']:.3f} |")
    lines += ["", "Steps every run of a network needs (the latest plateau): "
              + ", ".join(f"{m} {s}" for m, s in suggested_steps(rows).items()), ""]
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
    axes[0][0].set_ylabel("validation selection value")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out / "plateau.png", dpi=100)
