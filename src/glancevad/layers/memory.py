"""The memory unit of UR-DMU: learnable prototypes read by sigmoid attention."""

from __future__ import annotations

import math

import torch
from torch import nn

from glancevad.constants import topk_count


class MemoryUnit(nn.Module):
    """``slots`` prototypes of size ``dim``; a read returns a per-snippet score and an augmentation.

    For ``x`` of shape ``(B, T, dim)``: ``att = sigmoid(x M^T / sqrt(dim))`` ``(B, T, slots)``;
    the temporal score is the mean of the top ``slots // 16 + 1`` entries of ``att`` ``(B, T)``;
    the augmentation is ``att M`` ``(B, T, dim)``.
    """

    def __init__(self, slots: int, dim: int):
        super().__init__()
        self.slots = slots
        self.dim = dim
        bound = 1.0 / math.sqrt(dim)
        self.memory_block = nn.Parameter(torch.empty(slots, dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        attention = torch.sigmoid(x @ self.memory_block.T / math.sqrt(self.dim))
        score = attention.topk(topk_count(self.slots), dim=-1).values.mean(-1)
        return score, attention @ self.memory_block
