"""Synthetic glances: one random frame per ground-truth interval, and positional perturbation.

Both are seeded and return a new glance set; the input is never modified.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from glancevad.errors import GlanceVADError
from glancevad.glance.io import Glances
from glancevad.intervals import label_intervals


def simulate_glances(
    ground_truth: Mapping[str, np.ndarray], *, seed: int = 0
) -> Glances:
    """Draw one frame uniformly inside each anomalous interval (run of 1s) of each video.

    Videos without anomalous frames get no glance and are left out.
    """
    rng = np.random.default_rng(seed)
    out: Glances = {}
    for vid, labels in ground_truth.items():
        frames = [int(rng.integers(start, end)) for start, end in label_intervals(labels)]
        if frames:
            out[vid] = tuple(sorted(set(frames)))
    return out


def perturb_glances(
    glances: Mapping[str, tuple[int, ...]],
    *,
    max_shift: int,
    num_frames: Mapping[str, int],
    seed: int = 0,
) -> Glances:
    """Shift every glance by a uniform integer in ``[-max_shift, max_shift]``, clipped to the video.

    ``num_frames[vid]`` bounds the result to ``[0, num_frames - 1]`` (paper Table 4). Glances
    that land on the same frame merge.
    """
    if max_shift < 0:
        raise GlanceVADError(f"max_shift must be >= 0, got {max_shift}")
    rng = np.random.default_rng(seed)
    out: Glances = {}
    for vid, frames in glances.items():
        if vid not in num_frames:
            raise GlanceVADError(f"video {vid}: no frame count to clip its perturbed glances to")
        shifts = rng.integers(-max_shift, max_shift + 1, size=len(frames))
        moved = np.clip(np.asarray(frames) + shifts, 0, num_frames[vid] - 1)
        out[vid] = tuple(sorted({int(f) for f in moved}))
    return out
