"""Paired sampling: every step draws ``B`` normal and ``B`` abnormal training videos.

Each class is consumed from seeded random permutations, reshuffled when exhausted (epochs of that
class). The sampler's whole state goes into checkpoints so that a resumed run draws the same
batches as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class PairedSampler:
    """Draws ``(normal_indices, abnormal_indices)``, each ``(batch_size,)``."""

    def __init__(self, normal: np.ndarray, abnormal: np.ndarray, batch_size: int, seed: int):
        if len(normal) == 0 or len(abnormal) == 0:
            raise ValueError("paired sampling needs at least one normal and one abnormal video")
        self.pools = {"normal": np.asarray(normal, dtype=np.int64), "abnormal": np.asarray(abnormal, dtype=np.int64)}
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self.queues: dict[str, list[int]] = {"normal": [], "abnormal": []}

    def _take(self, name: str) -> np.ndarray:
        queue = self.queues[name]
        while len(queue) < self.batch_size:
            queue.extend(self.rng.permutation(self.pools[name]).tolist())
        batch, self.queues[name] = queue[: self.batch_size], queue[self.batch_size :]
        return np.asarray(batch, dtype=np.int64)

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        return self._take("normal"), self._take("abnormal")

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "queues": {k: list(v) for k, v in self.queues.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.queues = {k: list(v) for k, v in state["queues"].items()}
