"""Timing helpers for the benchmarks: best-of-N wall time, and a results table."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


def best_time(fn: Callable[[], object], *, repeat: int = 5, warmup: int = 1) -> float:
    """Best wall-clock seconds of ``repeat`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


@dataclass
class Result:
    """One benchmark figure with the reference it was measured against in the same run."""

    name: str
    value: float
    unit: str
    reference: str
    ratio: float | None = None
    goal: str = ""
    percent: bool = False  # show the ratio as a percentage (a fraction of a reference rate)
