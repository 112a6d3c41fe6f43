"""The memory unit of UR-DMU: learnable prototypes read by sigmoid attention."""

from __future__ import annotations

import math

import torch
from torch import nn

from glancevad.constants import topk_count


class MemoryUnit(nn.Module):
    """``slots`` prototypes ``M`` of size ``dim``; a read gives a per-snippet score and attention.

    For ``x`` of shape ``(B, T, dim)``: ``att = sigmoid(x Mᵀ / sqrt(dim))`` ``(B, T, slots)``;
    the temporal score is the mean of the top ``slots // 16 + 1`` entries of ``att`` ``(B, T)``.
    The released network's augmentation ``att M`` ``(B, T, dim)`` only ever feeds affine maps
    (UR-DMU's encoders), so it is not built: ``encoder(att M) = att (M Wᵀ) + b``, with
    :meth:`encoded` giving ``M Wᵀ`` (a ``slots x out`` matrix instead of a ``(B, T, dim)`` product
    and a ``dim x out`` map per snippet); :meth:`augmentation` is ``att M`` itself, for reference.
    """

    def __init__(self, slots: int, dim: int):
        super().__init__()
        self.slots = slots
        self.dim = dim
        bound = 1.0 / math.sqrt(dim)
        self.memory_block = nn.Parameter(torch.empty(slots, dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(score (B, T), attention (B, T, slots))``."""
        attention = torch.sigmoid(x @ self.memory_block.T / math.sqrt(self.dim))
        return attention.topk(topk_count(self.slots), dim=-1).values.mean(-1), attention

    def encoded(self, weight: torch.Tensor) -> torch.Tensor:
        """The prototypes through a linear map's ``weight`` ``(out, dim)``: ``M Wᵀ`` ``(slots, out)``."""
        return self.memory_block @ weight.T

    def augmentation(self, attention: torch.Tensor) -> torch.Tensor:
        """The released read ``att M`` ``(B, T, dim)`` (the network itself never builds it)."""
        return attention @ self.memory_block
