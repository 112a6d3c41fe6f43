"""The MIL baseline of the paper (appendix B.1): a 1-D convolutional encoder and score head.

Base loss: video-level BCE on the top-k mean of the snippet scores, normal videos against 0 and
abnormal videos against 1 (paper Eq. 1-2, 9), and nothing else. The paper's MIL baseline has no
released code (Sultani et al.'s original is an MLP with a ranking loss, sparsity and smoothness),
so the choices the paper leaves open are :class:`MILLossSettings`, with UR-DMU's release as default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from glancevad.constants import TOPK_RULES
from glancevad.constraints import OneOf
from glancevad.layers import Dropout
from glancevad.models.batch import check_pairs, crop_mean, flatten_crops
from glancevad.models.losses import BCE_FORMS, topk_mean, video_bce_terms
from glancevad.models.registry import loss_setting, register_model

NO_RELEASE = "no release of the paper's MIL baseline"


@dataclass(frozen=True)
class MILLossSettings:
    """The choices of the MIL baseline's loss (``--set loss.mil.<name>=<value>``)."""

    topk: str = loss_setting("urdmu", OneOf(TOPK_RULES), meaning="snippets pooled into the video score",
                             paper="top-k (Eq. 1), k not stated", release=NO_RELEASE)
    bce: str = loss_setting("halves", OneOf(BCE_FORMS), meaning="how the video-level BCE is averaged",
                            paper="Eq. 2, per video (form of the mean not stated)", release=NO_RELEASE)


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


def mil_loss(outputs: Mapping[str, torch.Tensor], abnormal_mil_weight: torch.Tensor,
             settings: MILLossSettings | None = None) -> tuple[torch.Tensor, dict]:
    """Top-k mean BCE on both halves of the batch; the abnormal half weighted per video."""
    settings = settings or MILLossSettings()
    scores = outputs["scores"]
    pooled = topk_mean(scores, TOPK_RULES[settings.topk][0](scores.shape[-1]))
    terms = video_bce_terms(pooled, abnormal_mil_weight, settings.bce)
    return terms["mil_abnormal"] + terms["mil_normal"], {k: float(v.detach()) for k, v in terms.items()}


def _infer_mil(state_dict: Mapping[str, torch.Tensor]) -> dict[str, Any] | None:
    weight = state_dict.get("encoder.0.weight")
    if weight is None or "head.0.weight" not in state_dict:
        return None
    return {"in_dim": int(weight.shape[1]), "hidden": int(weight.shape[0]),
            "head_hidden": int(state_dict["head.0.weight"].shape[0])}


STRUCTURE = ("Conv1d(D-512, k 3), ReLU, dropout 0.6; Conv1d(512-128, k 3), ReLU, dropout; Conv1d(128-1, k 1), "
             "sigmoid (`model_kwargs.hidden`, `head_hidden`, `dropout`)",
             "a visual encoder and a score head, both 1-D convolutions; loss: the video-level BCE only (B.1, Eq. 9)",
             NO_RELEASE)


@register_model("mil", base_loss=mil_loss, infer_kwargs=_infer_mil, label="MIL", paper_steps=625,
                loss_settings=MILLossSettings, structure=STRUCTURE,
                description="MIL: 1-D convolutional encoder and score head, top-k BCE (paper B.1)")
def build_mil(in_dim: int = 1024, **kwargs: Any) -> MIL:
    return MIL(in_dim=in_dim, **kwargs)
