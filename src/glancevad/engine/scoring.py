"""Scoring videos with a trained network, and the validation score used for model selection."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from glancevad.metrics import UndefinedMetricWarning, roc_auc
from glancevad.models.losses import topk_mean
from glancevad.runtime import resolve_precision


def autocast(device: torch.device, precision: str):
    """bf16 autocast on CPU or GPU when asked (``auto``: where the hardware has bf16 units), else a
    no-op context."""
    if resolve_precision(precision, device) == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


@torch.no_grad()
def score_batch(model: nn.Module, features: torch.Tensor, *, device: torch.device, precision: str) -> np.ndarray:
    """Snippet scores ``(B, T)`` of ``(B, crops, T, D)`` features, averaged over crops."""
    model.eval()
    with autocast(device, precision):
        scores = model(features.to(device))
    return scores.float().cpu().numpy()


def score_videos(
    model: nn.Module,
    videos: Iterable[tuple[str, np.ndarray]],
    *,
    device: torch.device,
    precision: str = "fp32",
    on_video: Callable[[str], None] | None = None,
) -> dict[str, np.ndarray]:
    """Score each ``(id, features [T, crops, D])`` at its own length: ``{id: scores (T,)}``."""
    out = {}
    for vid, features in videos:
        x = torch.from_numpy(np.ascontiguousarray(features.transpose(1, 0, 2)))[None]
        out[vid] = score_batch(model, x, device=device, precision=precision)[0]
        if on_video is not None:
            on_video(vid)
    return out


def validation_scores(
    scores: np.ndarray, labels: np.ndarray, glance_masks: np.ndarray
) -> dict[str, float]:
    """Selection scores on held-out training videos (never the test set).

    ``glance_auc``: ROC AUC of the scores at the validation abnormal videos' glances against every
    snippet of the validation normal videos — it needs only the glance annotations.
    ``video_auc``: ROC AUC of the videos' top-k mean scores against their video labels.
    ``normal_alarm``: the share of validation normal snippets scored >= 0.5 (a false-alarm rate on
    held-out training videos; it sees what mining does, which the glance AUC, a ranking, does not).
    The two below do not stop at a ceiling once every glance outranks every normal snippet, as the
    AUCs do: ``heldout_bce``, the binary cross-entropy of the glance snippets against 1 and of the
    normal snippets against 0, each side's mean weighted equally (``L_abn``'s form at the glances,
    the normal videos' own targets); ``glance_margin``, the mean glance score minus the mean normal
    snippet score. Each is ``nan`` when undefined.
    """
    abnormal, normal = labels == 1, labels == 0
    positives = scores[abnormal][glance_masks[abnormal] > 0]
    negatives = scores[normal].reshape(-1)
    values = np.concatenate([positives, negatives])
    weights_pos = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
    pooled = topk_mean(torch.from_numpy(scores)).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        glance_auc = roc_auc(values, weights_pos, 1 - weights_pos)
        video_auc = roc_auc(pooled, labels.astype(np.float64), 1 - labels.astype(np.float64))
    normal_alarm = float((negatives >= 0.5).mean()) if len(negatives) else float("nan")
    both = len(positives) > 0 and len(negatives) > 0
    heldout_bce = 0.5 * (_bce(positives, 1.0) + _bce(negatives, 0.0)) if both else float("nan")
    glance_margin = float(positives.mean() - negatives.mean()) if both else float("nan")
    return {"glance_auc": glance_auc, "video_auc": video_auc, "normal_alarm": normal_alarm,
            "heldout_bce": heldout_bce, "glance_margin": glance_margin}


def _bce(probabilities: np.ndarray, target: float) -> float:
    """Mean binary cross-entropy of probabilities against one target (torch's, as training computes it)."""
    p = torch.from_numpy(probabilities.astype(np.float64))
    return float(F.binary_cross_entropy(p, torch.full_like(p, target)))
