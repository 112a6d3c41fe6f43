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


def resample_matrix(num_snippets: int, length: int) -> np.ndarray:
    """``(length, T)`` float32 weights: row ``i`` averages its segment, or copies snippet ``r[i]``."""
    bounds = resample_boundaries(num_snippets, length)
    start, end = bounds[:-1, None], bounds[1:, None]
    positions = np.arange(num_snippets)[None, :]
    weights = ((positions >= start) & (positions < end)) / np.maximum(end - start, 1)
    empty = np.flatnonzero(end[:, 0] == start[:, 0])
    weights[empty, np.minimum(start[empty, 0], num_snippets - 1)] = 1.0
    return weights.astype(np.float32)


def resample(features: np.ndarray, length: int) -> np.ndarray:
    """Resample ``(T, ...)`` features to ``(length, ...)`` by segment means: one matrix product."""
    flat = np.asarray(features, dtype=np.float32).reshape(features.shape[0], -1)
    out = resample_matrix(features.shape[0], length) @ flat
    return out.reshape(length, *features.shape[1:])


def glance_mask(
    glances: Iterable[int], num_snippets: int, length: int, *, frames_per_snippet: int = FRAMES_PER_SNIPPET
) -> np.ndarray:
    """``(length,)`` float32 0/1 mask of the resampled snippets that hold a glance."""
    mask = np.zeros(length, dtype=np.float32)
    for frame in glances:
        index = int((frame / frames_per_snippet) / num_snippets * length)
        mask[min(index, length - 1)] = 1
    return mask
