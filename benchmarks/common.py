"""Timing helpers for the benchmarks: best-of-N wall time, and a results table."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from glancevad.runtime import fast_bf16

# Printed by a child process as its last line: its own peak resident set (VmHWM). Not ru_maxrss,
# which Linux carries over from the parent across exec and so reports the parent's peak.
PEAK_RSS_SNIPPET = """
def _peak_rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""


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


def gemm_rate(size: int = 4096, repeat: int = 3) -> float:
    """This process's fp32 matrix-product rate in GFLOP/s: the best of ``repeat`` products of two
    ``size x size`` matrices (after one warm-up), at the process's torch threads. The ceiling a
    training step's arithmetic rate is read against."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / best_time(lambda: a @ b, repeat=repeat) / 1e9


def count_flops(fn: Callable[[], object], *, depth: int = 2) -> tuple[float, dict[str, float]]:
    """``(GFLOP, {module path: GFLOP})`` of one call of ``fn`` (forward and backward), counted by
    ``torch.utils.flop_counter`` from the operators' shapes (matrix products, convolutions,
    attention; element-wise work is not counted), per module down to ``depth`` levels."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False, depth=depth) as counter:
        fn()
    by_module = {name: sum(ops.values()) / 1e9 for name, ops in counter.get_flop_counts().items()
                 if name != "Global"}
    return counter.get_total_flops() / 1e9, by_module


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


def precisions() -> tuple[str, ...]:
    """The precisions worth timing here: fp32, and bf16 where the CPU has bf16 units (AMX,
    AVX512-BF16). Elsewhere bf16 is emulated, 10-25x slower than fp32: timing it would take hours
    and say nothing about the code (``run.py`` prints that the bf16 rows were left out)."""
    return ("fp32", "bf16") if fast_bf16(torch.device("cpu")) else ("fp32",)
