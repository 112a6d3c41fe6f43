"""Temporal Gaussian Splatting speed: batched mining + rendering vs the plain loops (goal >= 100x)."""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.common import Result, best_time
from glancevad.testing.reference import mine_loop, render_loop
from glancevad.tgs import mine, render


def run(batch: int = 64, length: int = 200) -> list[Result]:
    rng = np.random.default_rng(0)
    glances = np.zeros((batch, length), np.float32)
    for b in range(batch):
        glances[b, rng.choice(length, size=int(rng.integers(1, 6)), replace=False)] = 1
    scores = np.clip(0.5 + 0.3 * np.cumsum(rng.normal(0, 0.15, (batch, length)), axis=1), 0.01, 0.99)
    scores = scores.astype(np.float32)
    s_t, g_t = torch.from_numpy(scores), torch.from_numpy(glances)
    ours = render(mine(s_t, g_t)).numpy()
    ref = render_loop(mine_loop(scores, glances))
    assert np.abs(ours - ref).max() < 1e-4, "vectorised and loop TGS disagree"
    t_ours = best_time(lambda: render(mine(s_t, g_t)), repeat=20)
    t_loop = best_time(lambda: render_loop(mine_loop(scores, glances)), repeat=3)
    return [Result(f"TGS mining + rendering, {batch} x {length}", t_ours * 1e3, "ms",
                   f"plain loops: {t_loop * 1e3:.0f} ms", t_loop / t_ours, "speed-up (goal >= 100x)")]
