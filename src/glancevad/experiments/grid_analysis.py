"""The analyses particular grids declare on their :class:`~glancevad.experiments.grids.Grid` entry.

Tables 1-2 (``networks``): the glance-over-weak gain rows and the claim that glance beats weak for
every network; Fig. 4 (``sensitivity``): the optimum's claim and the two sweep curves; Table 3
(``ablation``): the best fixed threshold per data seed. Pure functions of table rows (means and
stds over seeds, in %) and cells, plus the one figure; the generic "does it hold here?" machinery
is :mod:`glancevad.experiments.holds`, the default table and bars :mod:`glancevad.experiments.tables`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from glancevad.experiments.cells import Cell
from glancevad.fileio import save_figure

Rows = list[dict[str, Any]]


def top(candidates: list[Any], score: Callable[[Any], float]) -> list[Any]:
    """Every candidate with the highest score, in the given order: one, or several on a tie (NaN
    counts as the lowest score). A tie is reported as one, never settled by the order."""
    scores = [score(c) for c in candidates]
    scores = [-math.inf if math.isnan(s) else s for s in scores]
    high = max(scores)
    return [c for c, s in zip(candidates, scores, strict=True) if s == high]


def tied(names: list[str]) -> str:
    """``A`` for one best, ``tied: A, B`` for several."""
    return names[0] if len(names) == 1 else "tied: " + ", ".join(names)


def of_seeds(count: int, total: int) -> str:
    """``3 of 5 data seeds``."""
    return f"{count} of {total} data seed{'s' if total != 1 else ''}"



# -- Tables 1-2: glance against weak, per network ------------------------------------------------


def gain_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Glance minus weak, per network (means; std not defined): the networks grid's extra rows."""
    by_key = {row["key"]: row for row in rows}
    gains = []
    for row in rows:
        if row["key"].endswith("-glance") and (weak := by_key.get(row["key"].replace("-glance", "-weak"))):
            gain = {"key": row["key"].replace("-glance", "-gain"),
                    "label": row["label"].replace("(glance)", "gain of glance over weak"), "n": row["n"]}
            for metric in (key.removesuffix("_mean") for key in row if key.endswith("_mean")):
                gain[f"{metric}_mean"] = row[f"{metric}_mean"] - weak[f"{metric}_mean"]
                gain[f"{metric}_std"] = math.nan
            gains.append(gain)
    return gains


def glance_gain_statement(ours: dict[str, tuple[float, float]], cells: Sequence[Cell], labels: dict[str, str], *,
                          what: str) -> str:
    """Tables 1-2's claim: glance supervision beats video-level labels for every network."""
    networks = sorted({key.rsplit("-", 1)[0] for key in ours if key.endswith("-glance")})
    wins = [n for n in networks if f"{n}-weak" in ours and ours[f"{n}-glance"][0] > ours[f"{n}-weak"][0]]
    gains = ", ".join(f"{labels[f'{n}-glance'].split(' ')[0]} {ours[f'{n}-glance'][0] - ours[f'{n}-weak'][0]:+.2f}"
                      for n in networks if f"{n}-weak" in ours)
    return f"{what}: glance beats weak for {len(wins)} of {len(networks)} networks here (paper: all); gains {gains}."



def glance_wins_per_seed(cells: Sequence[Cell], per_data: list[dict[str, float]]) -> list[str]:
    """On how many data seeds glance beats weak, per network (``per_data``: one ``{key: mean}`` per data seed)."""
    labels = {cell.key: cell.label for cell in cells}
    lines = []
    for net in sorted({key.rsplit("-", 1)[0] for key in labels if key.endswith("-glance")}):
        wins = sum(d.get(f"{net}-glance", math.nan) > d.get(f"{net}-weak", math.nan) for d in per_data)
        lines.append(f"glance > weak for {labels[f'{net}-glance'].split(' (')[0]} on {of_seeds(wins, len(per_data))}")
    return lines


# -- Fig. 4: the sweeps of r_g and alpha ---------------------------------------------------------


#: Fig. 4's sweeps: (the cells' parameter, its name in the sentences, the paper's optimum).
SWEEPS = (("width", "r_g", 0.1), ("alpha", "alpha", 0.9))


def best_points(cells: list[Cell], parameter: str, score: Callable[[str], float]) -> list[float]:
    """The values of ``parameter``'s sweep whose cell scores highest (several on a tie)."""
    points = [(value, cell.key) for cell in cells for p, value in cell.sweeps if p == parameter]
    return [value for value, _ in top(points, lambda point: score(point[1]))] if points else []


def _values(values: list[float]) -> str:
    return tied([f"{v:g}" for v in values])


def optimum_statement(ours: dict[str, tuple[float, float]], cells: Sequence[Cell], labels: dict[str, str], *,
                      what: str) -> str:
    """Fig. 4's claim: the optimum lies at r_g = 0.1 and alpha = 0.9 (ties named as ties)."""
    found = [f"{name} {'= ' if len(best) == 1 else ''}{_values(best)}" for parameter, name, _ in SWEEPS
             if (best := best_points(cells, parameter, lambda key: ours[key][0]))]
    return f"{what}: the paper's optimum is r_g = 0.1, alpha = 0.9; here the best points are {'; '.join(found)}."



def optimum_per_seed(cells: Sequence[Cell], per_data: list[dict[str, float]]) -> list[str]:
    """On how many data seeds each sweep's best point is the paper's optimum (a tie is counted apart)."""
    lines = []
    for parameter, name, optimum in SWEEPS:
        best = [best_points(cells, parameter, lambda key, d=d: d.get(key, -math.inf)) for d in per_data]
        alone = sum(b == [optimum] for b in best)
        shared = sum(len(b) > 1 and optimum in b for b in best)
        lines.append(f"the best {name} is the paper's {optimum:g} on {of_seeds(alone, len(per_data))}"
                     + (f", tied with another value on {shared}" if shared else "")
                     + f" (per data seed: {'; '.join(_values(b) for b in best)})")
    return lines


def plot_sweeps(path: Path, grid: str, cells: Sequence[Cell], rows: Rows) -> Path:
    """Fig. 4: per metric, the r_g and alpha sweeps as two curves (mean ± std over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_key = {row["key"]: row for row in rows}
    # two by two, so that a docs page's width (about 700 px) leaves the labels legible
    fig, axes = plt.subplots(2, 2, figsize=(8, 6.4))
    axes = axes.ravel()
    for ax, metric in zip(axes, ("auc", "auc_a", "ap", "ap_a"), strict=True):
        for parameter, label in (("width", "r_g (alpha = 0.9)"), ("alpha", "alpha (r_g = 0.1)")):
            points = sorted((value, by_key[c.key]) for c in cells for p, value in c.sweeps if p == parameter)
            xs = np.arange(len(points))
            ax.errorbar(xs, [r[f"{metric}_mean"] for _, r in points], yerr=[r[f"{metric}_std"] for _, r in points],
                        marker="o", capsize=3, label=label)
            for x, (value, row) in zip(xs, points, strict=True):
                ax.annotate(f"{value:g}", (x, row[f"{metric}_mean"]), fontsize=9, textcoords="offset points",
                            xytext=(0, 5), ha="center")
        ax.set_title(metric.upper())
        ax.set_xticks([])
        ax.set_xlabel("parameter value (annotated)")
    axes[0].legend(fontsize=9)
    fig.suptitle(f"{grid} (mean ± std over seeds)")
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


# -- Table 3: the fixed thresholds ---------------------------------------------------------------


def best_threshold_per_seed(cells: Sequence[Cell], per_data: list[dict[str, float]],
                            thresholds: Sequence[float]) -> list[str]:
    """Per data seed, the best of each fixed-threshold row's ``thresholds`` (the first: the assumed one)."""
    labels = {cell.key: cell.label for cell in cells}
    lines = []
    for row in ("mining", "mining-gaussian"):
        keys = dict(zip([row] + [f"{row}-t{t:g}" for t in thresholds[1:]], thresholds, strict=True))
        best = [[keys[k] for k in top(list(keys), lambda k, d=d: d.get(k, -math.inf))] for d in per_data]
        lines.append(f"{labels[row].split(' (')[0]}: the best fixed threshold per data seed is "
                     f"{'; '.join(_values(b) for b in best)} ({thresholds[0]:g} is the assumed value)")
    return lines
