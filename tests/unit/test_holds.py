"""Pooling the report's data seeds and counting the data seeds a claim holds on, from hand-made results."""

from __future__ import annotations

import math

import pytest

from glancevad.experiments.grids import grid_cells
from glancevad.experiments.holds import grid_findings, ordering_counts, seed_counts
from glancevad.experiments.tables import METRICS, summarise


def metrics(auc: float) -> dict[str, float]:
    return {m: auc / 100 for m in METRICS}


def test_pooled_rows_average_every_data_and_training_seed():
    cells = grid_cells("kernels")[:2]
    a, b = cells[0].key, cells[1].key
    # two data seeds x two training seeds, keyed as glancevad paper pools them: (cell, (data label, seed))
    results = {(a, ("d1", 0)): 80, (a, ("d1", 1)): 82, (a, ("d2", 0)): 90, (a, ("d2", 1)): 92,
               (b, ("d1", 0)): 70, (b, ("d1", 1)): 70, (b, ("d2", 0)): 70, (b, ("d2", 1)): 70}
    results = {key: {"best": metrics(v), "last": metrics(v - 1)} for key, v in results.items()}
    rows = {r["key"]: r for r in summarise(cells, results)}
    values = [80, 82, 90, 92]
    mean = sum(values) / 4
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / 3)            # sample std over all four runs
    assert rows[a]["n"] == 4 and rows[a]["auc_mean"] == pytest.approx(mean) and rows[a]["auc_std"] == pytest.approx(std)
    assert summarise(cells, results, checkpoint="last")[0]["auc_mean"] == pytest.approx(mean - 1)


def test_glance_beats_weak_counted_per_network_and_data_seed():
    cells = grid_cells("networks")
    per_data = [{"mil-weak": 80, "mil-glance": 85, "rtfm-weak": 80, "rtfm-glance": 79, "urdmu-weak": 70,
                 "urdmu-glance": 90},
                {"mil-weak": 80, "mil-glance": 75, "rtfm-weak": 80, "rtfm-glance": 81, "urdmu-weak": 70,
                 "urdmu-glance": 90},
                {"mil-weak": 80, "mil-glance": 81, "rtfm-weak": 80, "rtfm-glance": 70, "urdmu-weak": 70,
                 "urdmu-glance": 71}]
    assert seed_counts("networks", cells, per_data, {}) == [
        "glance > weak for MIL on 2 of 3 data seeds", "glance > weak for RTFM on 1 of 3 data seeds",
        "glance > weak for UR-DMU on 3 of 3 data seeds"]


def test_optimum_and_fixed_threshold_per_data_seed():
    sens = grid_cells("sensitivity")
    flat = {c.key: 50.0 for c in sens}
    per_data = [{**flat, "rg-0.1": 60, "alpha-0.7": 70}, {**flat, "rg-0.2": 60}, {**flat, "rg-0.1": 61}]
    lines = seed_counts("sensitivity", sens, per_data, {})
    # seed 1: r_g 0.1 best, alpha 0.7; seed 2: r_g 0.2, every alpha at 50 (a tie of all five, the
    # paper's 0.9 among them: not a win); seed 3: r_g 0.1 = alpha 0.9's cell (rg-0.1) alone best
    assert lines == [
        "the best r_g is the paper's 0.1 on 2 of 3 data seeds (per data seed: 0.1; 0.2; 0.1)",
        "the best alpha is the paper's 0.9 on 1 of 3 data seeds, tied with another value on 1 "
        "(per data seed: 0.7; tied: 0.9, 0.5, 0.7, 0.8, 0.95; 0.9)"]
    abl = grid_cells("ablation")
    base = {c.key: 50.0 for c in abl}
    per_data = [{**base, "mining-gaussian-t0.9": 80}, {**base, "mining-gaussian-t0.7": 80}, {**base, "mining": 60}]
    lines = seed_counts("ablation", abl, per_data, {})
    # where a row's three thresholds all score 50 they tie: the assumed 0.5, listed first, does not win
    assert lines == ["+mining: the best fixed threshold per data seed is tied: 0.5, 0.7, 0.9; tied: 0.5, 0.7, 0.9; "
                     "0.5 (0.5 is the assumed value)",
                     "+mining +Gaussian: the best fixed threshold per data seed is 0.9; 0.7; tied: 0.5, 0.7, 0.9 "
                     "(0.5 is the assumed value)"]


def test_a_tie_is_named_and_never_counted_as_the_papers_point_alone():
    sens = grid_cells("sensitivity")
    flat = {c.key: 50.0 for c in sens}
    per_data = [{**flat, "rg-0.1": 60, "rg-0.2": 60}, {**flat, "rg-0.1": 60}]
    assert seed_counts("sensitivity", sens, per_data, {})[0] == (
        "the best r_g is the paper's 0.1 on 1 of 2 data seeds, tied with another value on 1 "
        "(per data seed: tied: 0.1, 0.2; 0.1)")
    abl = grid_cells("ablation")
    base = {c.key: 50.0 for c in abl}
    per_data = [{**base, "mining": 70, "mining-t0.7": 70}]
    assert seed_counts("ablation", abl, per_data, {})[0] == (
        "+mining: the best fixed threshold per data seed is tied: 0.5, 0.7 (0.5 is the assumed value)")
    paper = {"a": 3.0, "b": 2.0, "c": 1.0}
    labels = {"a": "A", "b": "B", "c": "C"}
    assert ordering_counts([{"a": 9, "b": 9, "c": 7}, {"a": 9, "b": 8, "c": 7}], paper, labels, what="AUC") == (
        "AUC: the paper's best row (A) is best here on 1 of 2 data seeds, tied for best on 1; "
        "row pairs ordered as in the paper, per data seed: 2/3, 3/3")


def test_ordering_counts_hand_computed():
    paper = {"a": 3.0, "b": 2.0, "c": 1.0}
    labels = {"a": "A", "b": "B", "c": "C"}
    per_data = [{"a": 9, "b": 8, "c": 7}, {"a": 7, "b": 8, "c": 9}, {"a": 9, "b": 7, "c": 8}]
    assert ordering_counts(per_data, paper, labels, what="AUC") == (
        "AUC: the paper's best row (A) is best here on 2 of 3 data seeds; "
        "row pairs ordered as in the paper, per data seed: 3/3, 0/3, 2/3")


def test_grid_findings_cover_both_checkpoints_and_skip_counts_for_one_data_seed():
    cells = grid_cells("networks")
    rows = [{"key": c.key, "label": c.label, "n": 1, **{f"{m}_mean": 80.0 + i for m in METRICS},
             **{f"{m}_std": 0.0 for m in METRICS}} for i, c in enumerate(cells)]
    pooled = {"best": rows, "last": rows}
    one = grid_findings("networks", cells, pooled, {"best": [rows], "last": [rows]}, {})
    assert set(one) == {"best", "last"} and not any("data seed" in line for line in one["best"])
    three = grid_findings("networks", cells, pooled, {"best": [rows] * 3, "last": [rows] * 3}, {})
    assert "AUC: glance > weak for UR-DMU on 3 of 3 data seeds" in three["last"]
