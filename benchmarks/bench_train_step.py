"""The real training step at the UCF-Crime shape against a plain reference step, in one process.

``Trainer.train_step`` itself (sampling, cache reads, forward, base loss, mining and splatting,
``L_abn``, backward, Adam) of each network on a synthetic set of the UCF shape (10-crop I3D-sized
features, D = 1024, resampled to N = 200; the ``ucf`` preset's 64 + 64 single-crop items;
glance supervision, mining on) against :class:`glancevad.testing.reference_step.ReferenceStep`:
the same maths written plainly, from the same weights on the same cached data, run with the C
library's default allocator behaviour. Rounds alternate (reference, trainer, reference, ...) so
that load from other processes falls on both; the best round of each counts. The bf16 trainer
step is set against the fp32 reference (the released code trains in fp32) and the bf16 one.

Then the trainer step's profile: its parts (data, forward, targets, backward, optimiser) from the
trainer's own timer, and the top operators by self time from ``torch.profiler``. Last, test-time
throughput: ``score_videos`` (all 10 crops of a video at once, as ``glancevad test``) against the
plain network's forward on the same videos.

``python benchmarks/run.py train-step-urdmu`` runs one network (about 3 minutes here),
``train-step`` all three.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from benchmarks.common import Result
from glancevad.config import resolve_config
from glancevad.engine.evaluator import autocast, score_videos
from glancevad.engine.host_memory import retain_freed_memory
from glancevad.engine.trainer import Trainer
from glancevad.synth import synth_config, write_synthetic_dataset
from glancevad.testing.reference_step import PlainModel, ReferenceStep

SHAPE = "UCF shape (64 + 64 items of 10-crop data, N = 200, D = 1024)"
PARTS = ("data", "forward", "targets", "backward", "optimiser")


def _dataset(folder: Path) -> Path:
    """8 + 8 training videos of 10 crops (80 items per class >= the preset's 64), 150-300 snippets."""
    cfg = synth_config("default", train_normal=8, train_abnormal=8, test_normal=2, test_abnormal=2,
                       dim=1024, crops=10, min_snippets=150, max_snippets=300)
    return write_synthetic_dataset(folder / "data", cfg)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _rounds(reference, trainer: Trainer, rounds: int) -> tuple[float, float]:
    """Best seconds of the reference step and of the trainer step over alternating rounds (after one
    warm-up of each); the reference runs with glibc's default allocator settings."""
    best_ref = best_ours = float("inf")
    for i in range(rounds + 1):
        retain_freed_memory(False)
        ref = _timed(reference)
        retain_freed_memory(True)
        ours = _timed(trainer.train_step)
        if i:
            best_ref, best_ours = min(best_ref, ref), min(best_ours, ours)
    return best_ref, best_ours


def _profile(trainer: Trainer, console: Console, title: str, steps_before: dict) -> None:
    """Print the parts of the timed steps and the top operators of one more step."""
    timer = trainer.timer
    spent = {part: getattr(timer, part) - steps_before[part] for part in PARTS}
    total = sum(spent.values())
    console.print(f"[bold]{title}[/]: " + ", ".join(f"{part} {100 * s / total:.1f} %" for part, s in spent.items()))
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        trainer.train_step()
    console.print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10, max_name_column_width=40))


def _timer_snapshot(trainer: Trainer) -> dict:
    return {part: getattr(trainer.timer, part) for part in PARTS}


def _throughput(name: str, model: torch.nn.Module, videos: list[tuple[str, np.ndarray]],
                precision: str) -> tuple[float, float]:
    """Snippets per second of ``score_videos`` and of the plain forward on the same videos."""
    device = torch.device("cpu")
    plain = PlainModel(name, model.eval())
    snippets = sum(len(f) for _, f in videos)

    def ours():
        score_videos(model, videos, device=device, precision=precision)

    def reference():
        with torch.no_grad(), autocast(device, precision):
            for _, features in videos:
                plain(torch.from_numpy(np.ascontiguousarray(features.transpose(1, 0, 2)))[None], training=False)

    best_ref = best_ours = float("inf")
    for i in range(3):
        ref, mine = _timed(reference), _timed(ours)
        if i:
            best_ref, best_ours = min(best_ref, ref), min(best_ours, mine)
    return snippets / best_ours, snippets / best_ref


def measure(name: str, *, rounds: int = 2, console: Console | None = None) -> list[Result]:
    """The figures of one network, fp32 and bf16."""
    console = console or Console(width=150)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = _dataset(Path(tmp))
        seconds = {}
        for precision in ("fp32", "bf16"):
            cfg = resolve_config("ucf", {"model": name, "precision": precision, "device": "cpu",
                                         "val_fraction": 0, "min_mining_step": 0})
            trainer = Trainer(cfg, root, Path(tmp) / f"run-{precision}", cache_dir=Path(tmp) / "cache")
            reference = ReferenceStep(trainer)
            before = _timer_snapshot(trainer)
            seconds[precision] = _rounds(reference, trainer, rounds)
            _profile(trainer, console, f"{name} {precision} trainer step, parts", before)
            if precision == "fp32":
                from glancevad.data import load_dataset

                dataset = load_dataset(root)
                videos = [(v.id, dataset.load_features(v)) for v in dataset.test]
                retain_freed_memory(False)   # glancevad test does not retain (videos differ in length)
                for p in ("fp32", "bf16"):
                    ours, plain = _throughput(name, trainer.model, videos, p)
                    results.append(Result(f"{name} test throughput, 10 crops, D = 1024, {p}", ours, "snippets/s",
                                          f"plain forward: {plain:.0f} snippets/s", ours / plain, "speed-up"))
            del trainer, reference
        (ref32, ours32), (ref16, ours16) = seconds["fp32"], seconds["bf16"]
        results.insert(0, Result(f"{name} Trainer.train_step, glance, {SHAPE}, fp32", ours32, "s",
                                 f"plain reference step, fp32: {ref32:.2f} s", ours32 / ref32,
                                 "of the reference (UR-DMU goal <= 50 %)", percent=True))
        results.insert(1, Result(f"{name} Trainer.train_step, same, bf16", ours16, "s",
                                 f"plain reference fp32: {ref32:.2f} s (bf16: {ref16:.2f} s)", ours16 / ref32,
                                 f"of the fp32 reference ({100 * ours16 / ref16:.0f} % of the bf16 one; "
                                 "UR-DMU goal <= 25 %)", percent=True))
    retain_freed_memory(False)
    return results


def run_one(name: str):
    return lambda: measure(name)


def run() -> list[Result]:
    return [r for name in ("mil", "rtfm", "urdmu") for r in measure(name)]
