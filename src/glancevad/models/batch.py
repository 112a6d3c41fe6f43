"""The layout of a training batch, shared by the networks: the crop axis (flattened for the network,
averaged after) and the normal-then-abnormal halves."""

from __future__ import annotations

import torch


def flatten_crops(x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """``(B, crops, T, D)`` or ``(B, T, D)`` -> ``(B * crops, T, D)``, ``B``, ``crops``."""
    if x.dim() == 4:
        batch, crops, length, dim = x.shape
        return x.reshape(batch * crops, length, dim), batch, crops
    if x.dim() == 3:
        return x, x.shape[0], 1
    raise ValueError(f"expected features (B, T, D) or (B, crops, T, D), got shape {tuple(x.shape)}")


def crop_mean(values: torch.Tensor, batch: int, crops: int) -> torch.Tensor:
    """``(batch * crops, ...) -> (batch, ...)`` averaged over crops."""
    return values.reshape(batch, crops, *values.shape[1:]).mean(1)


def check_pairs(batch: int) -> int:
    """A training batch holds B normal then B abnormal videos: return B."""
    if batch % 2:
        raise ValueError(f"a training batch holds normal then abnormal videos: even size needed, got {batch}")
    return batch // 2
