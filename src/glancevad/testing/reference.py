"""Plain-loop reference implementations: slow and obviously correct, for tests and benchmarks.

Each follows the paper's text (Algorithm 1, Eq. 3-4, the resampling rule) one snippet at a time,
in float64, so that the vectorised functions can be checked against them.
"""

from __future__ import annotations

import numpy as np


def mine_loop(scores: np.ndarray, glances: np.ndarray, alpha: float = 0.9, dynamic: bool = True,
              threshold: float = 0.5) -> np.ndarray:
    """Algorithm 1 with the right-hand walk reaching the last snippet; ``(B, N)`` 0/1 centres."""
    out = glances.copy()
    batch, n = scores.shape
    for b in range(batch):
        idx = np.flatnonzero(glances[b])
        walks = []
        if len(idx):
            walks.append((idx[0], range(idx[0] - 1, -1, -1)))
            walks.append((idx[-1], range(idx[-1] + 1, n)))
        for g0, g1 in zip(idx[:-1], idx[1:], strict=True):
            walks.append((g0, range(g0 + 1, g1)))
            walks.append((g1, range(g1 - 1, g0, -1)))
        for start, path in walks:
            limit = alpha * scores[b, start] if dynamic else threshold
            for j in path:
                if scores[b, j] < limit:
                    break
                out[b, j] = 1
    return out


def render_loop(centres: np.ndarray, kernel: str = "normal", width: float = 0.1, combine: str = "max") -> np.ndarray:
    """One min-max normalised kernel per centre, combined and normalised again; ``(B, N)``."""
    batch, n = centres.shape
    out = np.zeros((batch, n))
    for b in range(batch):
        kernels = []
        for p in np.flatnonzero(centres[b]):
            d = np.array([2 * (i - p) / max(n - 1, 1) for i in range(n)])
            k = {"normal": np.exp(-(d**2) / (2 * width**2)), "cauchy": 1 / (1 + (d / width) ** 2),
                 "laplace": np.exp(-np.abs(d) / width)}[kernel]
            kernels.append((k - k.min()) / (k.max() - k.min()) if k.max() > k.min() else np.ones(n))
        if not kernels:
            continue
        r = np.max(kernels, axis=0) if combine == "max" else np.sum(kernels, axis=0)
        out[b] = (r - r.min()) / (r.max() - r.min()) if r.max() > r.min() else np.ones(n)
    return out


def resample_loop(features: np.ndarray, length: int) -> np.ndarray:
    """Segment means over ``floor(linspace(0, T, N + 1))`` boundaries, copying when a segment is empty."""
    bounds = np.linspace(0, len(features), length + 1).astype(int)
    out = np.zeros((length, *features.shape[1:]), np.float32)
    for i in range(length):
        lo, hi = bounds[i], bounds[i + 1]
        out[i] = features[lo:hi].mean(0) if lo != hi else features[lo]
    return out
