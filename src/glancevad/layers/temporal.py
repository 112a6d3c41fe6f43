"""A temporal convolution over snippet features: ``(B, T, D_in) -> (B, T, D_out)``."""

from __future__ import annotations

import torch
from torch import nn


class TemporalConv(nn.Module):
    """Conv1d over time (kernel 3, same length) followed by ReLU."""

    def __init__(self, in_dim: int, out_dim: int, kernel_size: int = 3):
        super().__init__()
        self.conv_1 = nn.Sequential(
            nn.Conv1d(in_dim, out_dim, kernel_size=kernel_size, padding=kernel_size // 2), nn.ReLU()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_1(x.transpose(1, 2)).transpose(1, 2)
