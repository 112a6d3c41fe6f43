"""RTFM (Tian et al., ICCV 2021): multi-scale temporal network and feature-magnitude learning.

Structure (appendix B.2, section 5 of the reference notes): three dilated Conv1d branches
(dilation 1, 2, 4) and a Conv1d + non-local branch, concatenated, fused by a Conv1d back to the
input width and added to the input (residual); then an MLP head ``D -> 512 -> 128 -> 1`` with
dropout 0.7. In training the network also returns its features, their magnitudes and the
magnitudes seen through a dropout mask, from which the loss picks the top-k snippets (as released).

Base loss (:class:`RTFMLossSettings` holds each choice, defaults as in RTFM's release ``train.py``):
BCE of the top-k video scores + 1e-4 x the feature-magnitude loss
``mean((|m - ||mean_k f_abn||| + ||mean_k f_nor||)^2)`` over (video, crop) items, margin ``m = 100``
+ 8e-3 x sparsity + 8e-4 x smoothness of the abnormal snippet scores. Released checkpoints
(``Aggregate.*``, ``fc1..3``) load through :func:`release_keys`; ``tests/unit/test_rtfm.py``
reproduces the release's outputs and every loss term (``shared/fixtures/official-rtfm``). Under
DDP each process computes the release's batch-wide sparsity norm and flattened smoothness over its
own slice (the release trains in one process), as its batch norm sees only its slice on the CPU.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from glancevad.constants import TOPK_RULES
from glancevad.constraints import Interval, OneOf
from glancevad.layers import Dropout, NonLocal1d
from glancevad.models.batch import check_pairs, crop_mean, flatten_crops
from glancevad.models.losses import BCE_FORMS, video_bce_terms
from glancevad.models.registry import loss_setting, register_model

#: The sparsity term on the abnormal snippet scores ``s`` (B videos x T snippets): ``{name: (term, what)}``.
SPARSITY_FORMS = {
    "release": (lambda s: s.flatten().norm(),
                "the L2 norm of all abnormal snippet scores of the batch, flattened (RTFM's train.py)"),
    "paper": (lambda s: s.abs().sum(-1).mean(), "sum_t abs(s_t) per abnormal video, averaged over the videos "
              "(RTFM paper)"),
    "none": (lambda s: s.new_zeros(()), "no sparsity term (GlanceVAD's Eq. 10: L_mil + L_mag only)"),
}
#: The smoothness term on the abnormal snippet scores: ``{name: (term, what)}``.
SMOOTHNESS_FORMS = {
    "release": (lambda s: (s.flatten()[1:] - s.flatten()[:-1]).pow(2).sum(),
                "sum of squared consecutive differences of the abnormal scores flattened across the batch "
                "(so it also differences across the boundary of two videos; RTFM's train.py)"),
    "paper": (lambda s: (s[:, 1:] - s[:, :-1]).pow(2).sum(-1).mean(),
              "sum_t (s_t - s_{t-1})^2 per abnormal video, averaged over the videos (RTFM paper)"),
    "none": (lambda s: s.new_zeros(()), "no smoothness term (GlanceVAD's Eq. 10: L_mil + L_mag only)"),
}
POSITIVE = Interval(low=0, closed="neither")
NON_NEGATIVE = Interval(low=0)


@dataclass(frozen=True)
class RTFMLossSettings:
    """The choices of RTFM's base loss (``--set loss.rtfm.<name>=<value>``); defaults: RTFM's release."""

    topk: str = loss_setting("rtfm", OneOf(TOPK_RULES), meaning="snippets of largest magnitude per video",
                             paper="k = 3 of 32 snippets (RTFM paper)", release="k = T // 10 (3 of 32)")
    bce: str = loss_setting("joint", OneOf(BCE_FORMS), meaning="how the video-level BCE is averaged",
                            paper="Eq. 2, per video (form of the mean not stated)",
                            release="one mean over the 2B video scores")
    sparsity: str = loss_setting("release", OneOf(SPARSITY_FORMS), meaning="sparsity of the abnormal scores",
                                 paper="none in GlanceVAD's Eq. 10; RTFM paper: lambda sum_t abs(s_t) per video",
                                 release="8e-3 x L2 norm of the batch's abnormal scores, flattened")
    smoothness: str = loss_setting("release", OneOf(SMOOTHNESS_FORMS), meaning="smoothness of the abnormal scores",
                                   paper="none in GlanceVAD's Eq. 10; RTFM paper: lambda sum_t (s_t - s_t-1)^2 "
                                         "per video",
                                   release="8e-4 x sum over the flattened abnormal scores (crossing videos)")
    sparsity_weight: float = loss_setting(8e-3, NON_NEGATIVE, meaning="weight of the sparsity term",
                                          paper="8e-3 (RTFM paper)", release="8e-3")
    smoothness_weight: float = loss_setting(8e-4, NON_NEGATIVE, meaning="weight of the smoothness term",
                                            paper="8e-4 (RTFM paper)", release="8e-4")
    magnitude_weight: float = loss_setting(1e-4, NON_NEGATIVE, meaning="weight of the feature-magnitude loss",
                                           paper="1 as written in Eq. 10 (RTFM paper: alpha = 1e-4)",
                                           release="1e-4")
    margin: float = loss_setting(100.0, POSITIVE, meaning="margin m of the feature-magnitude loss",
                                 paper="100 (RTFM paper)", release="100")


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
    """MTN encoder and MLP score head; in training also the features the magnitude loss reads."""

    def __init__(self, in_dim: int = 2048, width: int = 512, dropout: float = 0.7):
        super().__init__()
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
        return {
            "scores": scores,
            "features": features,
            "magnitudes": magnitudes,
            # as released, the top-k choice sees the magnitudes through a dropout mask
            "selection": self.drop(torch.ones_like(magnitudes)) * magnitudes,
        }


def topk_by_magnitude(outputs: Mapping[str, torch.Tensor], k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """RTFM's video scores ``(B,)`` (the mean score of the ``k`` snippets of largest selection
    magnitude) and the norm of the mean top-k feature of every (video, crop) item ``(B, crops)``."""
    scores, features, selection = outputs["scores"], outputs["features"], outputs["selection"]
    batch = scores.shape[0]
    crops = features.shape[0] // batch
    index = selection.topk(min(k, selection.shape[1]), dim=-1).indices          # (B, k)
    per_item = index.repeat_interleave(crops, dim=0)
    picked = torch.gather(features, 1, per_item.unsqueeze(-1).expand(-1, -1, features.shape[-1]))
    return torch.gather(scores, 1, index).mean(-1), picked.mean(1).norm(dim=-1).reshape(batch, crops)


def rtfm_loss(
    outputs: Mapping[str, torch.Tensor], abnormal_mil_weight: torch.Tensor, settings: RTFMLossSettings | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """RTFM's base loss; see the module docstring and :class:`RTFMLossSettings`."""
    settings = settings or RTFMLossSettings()
    scores = outputs["scores"]
    half = scores.shape[0] // 2
    pooled, norms = topk_by_magnitude(outputs, TOPK_RULES[settings.topk][0](scores.shape[1]))
    abnormal = scores[half:]
    terms = video_bce_terms(pooled, abnormal_mil_weight, settings.bce)
    # each abnormal (video, crop) item against the normal item of the same position, as released
    terms["magnitude"] = (((settings.margin - norms[half:]).abs() + norms[:half]) ** 2).mean()
    terms["sparsity"] = SPARSITY_FORMS[settings.sparsity][0](abnormal)
    terms["smoothness"] = SMOOTHNESS_FORMS[settings.smoothness][0](abnormal)
    total = (terms["mil_abnormal"] + terms["mil_normal"] + settings.magnitude_weight * terms["magnitude"]
             + settings.sparsity_weight * terms["sparsity"] + settings.smoothness_weight * terms["smoothness"])
    return total, {k: float(v.detach()) for k, v in terms.items()}


#: glancevad's names of the released ``Model``'s modules (tianyu0207/RTFM ``model.py``).
RELEASE_PREFIXES = {"Aggregate.": "mtn.", "fc1.": "head.0.", "fc2.": "head.3.", "fc3.": "head.6."}


def release_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """A released RTFM ``state_dict`` with glancevad's key names (``None``: not one); a key of no
    known module keeps its name, so that loading names it."""
    if not any(key.startswith("Aggregate.") for key in state_dict):
        return None
    renamed = {}
    for key, value in state_dict.items():
        prefix = next((p for p in RELEASE_PREFIXES if key.startswith(p)), None)
        renamed[RELEASE_PREFIXES[prefix] + key[len(prefix):] if prefix else key] = value
    return renamed


def _infer_rtfm(state_dict: Mapping[str, torch.Tensor]) -> dict[str, Any] | None:
    weight = state_dict.get("mtn.conv_1.0.weight")
    if weight is None:
        return None
    return {"in_dim": int(weight.shape[1]), "width": int(weight.shape[0])}


STRUCTURE = ("MTN (dilations 1, 2, 4 + non-local, residual), MLP D-512-128-1, dropout 0.7 (`model_kwargs.dropout`); "
             "the release's weights load and reproduce its outputs",
             "MTN encoder, score head of Linear layers (B.2)", "the same (tianyu0207/RTFM model.py)")


@register_model("rtfm", base_loss=rtfm_loss, infer_kwargs=_infer_rtfm, label="RTFM", paper_steps=825,
                loss_settings=RTFMLossSettings, release_keys=release_keys, structure=STRUCTURE, mining_scores="eval",
                description="RTFM: multi-scale temporal network, feature-magnitude top-k (paper B.2)")
def build_rtfm(in_dim: int = 2048, **kwargs: Any) -> RTFM:
    return RTFM(in_dim=in_dim, **kwargs)
