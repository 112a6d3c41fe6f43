"""Loss pieces shared by the networks' base losses: top-k pooling and video-level BCE."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from glancevad.constants import topk_count


def topk_mean(scores: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """Mean of the ``k`` highest values along the last axis: ``(..., T) -> (...)`` (paper Eq. 1)."""
    k = topk_count(scores.shape[-1]) if k is None else min(k, scores.shape[-1])
    return scores.topk(k, dim=-1).values.mean(-1)


def video_bce(pooled: torch.Tensor, target: float, weight: torch.Tensor | None = None) -> torch.Tensor:
    """BCE of pooled video scores ``(B,)`` against a constant label; per-video ``weight`` scales terms.

    The mean is over all ``B`` videos, so a weight of 1 everywhere gives the plain mean (paper Eq. 2).
    """
    losses = F.binary_cross_entropy(pooled, torch.full_like(pooled, target), reduction="none")
    if weight is not None:
        losses = losses * weight
    return losses.mean()
