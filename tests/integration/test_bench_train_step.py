"""The training-step benchmark's machinery, at a size where its figures mean nothing: every side in
processes of its own, the reference's never changing glibc's allocator."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
import torch
from rich.console import Console

from glancevad.runtime import fast_bf16

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # the benchmarks package

from benchmarks import bench_train_step  # noqa: E402


@pytest.mark.slow
def test_each_side_runs_in_a_fresh_process_and_the_profile_leaves_out_the_warm_up(monkeypatch):
    launched = []
    real = bench_train_step._launch

    def launch(side, *args, **kwargs):
        figures = real(side, *args, **kwargs)
        launched.append((side, kwargs.get("precision", "fp32"), len(figures.get("seconds", ()))))
        return figures

    monkeypatch.setattr(bench_train_step, "_launch", launch)
    out = io.StringIO()
    results = bench_train_step.measure("mil", launches=1, warmup=1, steps=2, smoke=True,
                                       console=Console(file=out, width=200))
    # a reference launch, then a trainer launch, per precision, each timing its steps after a warm-up
    # (a reference launch raises if its process changed the allocator); then one throughput process
    precisions = ("fp32", "bf16") if fast_bf16(torch.device("cpu")) else ("fp32",)   # bf16 where it is not emulated
    assert launched == [(side, precision, 2) for precision in precisions
                        for side in ("reference", "trainer")] + [("throughput", "fp32", 0)]
    assert [r.unit for r in results] == ["s", "GFLOP/s"] + ["s"] * (len(precisions) - 1) + ["snippets/s"] * len(
        precisions)
    assert all(r.value > 0 for r in results)
    # the arithmetic rate: the counted GFLOP over the step's time, read against the process's GEMM rate
    step, rate = results[0], results[1]
    gflop = float(rate.name.split("(")[1].split(" GFLOP")[0])
    assert rate.value == pytest.approx(gflop / step.value, rel=0.05) and 0 < rate.ratio < 2
    text = out.getvalue()
    assert "mil fp32 trainer step, parts (2 timed steps, warm-up left out): data " in text
    assert "mil fp32 trainer step, GFLOP counted per layer" in text and "encoder" in text
    assert "Self CPU" in text                                      # the operators of one more, profiled step
