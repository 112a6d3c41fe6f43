"""A 1-D non-local block (Wang et al., 2018), dot-product form, as used by RTFM's MTN."""

from __future__ import annotations

import torch
from torch import nn


class NonLocal1d(nn.Module):
    """``x + W(softmax-free attention)``: ``y = (θ(x)ᵀ φ(x) / T) g(x)``, on ``(B, C, T)`` tensors.

    The output projection ends in a batch norm initialised to zero, so the block starts as the
    identity.
    """

    def __init__(self, channels: int, inner: int | None = None):
        super().__init__()
        inner = inner or max(channels // 2, 1)
        self.g = nn.Conv1d(channels, inner, kernel_size=1)
        self.theta = nn.Conv1d(channels, inner, kernel_size=1)
        self.phi = nn.Conv1d(channels, inner, kernel_size=1)
        self.W = nn.Sequential(nn.Conv1d(inner, channels, kernel_size=1), nn.BatchNorm1d(channels))
        nn.init.zeros_(self.W[1].weight)
        nn.init.zeros_(self.W[1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[-1]
        g = self.g(x).transpose(1, 2)                       # (B, T, inner)
        affinity = self.theta(x).transpose(1, 2) @ self.phi(x) / length   # (B, T, T)
        y = (affinity @ g).transpose(1, 2)                  # (B, inner, T)
        return x + self.W(y)
