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


#: How the video-level BCE of a batch (B normal then B abnormal video scores) is averaged:
#: ``halves`` sums the mean over each half (UR-DMU's release), ``joint`` takes one mean over all 2B
#: (RTFM's release, ``BCELoss`` of the concatenated scores; the paper's Eq. 2 averaged over a batch),
#: which weighs the video-level term half as much against the other terms.
BCE_FORMS = {"halves": "mean over the normal half + mean over the abnormal half (UR-DMU's release)",
             "joint": "one mean over all 2B video scores (RTFM's release)"}


def video_bce_terms(pooled: torch.Tensor, abnormal_mil_weight: torch.Tensor, form: str = "halves"
                    ) -> dict[str, torch.Tensor]:
    """``{"mil_abnormal", "mil_normal"}`` of pooled video scores ``(2B,)`` (normal half first) in a
    :data:`BCE_FORMS` form; the abnormal half's terms weighted per video. The two add up to the loss."""
    half = pooled.shape[0] // 2
    scale = 0.5 if form == "joint" else 1.0   # the joint mean divides each half's sum by 2B, not B
    return {"mil_abnormal": scale * video_bce(pooled[half:], 1.0, abnormal_mil_weight),
            "mil_normal": scale * video_bce(pooled[:half], 0.0)}
