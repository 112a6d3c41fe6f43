"""RTFM (Tian et al., ICCV 2021): multi-scale temporal network and feature-magnitude learning.

Structure (appendix B.2, section 5 of the reference notes): three dilated Conv1d branches
(dilation 1, 2, 4) and a Conv1d + non-local branch, concatenated, fused by a Conv1d back to the
input width and added to the input (residual); then an MLP head ``D -> 512 -> 128 -> 1`` with
dropout 0.7. The video-level score is the mean score of the ``k`` snippets of largest feature
magnitude (k = T // 16 + 1, i.e. 3 at T = 32 as released).

Base loss: BCE of those video scores (abnormal half weighted per video) + 1e-4 x the feature
magnitude loss ``mean((|m - ||f_abn||| + ||f_nor||)^2)`` with margin ``m = 100`` + 8e-3 x
sparsity, the L1 norm of the abnormal scores (as the paper states; the release uses an L2 norm)
+ 8e-4 x smoothness, squared differences of consecutive scores *within* each abnormal video (the
release's version also differences across the boundary between two videos).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from glancevad.constants import topk_count
from glancevad.layers import Dropout, NonLocal1d
from glancevad.models.batch import check_pairs, crop_mean, flatten_crops
from glancevad.models.losses import video_bce
from glancevad.models.registry import register_model


def _branch(in_dim: int, out_dim: int, dilation: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(in_dim, out_dim, kernel_size=3, dilation=dilation, padding=dilation),
        nn.ReLU(), nn.BatchNorm1d(out_dim),
    )


class MultiScaleTemporalNetwork(nn.Module):
    """MTN: ``(B, T, D) -> (B, T, D)``, dilated pyramid + non-local, with a residual connection."""

    def __init__(self, in_dim: int, width: int = 512):
        super().__init__()
        self.conv_1 = _branch(in_dim, width, 1)
        self.conv_2 = _branch(in_dim, width, 2)
        self.conv_3 = _branch(in_dim, width, 4)
        self.conv_4 = nn.Sequential(nn.Conv1d(in_dim, width, kernel_size=1, bias=False), nn.ReLU())
        self.non_local = NonLocal1d(width)
        self.conv_5 = nn.Sequential(
            nn.Conv1d(4 * width, in_dim, kernel_size=3, padding=1, bias=False), nn.ReLU(), nn.BatchNorm1d(in_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.transpose(1, 2)
        pyramid = torch.cat([self.conv_1(h), self.conv_2(h), self.conv_3(h)], dim=1)
        fused = self.conv_5(torch.cat([pyramid, self.non_local(self.conv_4(h))], dim=1))
        return (fused + h).transpose(1, 2)


class RTFM(nn.Module):
    """MTN encoder, MLP score head, and top-k selection by feature magnitude."""

    def __init__(self, in_dim: int = 2048, width: int = 512, dropout: float = 0.7, margin: float = 100.0):
        super().__init__()
        self.margin = margin
        self.mtn = MultiScaleTemporalNetwork(in_dim, width)
        self.drop = Dropout(dropout)
        self.head = nn.Sequential(
            nn.Linear(in_dim, 512), nn.ReLU(), Dropout(dropout),
            nn.Linear(512, 128), nn.ReLU(), Dropout(dropout),
            nn.Linear(128, 1), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        flat, batch, crops = flatten_crops(x)
        features = self.drop(self.mtn(flat))                     # (B * crops, T, D)
        scores = crop_mean(self.head(features).squeeze(-1), batch, crops)
        if not self.training:
            return scores
        check_pairs(batch)
        magnitudes = crop_mean(features.norm(dim=-1), batch, crops)          # (B, T)
        # As released, selection sees the magnitudes through a dropout mask.
        selection = self.drop(torch.ones_like(magnitudes)) * magnitudes
        index = selection.topk(topk_count(magnitudes.shape[1]), dim=-1).indices    # (B, k)
        per_crop = index.repeat_interleave(crops, dim=0)
        picked = torch.gather(features, 1, per_crop.unsqueeze(-1).expand(-1, -1, features.shape[-1]))
        return {
            "scores": scores,
            "topk_scores": torch.gather(scores, 1, index).mean(-1),             # (B,)
            "topk_feature_norm": crop_mean(picked.mean(1), batch, crops).norm(dim=-1),  # (B,)
        }


def rtfm_loss(
    outputs: Mapping[str, torch.Tensor], abnormal_mil_weight: torch.Tensor, *, margin: float = 100.0
) -> tuple[torch.Tensor, dict[str, float]]:
    """RTFM's base loss; see the module docstring for the terms and weights."""
    scores, pooled, norms = outputs["scores"], outputs["topk_scores"], outputs["topk_feature_norm"]
    half = scores.shape[0] // 2
    abnormal = scores[half:]
    terms = {
        "mil_abnormal": video_bce(pooled[half:], 1.0, abnormal_mil_weight),
        "mil_normal": video_bce(pooled[:half], 0.0),
        "magnitude": (((margin - norms[half:]).abs() + norms[:half]) ** 2).mean(),
        "sparsity": abnormal.abs().sum(-1).mean() / abnormal.shape[-1],
        "smoothness": (abnormal[:, 1:] - abnormal[:, :-1]).pow(2).sum(-1).mean(),
    }
    total = (terms["mil_abnormal"] + terms["mil_normal"] + 1e-4 * terms["magnitude"]
             + 8e-3 * terms["sparsity"] + 8e-4 * terms["smoothness"])
    return total, {k: float(v.detach()) for k, v in terms.items()}


def _infer_rtfm(state_dict: Mapping[str, torch.Tensor]) -> dict[str, Any] | None:
    weight = state_dict.get("mtn.conv_1.0.weight")
    if weight is None:
        return None
    return {"in_dim": int(weight.shape[1]), "width": int(weight.shape[0])}


@register_model("rtfm", base_loss=rtfm_loss, infer_kwargs=_infer_rtfm, label="RTFM", paper_steps=700,
                description="RTFM: multi-scale temporal network, feature-magnitude top-k (paper B.2)")
def build_rtfm(in_dim: int = 2048, **kwargs: Any) -> RTFM:
    return RTFM(in_dim=in_dim, **kwargs)
