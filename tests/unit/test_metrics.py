"""Metrics on snippet weights must equal scikit-learn on materialised frames."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score

from glancevad.errors import GlanceVADError
from glancevad.metrics import UndefinedMetricWarning, evaluate_scores, roc_auc, snippet_weights

FPS = 16


def _random_set(rng, n_videos, *, ties=False):
    scores, labels = {}, {}
    for v in range(n_videos):
        t = int(rng.integers(1, 40))
        s = rng.random(t)
        if ties:
            s = np.round(s, 1)
        lab = np.zeros(FPS * t, dtype=np.uint8)
        if rng.random() < 0.5:
            a, b = sorted(rng.integers(0, FPS * t + 1, size=2))
            lab[a:b] = 1  # intervals need not align with snippets
        scores[f"v{v}"] = s
        labels[f"v{v}"] = lab
    return scores, labels


def _frames(scores, labels, ids):
    y = np.concatenate([labels[v] for v in ids])
    s = np.concatenate([np.repeat(scores[v], FPS) for v in ids])
    return y, s


def _reference(scores, labels, threshold=0.5):
    ids = list(labels)
    y, s = _frames(scores, labels, ids)
    abn = [v for v in ids if labels[v].any()]
    nor = [v for v in ids if not labels[v].any()]
    ya, sa = _frames(scores, labels, abn)
    _, sn = _frames(scores, labels, nor)

    def trapezoid_ap(y_true, y_score):
        precision, recall, _ = precision_recall_curve(y_true, y_score)
        return auc(recall, precision)

    return {
        "auc": roc_auc_score(y, s),
        "ap": trapezoid_ap(y, s),
        "ap_step": average_precision_score(y, s),
        "auc_a": roc_auc_score(ya, sa),
        "ap_a": trapezoid_ap(ya, sa),
        "far": float(np.mean(sn >= threshold)),
    }


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("ties", [False, True])
def test_all_metrics_match_sklearn_on_materialised_frames(seed, ties):
    rng = np.random.default_rng(seed)
    scores, labels = _random_set(rng, 30, ties=ties)
    labels["forced_abnormal"] = np.ones(FPS * 3, dtype=np.uint8)
    scores["forced_abnormal"] = rng.random(3)
    labels["forced_normal"] = np.zeros(FPS * 4, dtype=np.uint8)
    scores["forced_normal"] = rng.random(4)
    ours = evaluate_scores(scores, labels)
    ref = _reference(scores, labels)
    assert set(ours) == {"auc", "ap", "ap_step", "auc_a", "ap_a", "far"}
    for key, value in ref.items():
        assert ours[key] == pytest.approx(value, abs=1e-9), key


def test_metrics_are_invariant_to_video_order_and_monotone_rescaling():
    rng = np.random.default_rng(0)
    scores, labels = _random_set(rng, 20)
    labels["a"] = np.ones(FPS * 2, dtype=np.uint8)
    scores["a"] = rng.random(2)
    base = evaluate_scores(scores, labels)
    shuffled = dict(reversed(list(labels.items())))
    squashed = {v: s**3 for v, s in scores.items()}  # monotone: ranking metrics unchanged
    assert evaluate_scores(scores, shuffled) == pytest.approx(base, abs=1e-12)
    again = evaluate_scores(squashed, labels)
    for key in ("auc", "ap", "ap_step", "auc_a", "ap_a"):
        assert again[key] == pytest.approx(base[key], abs=1e-12)


def test_perfect_and_inverted_scores():
    labels = {"a": np.r_[np.zeros(32), np.ones(32)].astype(np.uint8), "n": np.zeros(32, np.uint8)}
    perfect = {"a": np.array([0.1, 0.2, 0.9, 0.8]), "n": np.array([0.0, 0.3])}
    metrics = evaluate_scores(perfect, labels)
    assert metrics["auc"] == 1.0 and metrics["ap_step"] == 1.0 and metrics["far"] == 0.0
    inverted = {v: 1 - s for v, s in perfect.items()}
    assert evaluate_scores(inverted, labels)["auc"] == 0.0


def test_undefined_metrics_warn_and_give_nan():
    labels = {"n": np.zeros(32, np.uint8)}
    with pytest.warns(UndefinedMetricWarning, match="undefined"):
        metrics = evaluate_scores({"n": np.array([0.2, 0.7])}, labels)
    assert np.isnan(metrics["auc"]) and np.isnan(metrics["auc_a"])
    assert metrics["far"] == 0.5
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(roc_auc(np.array([0.5]), np.array([16.0]), np.array([0.0])))


def test_validation_filters_undefined_metrics_only():
    import warnings

    from glancevad.engine.scoring import validation_scores

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        val = validation_scores(np.array([[0.2, 0.6]]), np.array([0]), np.zeros((1, 2)))   # one class only
        warnings.warn("something else", RuntimeWarning, stacklevel=1)
    assert np.isnan(val["glance_auc"]) and val["normal_alarm"] == 0.5
    assert [w.category for w in caught] == [RuntimeWarning]


def test_label_length_must_match_sixteen_per_snippet():
    with pytest.raises(GlanceVADError, match=r"video v: 40 frame labels but 3 snippet scores x 16 = 48"):
        evaluate_scores({"v": np.ones(3)}, {"v": np.zeros(40, np.uint8)})


def test_missing_video_and_bad_scores_are_errors():
    labels = {"a": np.zeros(16, np.uint8), "b": np.zeros(16, np.uint8)}
    with pytest.raises(GlanceVADError, match="video b has ground truth but no scores"):
        evaluate_scores({"a": [0.1]}, labels)
    with pytest.raises(GlanceVADError, match="video a: scores contain NaN"):
        snippet_weights([np.array([np.nan])], [np.zeros(16)], video_ids=["a"])


def test_snippet_weights_count_frames_per_snippet():
    labels = np.zeros(48, np.uint8)
    labels[10:20] = 1
    _, pos, neg = snippet_weights([np.zeros(3)], [labels])
    np.testing.assert_array_equal(pos, [6, 4, 0])
    np.testing.assert_array_equal(neg, [10, 12, 16])
