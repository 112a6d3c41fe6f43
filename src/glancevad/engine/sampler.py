"""Paired sampling: every step draws ``B`` normal and ``B`` abnormal training items.

An item is one crop of one video (``crop_sampling: item``, as in the released loader, which lists
every crop of every training video as its own sample) or a whole video with all its crops
(``average``). Items are integers ``video * crops_per_item + crop``; with one crop they are the
video indices themselves, so both modes draw the same sequence.

Each class is consumed from seeded random permutations, reshuffled when exhausted (epochs of that
class): every item appears once per pass of its stream. The sampler's whole state goes into
checkpoints so that a resumed run draws the same batches as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def crop_items(videos: np.ndarray, crops: int) -> np.ndarray:
    """Item ids of every crop of ``videos``: ``video * crops + crop``, video-major."""
    videos = np.asarray(videos, dtype=np.int64)
    return (videos[:, None] * crops + np.arange(crops, dtype=np.int64)[None, :]).reshape(-1)


def split_items(items: np.ndarray, crops: int) -> tuple[np.ndarray, np.ndarray]:
    """``(videos, crops)`` of item ids made by :func:`crop_items`."""
    return np.divmod(np.asarray(items, dtype=np.int64), crops)


class PairedSampler:
    """Draws ``(normal_items, abnormal_items)``, each ``(batch_size,)``, from two shuffled streams."""

    def __init__(self, normal: np.ndarray, abnormal: np.ndarray, batch_size: int, seed: int):
        if len(normal) == 0 or len(abnormal) == 0:
            raise ValueError("paired sampling needs at least one normal and one abnormal item")
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

    def peek(self) -> tuple[np.ndarray, np.ndarray]:
        """The batch :meth:`next` will draw, without drawing it (the state is left as it was)."""
        state = self.state_dict()
        try:
            return self.next()
        finally:
            self.load_state_dict(state)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "queues": {k: list(v) for k, v in self.queues.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.queues = {k: list(v) for k, v in state["queues"].items()}
