"""Causal scoring: each snippet scored by the network over a window of the last ``W`` snippets.

Offline, a network sees the whole video (UR-DMU and RTFM attend over every snippet). On a live
stream only the past exists, so snippet ``t`` is scored from the window of snippets
``[t + L - W + 1, t + L]`` (fewer at the start of the stream), taking the network's output at ``t``;
``L`` (``lookahead``, default 0) delays each score by ``L`` snippets so that a network with a
local receptive field sees its right-hand context too. For MIL (two k=3 convolutions: two snippets
either side) ``W ≥ 5`` with ``L = 2`` reproduces the offline scores, and ``L = 0`` the offline
scores of the video cut at ``t``. At the end of a stream the last ``L`` snippets take their scores
from the final window, as offline scoring does at the end of a video.

:class:`CausalScorer` is the streaming form (``glancevad watch``; :func:`push_together` scores many
streams' windows in one batch); :func:`causal_scores` scores a
whole ``[T, crops, D]`` array with the same windows (``glancevad detect --causal``, ``glancevad
test --window``), batching the full-length windows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from glancevad.engine.scoring import score_batch
from glancevad.errors import SettingError


def check_window(window: int, lookahead: int = 0) -> None:
    """A window of at least one snippet that holds the lookahead snippets and the scored one."""
    if window < 1:
        raise SettingError("window", f"must be at least 1 snippet, not {window}")
    if lookahead < 0 or lookahead >= window:
        raise SettingError("lookahead", f"must be between 0 and window - 1 = {window - 1}, not {lookahead}")


def score_windows(model: nn.Module, windows: torch.Tensor, *, device: torch.device, precision: str) -> np.ndarray:
    """Scores ``(N, W)`` of ``N`` windows ``(N, crops, W, D)``, every window scored on its own."""
    return score_batch(model, windows, device=device, precision=precision)


class CausalScorer:
    """Snippet features in, causal snippet scores out, one snippet at a time.

    ``push(features (crops, D))`` returns the scores that became final: none during the first
    ``lookahead`` snippets, then one per snippet (that of snippet ``n - 1 - lookahead``).
    ``finish()`` returns the last ``lookahead`` scores. Memory: ``window`` snippets of features.
    """

    def __init__(self, model: nn.Module, *, window: int, lookahead: int = 0, device: torch.device | str = "cpu",
                 precision: str = "fp32"):
        check_window(window, lookahead)
        self.model, self.window, self.lookahead = model, window, lookahead
        self.device, self.precision = torch.device(device), precision
        self._features: deque[np.ndarray] = deque(maxlen=window)
        self._last: np.ndarray | None = None   # scores of the last window
        self.pushed = 0                         # snippets received
        self.scored = 0                         # snippet scores returned

    def push(self, features: np.ndarray) -> list[float]:
        """Add one snippet ``(crops, D)``; the scores now final, in snippet order."""
        window = self.add(features)[None]
        return self.take(score_windows(self.model, window, device=self.device, precision=self.precision)[0])

    def add(self, features: np.ndarray) -> torch.Tensor:
        """The first half of :meth:`push`: add a snippet, return the window to score ``(crops, w, D)``."""
        self._features.append(np.asarray(features, dtype=np.float32))
        self.pushed += 1
        return torch.from_numpy(np.stack(self._features, axis=1))

    def take(self, scores: np.ndarray) -> list[float]:
        """The second half of :meth:`push`: the window's scores ``(w,)`` in, the scores now final out."""
        self._last = np.asarray(scores)
        if self.pushed <= self.lookahead:
            return []
        self.scored += 1
        return [float(self._last[-1 - self.lookahead])]

    def finish(self) -> list[float]:
        """The scores of the snippets still waiting for their lookahead, from the last window."""
        if self._last is None:
            return []
        waiting = self.pushed - self.scored
        self.scored = self.pushed
        return [float(s) for s in self._last[len(self._last) - waiting :]]


def push_together(scorers: Sequence[CausalScorer], features: Sequence[np.ndarray]) -> list[list[float]]:
    """:meth:`CausalScorer.push` of one snippet on each of several streams' scorers (one network).

    Windows of equal length (every stream past its first ``window - 1`` snippets) go through the
    network as one batch; returns each scorer's final scores, in the order given.
    """
    windows = [scorer.add(f) for scorer, f in zip(scorers, features, strict=True)]
    out: list[list[float]] = [[] for _ in scorers]
    by_length: dict[int, list[int]] = {}
    for i, window in enumerate(windows):
        by_length.setdefault(window.shape[1], []).append(i)
    for members in by_length.values():
        first = scorers[members[0]]
        scores = score_windows(first.model, torch.stack([windows[i] for i in members]), device=first.device,
                               precision=first.precision)
        for i, row in zip(members, scores, strict=True):
            out[i] = scorers[i].take(row)
    return out


def causal_scores(model: nn.Module, features: np.ndarray, *, window: int, lookahead: int = 0,
                  device: torch.device | str = "cpu", precision: str = "fp32", batch: int = 64) -> np.ndarray:
    """Causal scores ``(T,)`` of one video's features ``[T, crops, D]``: what :class:`CausalScorer` gives.

    The windows shorter than ``window`` (the stream's first snippets) are scored one by one,
    the full-length ones ``batch`` at a time.
    """
    check_window(window, lookahead)
    device = torch.device(device)
    x = torch.from_numpy(np.ascontiguousarray(np.asarray(features, dtype=np.float32).transpose(1, 0, 2)))
    length = x.shape[1]
    ends = np.arange(length)                     # the window ending at snippet e scores snippet e - lookahead
    out = np.empty(length, dtype=np.float32)
    last: np.ndarray | None = None
    for end in ends[: min(window - 1, length)]:
        last = score_windows(model, x[None, :, : end + 1], device=device, precision=precision)[0]
        if end >= lookahead:
            out[end - lookahead] = last[-1 - lookahead]
    full = ends[window - 1 :]
    for start in range(0, len(full), batch):
        chunk = full[start : start + batch]
        windows = torch.stack([x[:, e - window + 1 : e + 1] for e in chunk])
        scores = score_windows(model, windows, device=device, precision=precision)
        out[chunk - lookahead] = scores[:, -1 - lookahead]
        last = scores[-1]
    if last is not None and lookahead:
        tail = min(lookahead, length)
        out[length - tail :] = last[len(last) - tail :]
    return out
