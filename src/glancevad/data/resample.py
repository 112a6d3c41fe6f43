"""Training-time resampling of a video to ``N`` snippets ("resize", section 2 of the notes).

Boundaries ``r = floor(linspace(0, T, N + 1))``; resampled snippet ``i`` is the mean of original
snippets ``r[i] .. r[i+1] - 1``, or a copy of snippet ``r[i]`` when that range is empty (``T < N``).
A glance at frame ``g`` lands on resampled index ``floor((g / 16) / T * N)``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from glancevad.constants import FRAMES_PER_SNIPPET


def resample_boundaries(num_snippets: int, length: int) -> np.ndarray:
    """``(N + 1,)`` integer boundaries into the ``T = num_snippets`` original snippets."""
    return np.linspace(0, num_snippets, length + 1).astype(np.int64)


def resample(features: np.ndarray, length: int) -> np.ndarray:
    """Resample ``(T, ...)`` features to ``(length, ...)`` by segment means (vectorised)."""
    num_snippets = features.shape[0]
    bounds = resample_boundaries(num_snippets, length)
    start, end = bounds[:-1], bounds[1:]
    data = features.astype(np.float64, copy=False)
    cumulative = np.concatenate([np.zeros((1, *data.shape[1:])), np.cumsum(data, axis=0)])
    counts = (end - start).reshape(-1, *([1] * (data.ndim - 1)))
    means = (cumulative[end] - cumulative[start]) / np.maximum(counts, 1)
    copies = data[np.minimum(start, num_snippets - 1)]
    return np.where(counts > 0, means, copies).astype(np.float32)


def glance_mask(
    glances: Iterable[int], num_snippets: int, length: int, *, frames_per_snippet: int = FRAMES_PER_SNIPPET
) -> np.ndarray:
    """``(length,)`` float32 0/1 mask of the resampled snippets that hold a glance."""
    mask = np.zeros(length, dtype=np.float32)
    for frame in glances:
        index = int((frame / frames_per_snippet) / num_snippets * length)
        mask[min(index, length - 1)] = 1
    return mask
