"""UR-DMU (Zhou et al., AAAI 2023), the base network of the released GlanceVAD.

Structure as in section 4 of the reference notes; parameter names match the released checkpoints
so that they load with ``strict=True``. Dual memory units (abnormal ``Amemory``, normal
``Nmemory``), a GL-MHSA encoder, and a variational encoder of the normal memory's augmentation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from glancevad.constants import topk_count
from glancevad.layers import GlobalLocalTransformer, MemoryUnit, TemporalConv
from glancevad.models.batch import check_pairs, crop_mean, flatten_crops
from glancevad.models.losses import topk_mean, video_bce
from glancevad.models.registry import register_model


def _gather_mean(features: torch.Tensor, index: torch.Tensor, batch: int, crops: int) -> torch.Tensor:
    """Mean of the features at ``index`` ``(N, k)`` per sequence, then over crops: ``(batch, dim)``."""
    picked = torch.gather(features, 1, index.unsqueeze(-1).expand(-1, -1, features.shape[-1])).mean(1)
    return crop_mean(picked, batch, crops)


class ScoreHead(nn.Module):
    """MLP ``dim -> 128 -> 1`` with a sigmoid: ``(..., dim) -> (...)``.

    Called with several tensors, it scores their concatenation along the last axis without
    building it (the first layer's weight is split by columns instead)."""

    def __init__(self, dim: int, hidden: int = 128):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 1), nn.Sigmoid())

    def forward(self, *parts: torch.Tensor) -> torch.Tensor:
        first = self.mlp[0]
        columns = first.weight.split([part.shape[-1] for part in parts], dim=1)
        hidden = F.linear(parts[0], columns[0], first.bias)
        for part, weight in zip(parts[1:], columns[1:], strict=True):
            hidden = hidden + F.linear(part, weight)
        return self.mlp[1:](hidden).squeeze(-1)


class URDMU(nn.Module):
    """Uncertainty-Regulated Dual Memory Units over snippet features.

    The memory augmentations ``att M`` feed only the affine ``encoder_mu`` / ``encoder_var``, so
    they are read through the encoded prototypes (:meth:`MemoryUnit.encoded`): ``encoder(att M) =
    att (M Wᵀ) + b``, the same values without the ``(B, T, hidden)`` products (the parity test
    holds the training step to the released formulas, the fixture the scores).
    """

    def __init__(
        self,
        in_dim: int = 1024,
        hidden: int = 512,
        abnormal_slots: int = 60,
        normal_slots: int = 60,
        heads: int = 4,
        head_dim: int = 128,
        depth: int = 2,
        dropout: float = 0.5,
    ):
        super().__init__()
        self.embedding = TemporalConv(in_dim, hidden)
        self.self_attn = GlobalLocalTransformer(hidden, depth, heads, head_dim, hidden, dropout)
        self.cls_head = ScoreHead(2 * hidden)
        self.Amemory = MemoryUnit(abnormal_slots, hidden)
        self.Nmemory = MemoryUnit(normal_slots, hidden)
        self.encoder_mu = nn.Sequential(nn.Linear(hidden, hidden))
        self.encoder_var = nn.Sequential(nn.Linear(hidden, hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        flat, batch, crops = flatten_crops(x)
        h = self.self_attn(self.embedding(flat))
        if not self.training:
            _, a_att = self.Amemory(h)
            _, n_att = self.Nmemory(h)
            return crop_mean(self.cls_head(h, self._mu_sum(a_att, n_att)), batch, crops)
        return self._train_forward(h, batch, crops)

    def _mu_sum(self, a_att: torch.Tensor, n_att: torch.Tensor) -> torch.Tensor:
        """``encoder_mu(a_aug) + encoder_mu(n_aug)`` from the two memories' attention, as one
        product with both memories' encoded prototypes."""
        weight, bias = self.encoder_mu[0].weight, self.encoder_mu[0].bias
        prototypes = torch.cat([self.Amemory.encoded(weight), self.Nmemory.encoded(weight)])
        return torch.cat([a_att, n_att], dim=-1) @ prototypes + 2 * bias

    def _train_forward(self, h: torch.Tensor, batch: int, crops: int) -> dict[str, torch.Tensor]:
        half = check_pairs(batch)
        split = half * crops
        normal, abnormal = h[:split], h[split:]
        # each memory read once for the whole batch, then split into its normal and abnormal halves:
        # the memory scores (B, T) and the attention (B, T, slots) the augmentations are read from
        from_a_score, from_a_att = self.Amemory(h)
        from_n_score, from_n_att = self.Nmemory(h)
        a_score, n_a_score = from_a_score[split:], from_n_score[split:]   # abnormal videos: abnormal, normal memory
        a_n_score, n_score = from_a_score[:split], from_n_score[:split]   # normal videos: abnormal, normal memory
        a_att, n_att = from_a_att[split:], from_n_att[:split]
        k = topk_count(h.shape[1])
        a_index = a_score.topk(k, dim=-1).indices
        n_index = n_score.topk(k, dim=-1).indices
        p_index = n_a_score.topk(k, dim=-1).indices
        negative = _gather_mean(abnormal, a_index, half, crops)
        anchor = _gather_mean(normal, n_index, half, crops)
        positive = _gather_mean(abnormal, p_index, half, crops)
        triplet = F.triplet_margin_loss(F.normalize(anchor, dim=-1), F.normalize(positive, dim=-1),
                                        F.normalize(negative, dim=-1), margin=1.0)
        mu, var = self.encoder_mu[0], self.encoder_var[0]
        n_mu = n_att @ self.Nmemory.encoded(mu.weight) + mu.bias            # encoder_mu(n_aug)
        n_logvar = n_att @ self.Nmemory.encoded(var.weight) + var.bias      # encoder_var(n_aug)
        noise = torch.randn_like(n_mu) * torch.exp(n_logvar).sqrt()
        n_aug_sampled = n_mu + noise
        anchor_new = _gather_mean(n_aug_sampled, n_index, half, crops)
        # encoder_mu(mean of the k gathered a_aug rows) = (mean of their attention) (A Wᵀ) + b
        negative_new = _gather_mean(a_att, a_index, half, crops) @ self.Amemory.encoded(mu.weight) + mu.bias
        kl = torch.mean(-0.5 * torch.sum(1 + n_logvar - n_mu**2 - n_logvar.exp(), dim=1))
        distance = torch.relu(100 - negative_new.norm(dim=-1) + anchor_new.norm(dim=-1)).mean()
        # normal videos: n_aug_sampled + encoder_mu(a_n_aug); abnormal: encoder_mu(a_aug) + encoder_mu(n_a_aug);
        # both are encoder_mu of the two reads plus, for the normal half, the sampled noise
        augmentation = self._mu_sum(from_a_att, from_n_att)
        augmentation[:split] += noise
        return {
            "scores": crop_mean(self.cls_head(h, augmentation), batch, crops),
            "triplet": triplet,
            "kl": kl,
            "distance": distance,
            "A_att": crop_mean(a_score, half, crops),
            "N_att": crop_mean(n_score, half, crops),
            "A_Natt": crop_mean(a_n_score, half, crops),
            "N_Aatt": crop_mean(n_a_score, half, crops),
        }


def urdmu_loss(
    outputs: Mapping[str, torch.Tensor], abnormal_mil_weight: torch.Tensor, settings: None = None
) -> tuple[torch.Tensor, dict[str, float]]:
    """UR-DMU's loss as released: MIL BCE on both halves (the abnormal one weighted per video),
    0.1 x four memory-attention BCE terms, 0.1 x triplet, 0.001 x KL, 0.0001 x distance (no
    settings: the release is followed throughout and held to it by its fixture)."""
    scores = outputs["scores"]
    half = scores.shape[0] // 2
    ones = torch.ones(half, device=scores.device, dtype=scores.dtype)
    terms = {
        "mil_abnormal": video_bce(topk_mean(scores[half:]), 1.0, abnormal_mil_weight),
        "mil_normal": video_bce(topk_mean(scores[:half]), 0.0),
        "memory_a": F.binary_cross_entropy(topk_mean(outputs["A_att"]), ones),
        "memory_n_of_a": F.binary_cross_entropy(topk_mean(1 - outputs["N_Aatt"]), ones),
        "memory_n": F.binary_cross_entropy(outputs["N_att"], torch.ones_like(outputs["N_att"])),
        "memory_a_of_n": F.binary_cross_entropy(outputs["A_Natt"], torch.zeros_like(outputs["A_Natt"])),
        "triplet": outputs["triplet"],
        "kl": outputs["kl"],
        "distance": outputs["distance"],
    }
    total = (
        terms["mil_abnormal"] + terms["mil_normal"]
        + 0.1 * (terms["memory_a"] + terms["memory_n_of_a"] + terms["memory_n"] + terms["memory_a_of_n"])
        + 0.1 * terms["triplet"] + 0.001 * terms["kl"] + 0.0001 * terms["distance"]
    )
    return total, {name: float(value.detach()) for name, value in terms.items()}


def _infer_urdmu(state_dict: Mapping[str, torch.Tensor]) -> dict[str, Any] | None:
    """Recognise an UR-DMU state dict (ours or the authors') and read its sizes."""
    conv = state_dict.get("embedding.conv_1.0.weight")
    if conv is None or "Amemory.memory_block" not in state_dict:
        return None
    return {
        "in_dim": int(conv.shape[1]),
        "hidden": int(conv.shape[0]),
        "abnormal_slots": int(state_dict["Amemory.memory_block"].shape[0]),
        "normal_slots": int(state_dict["Nmemory.memory_block"].shape[0]),
    }


@register_model(
    "urdmu",
    base_loss=urdmu_loss,
    description="UR-DMU: GL-MHSA encoder with dual memory units (the released GlanceVAD base)",
    infer_kwargs=_infer_urdmu,
    label="UR-DMU",
    paper_steps=300,
)
def build_urdmu(in_dim: int = 1024, **kwargs: Any) -> URDMU:
    return URDMU(in_dim=in_dim, **kwargs)
