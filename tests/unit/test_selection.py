"""Checkpoint selection's signals: the held-out loss and margin, ties at a ceiling, weight averages, plateaus."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from glancevad.checkpoint_selection import SELECTION_RULES, choose_step, selection_value
from glancevad.engine.callbacks import ModelSelection
from glancevad.engine.scoring import validation_scores
from glancevad.experiments.plateau import plateau_step, trace_noise


def _held_out(seed: int):
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0, 1, size=(6, 20))
    scores[0, 0], scores[4, 3] = 0.0, 1.0     # the extremes, where the log is clipped
    labels = np.array([1, 1, 1, 0, 0, 0])
    glances = np.zeros((6, 20))
    glances[0, :3] = glances[1, 5] = glances[2, 10:12] = 1
    return scores, labels, glances


@pytest.mark.parametrize("seed", range(5))
def test_heldout_bce_and_margin_against_torch_and_a_loop(seed):
    scores, labels, glances = _held_out(seed)
    val = validation_scores(scores.astype(np.float32), labels, glances)
    positives = torch.tensor([scores[v, t] for v in range(3) for t in range(20) if glances[v, t]])
    negatives = torch.tensor(scores[3:].reshape(-1))
    expected = 0.5 * (F.binary_cross_entropy(positives, torch.ones_like(positives))
                      + F.binary_cross_entropy(negatives, torch.zeros_like(negatives)))
    assert val["heldout_bce"] == pytest.approx(float(expected), rel=1e-5)
    assert val["glance_margin"] == pytest.approx(float(positives.mean() - negatives.mean()), abs=1e-6)


def test_the_continuous_signals_keep_ranking_where_the_auc_saturates():
    labels, glances = np.array([1, 0]), np.array([[1, 0, 0], [0, 0, 0]])
    early = validation_scores(np.array([[0.6, 0.1, 0.1], [0.4, 0.4, 0.4]]), labels, glances)
    later = validation_scores(np.array([[0.9, 0.1, 0.1], [0.1, 0.1, 0.1]]), labels, glances)
    for rule in ("glance_auc", "glance_auc-alarm"):     # both at the ceiling: a tie
        assert selection_value(early, rule) == selection_value(later, rule) == SELECTION_RULES[rule].ceiling == 1
    for rule in ("heldout_bce", "glance_margin"):
        assert SELECTION_RULES[rule].ceiling is None
        assert selection_value(later, rule) > selection_value(early, rule)


def test_without_glances_or_normals_the_continuous_signals_are_undefined_and_fall_back_to_the_video_auc():
    val = validation_scores(np.array([[0.9, 0.2], [0.1, 0.3]]), np.array([1, 0]), np.zeros((2, 2)))
    assert math.isnan(val["heldout_bce"]) and math.isnan(val["glance_margin"])
    assert selection_value(val, "heldout_bce") == selection_value(val, "glance_margin") == val["video_auc"] == 1.0
    old_log = {"glance_auc": 0.8, "video_auc": 0.7}        # a metrics.jsonl written before these signals
    assert selection_value(old_log, "heldout_bce") == 0.7


def _selecting(rule: str, steps: int, first_eligible: int = 1, tiebreak: str = "earlier"):
    cfg = SimpleNamespace(selection_rule=rule, steps=steps, selection_tiebreak=tiebreak)
    return SimpleNamespace(cfg=cfg, val_idx=[0, 1], first_eligible=first_eligible,
                           best={"score": -math.inf, "step": None})


@pytest.mark.parametrize("seed", range(10))
def test_ties_are_counted_among_eligible_evaluations_as_a_loop_counts_them(seed):
    rng = np.random.default_rng(seed)
    values = rng.choice([0.5, 0.9, 1.0], size=10)
    trainer = _selecting("video_auc", steps=100, first_eligible=int(rng.choice([10, 30, 50])))
    for step, value in zip(range(10, 101, 10), values, strict=True):
        ModelSelection().on_validation_end(trainer, step, {"glance_auc": math.nan, "video_auc": float(value)})
    eligible = [(v, s) for s, v in zip(range(10, 101, 10), values, strict=True) if s >= trainer.first_eligible]
    top = max(v for v, _ in eligible)
    assert trainer.best["step"] == min(s for v, s in eligible if v == top)
    assert trainer.best["ties"] == sum(v == top for v, _ in eligible)
    assert trainer.best["at_ceiling"] == (top == 1.0)
    note = ModelSelection.ties_note(trainer.best)
    if trainer.best["ties"] == 1:
        assert note is None
    else:
        assert note.startswith(f"{trainer.best['ties']} evaluations tied at the chosen value {top:.4f}")
        assert ("the rule's ceiling: validation saturated" in note) == (top == 1.0)
        assert f"best.pt is the earliest of them, step {trainer.best['step']}" in note


@pytest.mark.parametrize("seed", range(10))
def test_the_heldout_loss_breaks_ties_as_choose_step_and_a_loop_do(seed):
    rng = np.random.default_rng(seed)
    steps = list(range(10, 101, 10))
    values = rng.choice([0.9, 1.0], size=10)
    losses = rng.choice([0.1, 0.2, 0.3], size=10)      # equal losses too: then the earlier step
    first_eligible = int(rng.choice([10, 40]))
    trainer = _selecting("glance_auc", steps=100, first_eligible=first_eligible, tiebreak="heldout_bce")
    evaluations = []
    for step, value, loss in zip(steps, values, losses, strict=True):
        scores = {"glance_auc": float(value), "video_auc": 0.5, "heldout_bce": float(loss)}
        evaluations.append((step, scores))
        ModelSelection().on_validation_end(trainer, step, scores)
    eligible = [(v, -loss, -s) for s, v, loss in zip(steps, values, losses, strict=True) if s >= first_eligible]
    expected = -max(eligible)[2]
    assert trainer.best["step"] == expected
    assert choose_step(evaluations, "glance_auc", first_eligible=first_eligible, tiebreak="heldout_bce") == expected
    assert trainer.best["ties"] == sum(v == max(eligible)[0] for v, _, _ in eligible)
    if trainer.best["ties"] > 1:
        assert "best.pt is the lowest held-out BCE among them" in ModelSelection.ties_note(trainer.best)


def test_a_rule_without_a_ceiling_never_reports_saturation():
    trainer = _selecting("heldout_bce", steps=20)
    for step in (10, 20):
        ModelSelection().on_validation_end(trainer, step, {"glance_auc": 1.0, "video_auc": 1.0, "heldout_bce": 0.25})
    assert trainer.best["ties"] == 2 and trainer.best["at_ceiling"] is False and trainer.best["score"] == -0.25
    assert "saturated" not in ModelSelection.ties_note(trainer.best)


def test_weight_averages_are_an_ema_of_every_step_and_the_mean_of_the_second_half(monkeypatch, tmp_path):
    import json

    from glancevad.experiments import selection_study

    model = torch.nn.Linear(2, 1)
    trainer = SimpleNamespace(model=model, cfg=SimpleNamespace(steps=8))
    # the "test metric" of a model: its weights, so that the averages can be read back from averages.json
    monkeypatch.setattr(selection_study, "_test_metrics",
                        lambda m, dataset, precision: {"w": m.weight.detach().flatten().tolist(),
                                                       "b": float(m.bias.detach())})
    averages = selection_study.WeightAverages(None, tmp_path / "averages.json", "fp32", decay=0.9)
    history = [torch.cat([model.weight.detach().flatten(), model.bias.detach()]).clone()]
    averages.on_fit_start(trainer)
    rng = torch.Generator().manual_seed(0)
    for step in range(1, 9):
        with torch.no_grad():
            model.weight.copy_(torch.randn(1, 2, generator=rng))
            model.bias.copy_(torch.randn(1, generator=rng))
        history.append(torch.cat([model.weight.detach().flatten(), model.bias.detach()]).clone())
        if step % 2 == 0:
            averages.on_validation_end(trainer, step, {})
        averages.on_step_end(trainer, step, {})
    ema = history[0]
    for weights in history[1:]:
        ema = 0.9 * ema + 0.1 * weights
    swa = torch.stack([history[s] for s in (6, 8)]).mean(0)   # the evaluations past half of the 8 steps
    written = json.loads((tmp_path / "averages.json").read_text())
    for name, expected in zip(selection_study.AVERAGES, (ema, swa), strict=True):
        got = torch.tensor([*written[name]["w"], written[name]["b"]])
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
        assert written[name]["step"] == 8


def test_trace_noise_by_hand_and_the_plateau_tolerates_it():
    values = [0.1, 0.5, 0.8, 0.85, 0.8, 0.9, 0.85, 0.9, 0.6]
    tail_diffs = np.diff([0.8, 0.9, 0.85, 0.9, 0.6])    # the second half: +0.1, -0.05, +0.05, -0.3
    deviations = np.abs(tail_diffs - np.median(tail_diffs))      # median 0: 0.1, 0.05, 0.05, 0.3
    assert trace_noise(values) == pytest.approx(1.4826 * np.median(deviations) / math.sqrt(2))   # 0.0786
    assert trace_noise(values) < np.std(tail_diffs) / math.sqrt(2)     # the one jump of 0.3 barely counts
    steps = [25 * (i + 1) for i in range(len(values))]
    assert plateau_step(steps, values) == plateau_step(steps, values, tolerance=trace_noise(values))
    assert plateau_step(steps, values, window=1) == 100   # 0.05 gained after step 100 is noise, 0.1 after 75 is not
    assert plateau_step(steps, values, window=1, tolerance=0.0) == 150
    assert trace_noise([0.3] * 10) == 0.0
