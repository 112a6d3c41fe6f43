"""Temporal Gaussian Splatting (paper section 4): kernel mining and rendering, batched and pure.

Both functions work on ``(B, N)`` tensors of videos resampled to a common length ``N`` and contain
no Python loop over snippets or videos.

``mine`` (Algorithm 1, "Gaussian Kernel Mining"): from the first glance walk left to index 0, from
the last glance walk right to index ``N - 1``, and between consecutive glances walk from each
towards the other; a walk adds snippet ``j`` while ``score[j] >= threshold`` and stops at the first
snippet that fails. The threshold is ``alpha * score[glance]`` of the glance the walk started from
("dynamic") or a fixed value. The released loop stops its right-hand walk at ``N - 2``; this one
reaches ``N - 1``.

Vectorisation: a snippet ``j`` is reached by the rightward walk of the nearest glance ``L(j) <= j``
iff no snippet in ``(L(j), j]`` fails that glance's threshold, i.e. iff the running count of
failures is the same at ``j`` and at ``L(j)``; leftward walks mirror this with ``R(j) >= j``.

``render`` (Eq. 3-4): one kernel per centre in normalised time ``d = 2 (i - p) / (N - 1)``, each
min-max normalised over the video, combined by element-wise maximum (as released; ``"sum"`` is
the paper's Eq. 4) and min-max normalised again. A video whose every snippet is a centre renders
all ones; one with no centre renders all zeros (never NaN).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

COMBINES = ("max", "sum")


def _normal(distance: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return torch.exp(-(distance**2) / (2 * w**2)) / (w * math.sqrt(2 * math.pi))


def _cauchy(distance: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return 1 / (1 + (distance / w) ** 2) / (math.pi * w)


def _laplace(distance: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.exp(-distance.abs() / w) / w


@dataclass(frozen=True)
class Kernel:
    """A splatting kernel: ``density(distance, width)``, and what it is in words (docs, reports)."""

    density: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    description: str


#: The splatting kernels (paper Table 6) by name. The one place a kernel is added; the config, the
#: grids, the tests and the docs read their names and descriptions from here.
KERNELS: dict[str, Kernel] = {
    "normal": Kernel(_normal, "Gaussian density, sigma = width (GlanceVAD's kernel)"),
    "cauchy": Kernel(_cauchy, "Cauchy density, gamma = width (the heaviest tails)"),
    "laplace": Kernel(_laplace, "Laplace density, b = width (a pointed peak)"),
}


def _gather(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return torch.gather(values, 1, index)


def mine(
    scores: torch.Tensor,
    glance_mask: torch.Tensor,
    *,
    alpha: float = 0.9,
    dynamic: bool = True,
    threshold: float = 0.5,
) -> torch.Tensor:
    """Kernel centres: the glances plus the snippets mined around them.

    Args:
        scores: ``(B, N)`` current anomaly scores (detached) of abnormal videos.
        glance_mask: ``(B, N)`` 1 where a glance falls, 0 elsewhere.
        alpha: ratio of the dynamic threshold ``alpha * score[glance]``.
        dynamic: use the dynamic threshold; else the fixed ``threshold``.
        threshold: the fixed threshold when ``dynamic`` is false.

    Returns:
        ``(B, N)`` float 0/1 mask of kernel centres (glances included).
    """
    if scores.shape != glance_mask.shape or scores.dim() != 2:
        raise ValueError(f"scores {tuple(scores.shape)} and glance_mask {tuple(glance_mask.shape)} must be (B, N)")
    scores = scores.detach()
    batch, n = scores.shape
    is_glance = glance_mask > 0
    positions = torch.arange(n, device=scores.device).expand(batch, n)
    # Nearest glance at or before j (-1: none) and at or after j (n: none).
    left = torch.where(is_glance, positions, torch.full_like(positions, -1)).cummax(dim=1).values
    right = torch.where(is_glance, positions, torch.full_like(positions, n))
    right = right.flip(1).cummin(dim=1).values.flip(1)
    glance_threshold = alpha * scores if dynamic else torch.full_like(scores, threshold)
    thr_from_left = _gather(glance_threshold, left.clamp(min=0))
    thr_from_right = _gather(glance_threshold, right.clamp(max=n - 1))
    fail_right = (scores < thr_from_left) & ~is_glance
    fail_left = (scores < thr_from_right) & ~is_glance
    count_right = fail_right.long().cumsum(dim=1)  # failures in [0, j]
    count_left = fail_left.long().flip(1).cumsum(dim=1).flip(1)  # failures in [j, n)
    reached_right = (left >= 0) & (count_right == _gather(count_right, left.clamp(min=0)))
    reached_left = (right < n) & (count_left == _gather(count_left, right.clamp(max=n - 1)))
    return (is_glance | reached_right | reached_left).to(scores.dtype)


def kernel_matrix(n: int, *, kernel: str = "normal", width: float = 0.1, device=None) -> torch.Tensor:
    """``(N, N)`` float32 matrix ``K[i, p]``: the kernel centred at ``p``, min-max normalised over ``i``.

    ``width`` is sigma (normal), gamma (Cauchy) or b (Laplace) in normalised time [-1, 1]. The
    densities keep their constant factors and are evaluated in float32 on positions
    ``2 (i - 1) / (N - 1) - 1``, the arithmetic of the released code, so that targets agree with it
    to float32 rounding; the factors and the shift cancel in the normalisation.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel {kernel!r} is not one of {', '.join(KERNELS)}")
    if width <= 0:
        raise ValueError(f"kernel width must be positive, got {width}")
    if n == 1:
        return torch.ones(1, 1, device=device)
    index = torch.arange(n, device=device, dtype=torch.float32)
    position = 2 * (index - 1) / (n - 1) - 1
    distance = position[:, None] - position[None, :]
    w = torch.tensor(width, dtype=torch.float32, device=device)
    values = KERNELS[kernel].density(distance, w)
    low = values.min(dim=0, keepdim=True).values
    high = values.max(dim=0, keepdim=True).values
    return torch.where(high > low, (values - low) / (high - low), torch.ones_like(values))


def render(
    centres: torch.Tensor,
    *,
    kernel: str = "normal",
    width: float = 0.1,
    combine: str = "max",
) -> torch.Tensor:
    """Splat one kernel per centre and normalise: dense targets in [0, 1].

    Args:
        centres: ``(B, N)`` 0/1 mask of kernel centres (``o_i`` of Eq. 5-6).
        kernel: a name of ``KERNELS``: ``"normal"`` (Gaussian), ``"cauchy"`` or ``"laplace"``.
        width: the context radius ``r_g`` in normalised time [-1, 1] (0.1 in the paper).
        combine: ``"max"`` (released code) or ``"sum"`` (paper Eq. 4).

    Returns:
        ``(B, N)`` rendered targets in [0, 1].
    """
    if combine not in COMBINES:
        raise ValueError(f"combine {combine!r} is not one of {', '.join(COMBINES)}")
    if centres.dim() != 2:
        raise ValueError(f"centres must be (B, N), got {tuple(centres.shape)}")
    # Kernels in float32 as released; combination and normalisation in float64, because a sum of
    # nearly flat kernels loses all its contrast to float32 rounding.
    mask = (centres > 0).to(torch.float64)
    matrix = kernel_matrix(mask.shape[1], kernel=kernel, width=width, device=mask.device).double()
    if combine == "max":
        rendered = (mask[:, None, :] * matrix[None]).amax(dim=2)
    else:
        rendered = mask @ matrix.T
    low = rendered.min(dim=1, keepdim=True).values
    high = rendered.max(dim=1, keepdim=True).values
    flat_value = (high > 0).to(rendered.dtype).expand_as(rendered)  # all centres -> 1, none -> 0
    out = torch.where(high > low, (rendered - low) / (high - low), flat_value)
    return out.to(centres.dtype if centres.is_floating_point() else torch.float32)
