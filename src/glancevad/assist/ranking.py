"""Active selection: which unglanced abnormal videos should be glanced next (pure functions).

Each criterion maps a video's snippet scores ``(T,)`` from the current model to how much a glance
should help; higher is annotated first, ties keep the id order.

* ``uncertainty``: the mean binary entropy of the snippet scores (bits): the model cannot tell
  the video's normal and abnormal snippets apart.
* ``disagreement``: the video is known to be abnormal (label 1), but its video-level score, the
  mean of its top-k snippet scores (``k = T // 16 + 1``, the MIL/UR-DMU top-k), is low:
  ``1 - top-k mean``. The snippets do not support the video label: the model misses the event.
* ``coverage``: the mean snippet score, the share of the video the model calls anomalous. Events
  are a small part of most abnormal videos, so a model that scores much of one high is likely
  taking co-occurring context for the anomaly: a glance (its targets say the parts away from the
  event are normal) should correct it most.

``glancevad experiment assisted`` measures which criterion picks the videos the video-label model
localises worst (``criterion_agreement``) and the label efficiency of selection vs random choice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from glancevad.constants import topk_count
from glancevad.errors import GlanceVADError

Criterion = Callable[[np.ndarray], float]


def uncertainty(scores: np.ndarray) -> float:
    """Mean binary entropy (bits) of snippet scores ``(T,)``.

    >>> uncertainty(np.array([0.5, 0.5])), round(uncertainty(np.array([0.0, 1.0])), 6)
    (1.0, 0.0)
    """
    p = np.clip(np.asarray(scores, dtype=np.float64), 1e-12, 1 - 1e-12)
    return float(np.mean(-(p * np.log2(p) + (1 - p) * np.log2(1 - p))))


def topk_mean(scores: np.ndarray) -> float:
    """The video-level score: the mean of the ``topk_count(T)`` highest snippet scores (as the networks pool)."""
    s = np.sort(np.asarray(scores, dtype=np.float64).reshape(-1))[::-1]
    return float(s[: topk_count(s.size)].mean())


def disagreement(scores: np.ndarray) -> float:
    """``1 - top-k mean`` of an abnormal video's snippet scores.

    >>> round(disagreement(np.array([0.1, 0.3, 0.2])), 6)
    0.7
    """
    return 1.0 - topk_mean(scores)


def coverage(scores: np.ndarray) -> float:
    """The mean snippet score.

    >>> round(coverage(np.array([0.2, 0.9, 0.7])), 6)
    0.6
    """
    return float(np.mean(np.asarray(scores, dtype=np.float64)))


CRITERIA: dict[str, Criterion] = {"uncertainty": uncertainty, "disagreement": disagreement, "coverage": coverage}
#: The criterion ``glancevad select`` uses unless told otherwise: of the three, the one whose ranking
#: agreed best with the video-label model's per-video localisation error on the demo data's
#: training videos (Spearman 0.73 vs 0.13 for uncertainty and -0.47 for disagreement; docs/annotating.md).
DEFAULT_CRITERION = "coverage"


def rank_videos(scores: Mapping[str, np.ndarray], *, criterion: str = DEFAULT_CRITERION,
                exclude: set[str] | frozenset[str] = frozenset()) -> list[tuple[str, float]]:
    """``[(video id, value)]`` of the videos not in ``exclude``, the most helpful first (ties: id order).

    >>> rank_videos({"a": np.array([.9]), "b": np.array([.2]), "c": np.array([.5])}, criterion="disagreement",
    ...             exclude={"c"})
    [('b', 0.8), ('a', 0.09999999999999998)]
    """
    if criterion not in CRITERIA:
        raise GlanceVADError(f"unknown criterion {criterion!r}; criteria: {', '.join(CRITERIA)}")
    values = [(vid, CRITERIA[criterion](s)) for vid, s in scores.items() if vid not in exclude]
    return sorted(values, key=lambda item: (-item[1], item[0]))


def localisation_error(frame_scores: np.ndarray, labels: np.ndarray) -> float:
    """Mean absolute difference between per-frame scores and 0/1 frame labels of one video."""
    n = min(len(frame_scores), len(labels))
    return float(np.mean(np.abs(np.asarray(frame_scores[:n], dtype=np.float64) - np.asarray(labels[:n]))))


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 with ties given their average rank."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    for value in np.unique(x):
        tied = x == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties); nan when either side is constant.

    >>> spearman(np.array([1, 2, 3]), np.array([10, 30, 20]))
    0.5
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(_ranks(x), _ranks(y))[0, 1])
