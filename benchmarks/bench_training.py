"""Training-step figures: bf16 autocast vs fp32, and the share of a step spent outside forward/backward."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from benchmarks.common import Result, best_time, precisions
from glancevad.config import resolve_config
from glancevad.engine.scoring import autocast
from glancevad.engine.trainer import Trainer
from glancevad.experiments.planning import network_step_seconds
from glancevad.models import build
from glancevad.synth import synth_config, write_synthetic_dataset


def step_time(name: str, precision: str, *, batch: int = 16, length: int = 200, dim: int = 1024,
              repeat: int = 3) -> float:
    """Best seconds of one optimiser step at ``batch`` normal + ``batch`` abnormal videos."""
    return network_step_seconds(name, precision, batch=batch, snippets=length, dim=dim, repeat=repeat)


def test_throughput(name: str, precision: str, *, videos: int = 32, length: int = 200, dim: int = 1024) -> float:
    """Snippets per second scored in eval mode, ``videos`` at a time."""
    torch.manual_seed(0)
    model = build(name, in_dim=dim).eval()
    x = torch.rand(videos, length, dim)
    device = torch.device("cpu")

    def infer():
        with torch.no_grad(), autocast(device, precision):
            model(x)

    return videos * length / best_time(infer, repeat=3)


def step_overhead(steps: int = 20) -> dict[str, float]:
    """Run the real trainer on the synthetic demo data; timings of its steps."""
    with tempfile.TemporaryDirectory() as tmp:
        root = write_synthetic_dataset(Path(tmp) / "data", synth_config("demo"))
        cfg = resolve_config("demo", {"steps": steps, "eval_every": steps})
        trainer = Trainer(cfg, root, Path(tmp) / "run")
        for _ in range(steps):
            trainer.train_step()
        return trainer.timer.as_dict()


def run(models: tuple[str, ...] = ("mil", "rtfm", "urdmu")) -> list[Result]:
    results = []
    bf16_here = "bf16" in precisions()
    for name in models:
        fp32 = step_time(name, "fp32")
        if bf16_here:
            bf16 = step_time(name, "bf16")
            results.append(Result(f"{name} training step, B=16+16, N=200, D=1024, bf16", bf16 * 1e3, "ms",
                                  f"fp32: {fp32 * 1e3:.0f} ms", fp32 / bf16, "speed-up of bf16"))
        else:
            results.append(Result(f"{name} training step, B=16+16, N=200, D=1024, fp32", fp32 * 1e3, "ms",
                                  "bf16: not timed (no bf16 units)", None))
        fp32 = test_throughput(name, "fp32")
        if bf16_here:
            bf16 = test_throughput(name, "bf16")
            results.append(Result(f"{name} test throughput, 32 videos x 200 snippets, D=1024, bf16", bf16,
                                  "snippets/s", f"fp32: {fp32:.0f} snippets/s", bf16 / fp32, "speed-up of bf16"))
        else:
            results.append(Result(f"{name} test throughput, 32 videos x 200 snippets, D=1024, fp32", fp32,
                                  "snippets/s", "bf16: not timed (no bf16 units)", None))
    timing = step_overhead()
    results.append(Result("step time outside forward/backward (sampling, targets), demo data",
                          100 * timing["overhead_fraction"], "% of step",
                          f"{timing['seconds_per_step'] * 1e3:.0f} ms per step", None, "goal < 5 %"))
    return results
