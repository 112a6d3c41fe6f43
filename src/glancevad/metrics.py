"""Frame-level metrics of video anomaly detection, computed on snippet scores.

A snippet score covers ``frames_per_snippet`` frames. Instead of repeating each score 16 times
(what the released code does) every snippet becomes one weighted point: its count of anomalous
frames is a positive weight and its count of normal frames a negative weight. The curves are then
exactly those of scikit-learn on the materialised frames, at a fraction of the cost.

Conventions (section 6 of the reference notes):

* ``auc``: ROC AUC over all frames of all test videos.
* ``ap``: area under the precision-recall curve by the trapezoid rule over scikit-learn's
  ``precision_recall_curve`` points (what the released code reports for XD-Violence).
* ``ap_step``: average precision as the step sum ``sum (R_n - R_{n-1}) P_n``
  (``sklearn.metrics.average_precision_score``); the trapezoid rule can be optimistic.
* ``auc_a`` / ``ap_a``: the same on abnormal test videos only.
* ``far``: the fraction of frames of normal test videos whose score is ``>= threshold``.

Undefined values (one class only, no normal video) warn and give ``nan``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from glancevad.constants import FRAMES_PER_SNIPPET
from glancevad.errors import GlanceVADError, GlanceVADWarning


class UndefinedMetricWarning(GlanceVADWarning):
    """A metric is undefined on this data (one class only, no normal video) and comes out ``nan``.

    Callers that expect it (validation on a few held-out videos) filter this class, never all warnings.
    """


METRIC_NAMES = ("auc", "ap", "ap_step", "auc_a", "ap_a", "far")


def snippet_weights(
    scores: Sequence[np.ndarray],
    frame_labels: Sequence[np.ndarray],
    *,
    frames_per_snippet: int = FRAMES_PER_SNIPPET,
    video_ids: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate videos into ``(scores, positive_frames, negative_frames)``, each ``(S,)``.

    ``scores[v]`` has shape ``(T_v,)`` and ``frame_labels[v]`` shape ``(frames_per_snippet * T_v,)``.
    """
    if len(scores) != len(frame_labels):
        raise GlanceVADError(f"{len(scores)} score arrays but {len(frame_labels)} label arrays")
    out_scores, out_pos = [], []
    for i, (video_scores, labels) in enumerate(zip(scores, frame_labels, strict=True)):
        name = video_ids[i] if video_ids is not None else f"#{i}"
        video_scores = np.asarray(video_scores, dtype=np.float64).reshape(-1)
        labels = np.asarray(labels).reshape(-1)
        if labels.size != frames_per_snippet * video_scores.size:
            raise GlanceVADError(
                f"video {name}: {labels.size} frame labels but {video_scores.size} snippet scores "
                f"x {frames_per_snippet} = {frames_per_snippet * video_scores.size} frames"
            )
        if not np.isfinite(video_scores).all():
            raise GlanceVADError(f"video {name}: scores contain NaN or infinity")
        out_scores.append(video_scores)
        out_pos.append((labels.reshape(-1, frames_per_snippet) != 0).sum(axis=1))
    all_scores = np.concatenate(out_scores) if out_scores else np.zeros(0)
    pos = np.concatenate(out_pos).astype(np.float64) if out_pos else np.zeros(0)
    return all_scores, pos, frames_per_snippet - pos


def _cumulative_counts(
    scores: np.ndarray, pos: np.ndarray, neg: np.ndarray, order: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """True/false-positive weights at each distinct threshold, thresholds decreasing.

    ``order`` (indices sorting ``scores`` in decreasing order) may be passed to share one sort.
    """
    if order is None:
        order = np.argsort(-scores)
    sorted_scores = scores[order]
    if sorted_scores.size == 0:
        return np.zeros(0), np.zeros(0)
    last_of_each = np.r_[np.flatnonzero(np.diff(sorted_scores)), sorted_scores.size - 1]
    return np.cumsum(pos[order])[last_of_each], np.cumsum(neg[order])[last_of_each]


def _roc_auc_from_counts(tps: np.ndarray, fps: np.ndarray) -> float:
    if tps.size == 0 or tps[-1] == 0 or fps[-1] == 0:
        warnings.warn("ROC AUC is undefined with only one class present", UndefinedMetricWarning, stacklevel=3)
        return float("nan")
    return float(np.trapezoid(np.r_[0.0, tps / tps[-1]], np.r_[0.0, fps / fps[-1]]))


def _precision_recall_from_counts(tps: np.ndarray, fps: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    if tps.size == 0 or tps[-1] == 0:
        warnings.warn("precision-recall metrics are undefined with no positive frame", UndefinedMetricWarning,
                      stacklevel=3)
        return None
    return tps / (tps + fps), tps / tps[-1]


def _pr_auc_from_counts(tps: np.ndarray, fps: np.ndarray) -> float:
    curve = _precision_recall_from_counts(tps, fps)
    if curve is None:
        return float("nan")
    precision, recall = curve
    return float(np.trapezoid(np.r_[1.0, precision], np.r_[0.0, recall]))


def _average_precision_from_counts(tps: np.ndarray, fps: np.ndarray) -> float:
    curve = _precision_recall_from_counts(tps, fps)
    if curve is None:
        return float("nan")
    precision, recall = curve
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_auc(scores: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> float:
    """Area under the ROC curve of weighted points ``(S,)``; nan (with a warning) if one class."""
    return _roc_auc_from_counts(*_cumulative_counts(scores, pos, neg))


def false_alarm_rate(
    scores: np.ndarray, neg: np.ndarray, *, threshold: float = 0.5
) -> float:
    """Weighted fraction of normal frames scored ``>= threshold``; nan if there are none."""
    total = neg.sum()
    if total == 0:
        warnings.warn("false-alarm rate is undefined with no normal video", UndefinedMetricWarning, stacklevel=2)
        return float("nan")
    return float(neg[scores >= threshold].sum() / total)


def evaluate_scores(
    scores: Mapping[str, Sequence[float] | np.ndarray],
    ground_truth: Mapping[str, np.ndarray],
    *,
    frames_per_snippet: int = FRAMES_PER_SNIPPET,
    far_threshold: float = 0.5,
) -> dict[str, float]:
    """All metrics for every video of ``ground_truth``; a video without scores is an error.

    Returns ``{"auc", "ap", "ap_step", "auc_a", "ap_a", "far"}`` as plain floats in [0, 1].
    """
    missing = [vid for vid in ground_truth if vid not in scores]
    if missing:
        raise GlanceVADError(
            f"video {missing[0]} has ground truth but no scores"
            + (f" ({len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    ids = list(ground_truth)
    abnormal = np.array([bool(np.any(ground_truth[vid])) for vid in ids])
    all_scores, pos, neg = snippet_weights(
        [np.asarray(scores[vid]) for vid in ids],
        [ground_truth[vid] for vid in ids],
        frames_per_snippet=frames_per_snippet,
        video_ids=ids,
    )
    lengths = np.array([np.asarray(scores[vid]).size for vid in ids])
    in_abnormal = np.repeat(abnormal, lengths)
    normal_neg = np.where(in_abnormal, 0.0, neg)
    # One sort serves both curves: the abnormal subset keeps the global order.
    order = np.argsort(-all_scores)
    counts = _cumulative_counts(all_scores, pos, neg, order)
    counts_a = _cumulative_counts(all_scores, pos, neg, order[in_abnormal[order]])
    return {
        "auc": _roc_auc_from_counts(*counts),
        "ap": _pr_auc_from_counts(*counts),
        "ap_step": _average_precision_from_counts(*counts),
        "auc_a": _roc_auc_from_counts(*counts_a),
        "ap_a": _pr_auc_from_counts(*counts_a),
        "far": false_alarm_rate(all_scores, normal_neg, threshold=far_threshold),
    }
