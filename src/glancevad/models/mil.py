"""The MIL baseline of the paper (appendix B.1): a 1-D convolutional encoder and score head.

Base loss: video-level BCE on the top-k mean of the snippet scores (k = T // 16 + 1), normal
videos against 0 and abnormal videos against 1 (paper Eq. 1-2, 9).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from glancevad.layers import Dropout
from glancevad.models.batch import check_pairs, crop_mean, flatten_crops
from glancevad.models.losses import topk_mean, video_bce
from glancevad.models.registry import register_model


class MIL(nn.Module):
    """Conv1d encoder (k=3) and Conv1d score head (k=3, then k=1) with a sigmoid."""

    def __init__(self, in_dim: int = 1024, hidden: int = 512, head_hidden: int = 128, dropout: float = 0.6):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv1d(in_dim, hidden, kernel_size=3, padding=1), nn.ReLU(), Dropout(dropout)
        )
        self.head = nn.Sequential(
            nn.Conv1d(hidden, head_hidden, kernel_size=3, padding=1), nn.ReLU(), Dropout(dropout),
            nn.Conv1d(head_hidden, 1, kernel_size=1), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        flat, batch, crops = flatten_crops(x)
        scores = crop_mean(self.head(self.encoder(flat.transpose(1, 2))).squeeze(1), batch, crops)
        if not self.training:
            return scores
        check_pairs(batch)
        return {"scores": scores}


def mil_loss(outputs: Mapping[str, torch.Tensor], abnormal_mil_weight: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Top-k mean BCE on both halves of the batch; the abnormal half weighted per video."""
    scores = outputs["scores"]
    half = scores.shape[0] // 2
    terms = {
        "mil_abnormal": video_bce(topk_mean(scores[half:]), 1.0, abnormal_mil_weight),
        "mil_normal": video_bce(topk_mean(scores[:half]), 0.0),
    }
    return terms["mil_abnormal"] + terms["mil_normal"], {k: float(v.detach()) for k, v in terms.items()}


def _infer_mil(state_dict: Mapping[str, torch.Tensor]) -> dict[str, Any] | None:
    weight = state_dict.get("encoder.0.weight")
    if weight is None or "head.0.weight" not in state_dict:
        return None
    return {"in_dim": int(weight.shape[1]), "hidden": int(weight.shape[0]),
            "head_hidden": int(state_dict["head.0.weight"].shape[0])}


@register_model("mil", base_loss=mil_loss, infer_kwargs=_infer_mil, label="MIL", paper_steps=650,
                description="MIL: 1-D convolutional encoder and score head, top-k BCE (paper B.1)")
def build_mil(in_dim: int = 1024, **kwargs: Any) -> MIL:
    return MIL(in_dim=in_dim, **kwargs)
