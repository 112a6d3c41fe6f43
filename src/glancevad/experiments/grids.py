"""The paper's experiment grids as data: each grid is a list of cells (rows) of config overrides.

| grid | paper | rows |
| --- | --- | --- |
| ``networks`` | Tables 1-2 | MIL, RTFM, UR-DMU x weak / glance |
| ``ablation`` | Table 3 | baseline; +mining; +Gaussian; +mining+dynamic; +mining+Gaussian; all; fixed 0.5/0.7/0.9 |
| ``perturbation`` | Table 4 | glances shifted by up to 0 / 10 / 50 / 100 frames |
| ``supervision-mix`` | Table 5 | eleven weak / glance / part settings |
| ``kernels`` | Table 6 | normal / Cauchy / Laplace |
| ``sensitivity`` | Fig. 4 | r_g sweep at alpha = 0.9, and alpha sweep at r_g = 0.1 |
| ``crop-sampling`` | (ours) | UR-DMU weak / glance x single-crop items (as released) / crop-averaged videos |
| ``rtfm-glance`` | (ours) | RTFM under glances: release loss vs Eq. 10, abnormal MIL weight, mining scores, top-k |
| ``mil-glance`` | (ours) | MIL under glances: abnormal MIL weight, mining scores, top-k rule, BCE form |
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import glancevad.experiments.grid_analysis as analysis
from glancevad.errors import GlanceVADError
from glancevad.experiments.cells import Cell

__all__ = ["GRIDS", "PAPER_GRIDS", "Cell", "Grid", "GridAnalysis", "grid_cells"]

Rows = analysis.Rows
#: ``claim(ours, cells, labels, what) -> sentence``: ours maps a row key to (mean, std) in %.
Claim = Callable[[dict[str, tuple[float, float]], Sequence[Cell], dict[str, str]], str]
#: ``count(cells, per_data) -> sentences``: per_data holds one ``{row key: mean}`` per data seed.
SeedClaim = Callable[[Sequence[Cell], list[dict[str, float]]], list[str]]


def _networks() -> list[Cell]:
    from glancevad.models import get_spec, list_models  # here: listing the grids loads no torch

    return [
        Cell(f"{model}-{sup}", f"{get_spec(model).label} ({sup})", {"model": model, "supervision": sup})
        for model in list_models() for sup in ("weak", "glance")
    ]


#: The fixed thresholds of Table 3's rows without the dynamic threshold. The paper gives no value;
#: 0.5 (the first, whose rows carry the paper's figures) is this project's assumption, and the
#: others show whether a row's result is the method's or the value's.
FIXED_THRESHOLDS = (0.5, 0.7, 0.9)


def _ablation() -> list[Cell]:
    glance = {"supervision": "glance"}
    fixed = []
    for key, label, gaussian in (("mining", "+mining", False), ("mining-gaussian", "+mining +Gaussian", True)):
        for i, threshold in enumerate(FIXED_THRESHOLDS):
            fixed.append(Cell(key if i == 0 else f"{key}-t{threshold:g}",
                              f"{label} (fixed threshold {threshold:g}{', assumed' if i == 0 else ''})",
                              {**glance, "mining": True, "dynamic_threshold": False, "gaussian": gaussian,
                               "fixed_threshold": threshold}))
    mining, mining_gaussian = fixed[:len(FIXED_THRESHOLDS)], fixed[len(FIXED_THRESHOLDS):]
    return [
        Cell("baseline", "baseline (weak)", {"supervision": "weak"}),
        *mining,
        Cell("gaussian", "+Gaussian", {**glance, "mining": False, "gaussian": True}),
        Cell("mining-dynamic", "+mining +dynamic", {**glance, "mining": True, "dynamic_threshold": True,
                                                    "gaussian": False}),
        *mining_gaussian,
        Cell("all", "+mining +dynamic +Gaussian", {**glance, "mining": True, "dynamic_threshold": True,
                                                   "gaussian": True}),
    ]


def _perturbation() -> list[Cell]:
    return [Cell(f"shift-{k}", f"±{k} frames", {"supervision": "glance"}, glance_shift=k) for k in (0, 10, 50, 100)]


def _supervision_mix() -> list[Cell]:
    settings = [(100, 0), (25, 0), (50, 0), (75, 0), (0, 25), (0, 50), (0, 75), (75, 25), (50, 50), (25, 75),
                (0, 100)]
    cells = []
    for weak, glance in settings:
        kind = "weak" if glance == 0 else "glance" if weak == 0 else "mixed"
        part = "" if weak + glance == 100 else " (part)"
        cells.append(Cell(f"w{weak}-g{glance}", f"{kind}{part}: W {weak}% G {glance}%",
                          {"supervision": "mixed", "weak_fraction": weak / 100, "glance_fraction": glance / 100}))
    return cells


def _kernels() -> list[Cell]:
    from glancevad.tgs import KERNELS  # here: listing the grids loads no torch

    return [Cell(k, k.capitalize(), {"supervision": "glance", "kernel": k}) for k in KERNELS]


def _sensitivity() -> list[Cell]:
    """One-at-a-time sweeps around the paper's optimum; the optimum itself is run once."""
    cells = [
        Cell(f"rg-{w:g}", f"r_g = {w:g}" + (", alpha = 0.9" if w == 0.1 else ""),
             {"supervision": "glance", "width": w, "alpha": 0.9},
             sweeps=(("width", w), ("alpha", 0.9)) if w == 0.1 else (("width", w),))
        for w in (0.05, 0.1, 0.2, 0.4)
    ]
    cells += [Cell(f"alpha-{a:g}", f"alpha = {a:g}", {"supervision": "glance", "width": 0.1, "alpha": a},
                   sweeps=(("alpha", a),)) for a in (0.5, 0.7, 0.8, 0.95)]
    return cells


def _crop_sampling() -> list[Cell]:
    labels = {"item": "one crop per item", "average": "all crops averaged"}
    return [
        Cell(f"{sup}-{mode}", f"UR-DMU {sup}, {labels[mode]}", {"model": "urdmu", "supervision": sup,
                                                               "crop_sampling": mode})
        for sup in ("weak", "glance") for mode in ("item", "average")
    ]


#: RTFM's release loss with the sparsity and smoothness terms off: the paper's Eq. 10 (L_mil + L_mag).
EQ10 = {"sparsity": "none", "smoothness": "none"}


def _rtfm_glance() -> list[Cell]:
    """RTFM under glances, one choice changed at a time from the release's loss, mining on the
    training forward's scores (design data only; every choice pinned, whatever the defaults)."""
    rtfm = {"model": "rtfm"}
    glance = {**rtfm, "supervision": "glance", "mining_scores": "train"}
    return [
        Cell("weak", "RTFM weak (release loss)", {**rtfm, "supervision": "weak"}),
        Cell("release", "glance, release loss, MIL weight 0", glance),
        Cell("eq10", "glance, Eq. 10 (no sparsity, no smoothness)", {**glance, "loss": {"rtfm": EQ10}}),
        Cell("mil1", "glance, release loss, MIL weight 1", {**glance, "abnormal_mil_weight": 1.0}),
        Cell("eq10-mil1", "glance, Eq. 10, MIL weight 1",
             {**glance, "loss": {"rtfm": EQ10}, "abnormal_mil_weight": 1.0}),
        Cell("mining-eval", "glance, release loss, mining on dropout-free scores",
             {**glance, "mining_scores": "eval"}),
        Cell("topk-urdmu", "glance, release loss, k = T // 16 + 1", {**glance, "loss": {"rtfm": {"topk": "urdmu"}}}),
        Cell("paper-forms", "glance, RTFM paper's per-video sparsity and smoothness",
             {**glance, "loss": {"rtfm": {"sparsity": "paper", "smoothness": "paper"}}}),
        Cell("no-magnitude", "glance, release loss without the magnitude term",
             {**glance, "loss": {"rtfm": {"magnitude_weight": 0.0}}}),
    ]


def _mil_glance() -> list[Cell]:
    """The MIL baseline under glances, one choice changed at a time (design data only)."""
    mil = {"model": "mil"}
    glance = {**mil, "supervision": "glance", "mining_scores": "train"}
    return [
        Cell("weak", "MIL weak", {**mil, "supervision": "weak"}),
        Cell("default", "glance, BCE halves, k = T // 16 + 1, MIL weight 0", glance),
        Cell("mil1", "glance, MIL weight 1", {**glance, "abnormal_mil_weight": 1.0}),
        Cell("mining-eval", "glance, mining on dropout-free scores", {**glance, "mining_scores": "eval"}),
        Cell("topk-rtfm", "glance, k = T // 10", {**glance, "loss": {"mil": {"topk": "rtfm"}}}),
        Cell("bce-joint", "glance, one joint BCE mean", {**glance, "loss": {"mil": {"bce": "joint"}}}),
    ]


@dataclass(frozen=True)
class GridAnalysis:
    """What a grid's report needs beyond the default table, bar figure and orderings (each optional).

    ``extra_rows(rows)``: rows appended to its table (Tables 1-2: the gains); ``figure(path, grid,
    cells, rows)``: its figure instead of the bars (Fig. 4's curves); ``claims``: "does it hold
    here?" sentences per metric (:data:`Claim`); ``seed_claims``: those counted per data seed
    (:data:`SeedClaim`); ``score_curves``: the (weak, glance) cell keys whose test score curves
    the report draws side by side, with the heading.
    """

    extra_rows: Callable[[Rows], Rows] | None = None
    figure: Callable[[Path, str, Sequence[Cell], Rows], Path] | None = None
    claims: tuple[Claim, ...] = ()
    seed_claims: tuple[SeedClaim, ...] = ()
    score_curves: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class Grid:
    """A grid: what it reproduces (one line, for the CLI's help), the function giving its cells, its
    own analysis, and whether ``glancevad paper`` runs it."""

    description: str
    cells: Callable[[], list[Cell]]
    analysis: GridAnalysis = field(default_factory=GridAnalysis)
    in_paper: bool = False


GRIDS: dict[str, Grid] = {
    "networks": Grid("Tables 1-2: every registered network x weak / glance", _networks, GridAnalysis(
        extra_rows=analysis.gain_rows, claims=(analysis.glance_gain_statement,),
        seed_claims=(analysis.glance_wins_per_seed,),
        score_curves=("urdmu-weak", "urdmu-glance", "Score curves: UR-DMU weak vs glance (paper Fig. 5)")),
        in_paper=True),
    "ablation": Grid("Table 3: baseline; +mining; +Gaussian; +mining+dynamic; +mining+Gaussian; all three "
                     "(the fixed-threshold rows at 0.5, assumed, 0.7 and 0.9)", _ablation, GridAnalysis(
                         seed_claims=(partial(analysis.best_threshold_per_seed, thresholds=FIXED_THRESHOLDS),)),
                     in_paper=True),
    "perturbation": Grid("Table 4: glances shifted by up to 0 / 10 / 50 / 100 frames", _perturbation, in_paper=True),
    "supervision-mix": Grid("Table 5: eleven weak / glance / part settings", _supervision_mix, in_paper=True),
    "kernels": Grid("Table 6: one row per registered TGS kernel", _kernels, in_paper=True),
    "sensitivity": Grid("Fig. 4: r_g sweep at alpha = 0.9, and alpha sweep at r_g = 0.1", _sensitivity, GridAnalysis(
        figure=analysis.plot_sweeps, claims=(analysis.optimum_statement,), seed_claims=(analysis.optimum_per_seed,)),
        in_paper=True),
    "crop-sampling": Grid("(ours) UR-DMU weak / glance x single-crop items / crop-averaged videos", _crop_sampling),
    "rtfm-glance": Grid("(ours) RTFM under glances: release loss vs Eq. 10, abnormal MIL weight 0 / 1, mining on "
                        "dropout-free scores, top-k rule, no magnitude term", _rtfm_glance),
    "mil-glance": Grid("(ours) MIL under glances: abnormal MIL weight 0 / 1, mining on dropout-free scores, top-k "
                       "rule, BCE form", _mil_glance),
}
#: The grids ``glancevad paper`` runs, in the paper's order.
PAPER_GRIDS = tuple(name for name, grid in GRIDS.items() if grid.in_paper)


def grid_analysis(name: str) -> GridAnalysis:
    """A grid's own analysis (none for a name that is not a grid: a folder written by another version)."""
    return GRIDS[name].analysis if name in GRIDS else GridAnalysis()


def grid_cells(name: str) -> list[Cell]:
    """The cells of a grid; an unknown name lists the valid ones."""
    if name not in GRIDS:
        raise GlanceVADError(f"unknown grid {name!r}; grids: {', '.join(GRIDS)}")
    return GRIDS[name].cells()
