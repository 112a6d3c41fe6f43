"""The real training step at the UCF-Crime shape against a plain reference step, each in processes of its own.

``Trainer.train_step`` itself (sampling, cache reads, forward, base loss, mining and splatting,
``L_abn``, backward, Adam) of each network on a synthetic set of the UCF shape (10-crop I3D-sized
features, D = 1024, resampled to N = 200; the ``ucf`` preset's 64 + 64 single-crop items;
glance supervision, mining on) against :class:`glancevad.testing.reference_step.ReferenceStep`:
the same maths written plainly, from the same weights on the same cached data.

Each side runs in a fresh process (launches alternate: reference, trainer, reference, trainer, so
that load from other processes falls on both). A process builds the same weights from the same
seed on the same data and cache (written once by the parent), takes one untimed warm-up step and
then times its steps; the best step of each side over all its launches counts. The trainer's
processes keep freed host memory as every CPU training run does (``glancevad.engine.host_memory``,
set by ``Trainer``; a process-wide glibc setting); the reference's processes never change glibc's
allocator settings, so the reference runs as plain code would (glibc's dynamic mmap threshold
intact). The bf16 trainer step is set against the fp32 reference (the released code trains in
fp32) and the bf16 one; bf16 is timed only where the CPU has bf16 units (``common.precisions``).

Then how close the step runs to this CPU's limit: its arithmetic counted per layer
(``torch.utils.flop_counter``, forward and backward, GFLOP per step), the achieved GFLOP/s of the
best trainer step, and a large fp32 GEMM (4096²) timed in the same process, so that the step's rate
reads as a fraction of what this machine's matrix products reach. Then the trainer step's
profile: its parts (data, forward, targets, backward, optimiser) over the trainer's timed steps
(never the warm-up), from its own timer, and the top operators of one more step by self time
(``torch.profiler``). Last, test-time throughput in one more fresh process that
never changes the allocator, as ``glancevad test`` runs: ``score_videos`` (all 10 crops of a video
at once) against the plain network's forward on the same videos.

``python benchmarks/run.py train-step-urdmu`` runs one network, ``train-step`` all three.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks.common import Result, count_flops, gemm_rate, precisions

SHAPE = "UCF shape (64 + 64 items of 10-crop data, N = 200, D = 1024)"
PARTS = ("data", "forward", "targets", "backward", "optimiser")
#: The side each launch runs, in order; ``launches`` repeats the pair.
SIDES = ("reference", "trainer")
REPO = Path(__file__).resolve().parents[1]


#: ``smoke``: the whole suite's machinery (every launch, the allocator check, the profile) on a tiny
#: set in seconds, for a test; its figures mean nothing.
SMOKE = {"batch_size": 2, "num_snippets": 16}


def _dataset(folder: Path, smoke: bool = False) -> Path:
    """8 + 8 training videos of 10 crops (80 items per class >= the preset's 64), 150-300 snippets."""
    from glancevad.synth import synth_config, write_synthetic_dataset

    cfg = synth_config("tiny") if smoke else synth_config(
        "default", train_normal=8, train_abnormal=8, test_normal=2, test_abnormal=2, dim=1024, crops=10,
        min_snippets=150, max_snippets=300)
    return write_synthetic_dataset(folder / "data", cfg)


def _config(name: str, precision: str, smoke: bool = False):
    from glancevad.config import resolve_config

    return resolve_config("ucf", {"model": name, "precision": precision, "device": "cpu",
                                  "val_fraction": 0, "min_mining_step": 0}, SMOKE if smoke else {})


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------------------------
# One launch: a fresh process that measures one side and writes its figures as JSON

def _trainer(name: str, precision: str, data: Path, cache: Path, run: Path, *, retain: bool, smoke: bool):
    """A ``Trainer`` on the benchmark data. ``retain=False`` (the reference's processes): the
    trainer's request to keep freed host memory is declined, so this process never calls glibc's
    ``mallopt`` and its allocator behaves as in plain code."""
    import glancevad.engine.trainer as trainer_module

    if not retain:
        trainer_module.retain_freed_memory = lambda: False   # the one call that would change the allocator
    return trainer_module.Trainer(_config(name, precision, smoke), data, run, cache_dir=cache)


def _measure_side(side: str, name: str, precision: str, data: Path, cache: Path, run: Path, *, warmup: int,
                  steps: int, profile: bool, smoke: bool = False) -> dict[str, Any]:
    if side == "throughput":
        return _measure_throughput(name, data)
    trainer = _trainer(name, precision, data, cache, run, retain=side == "trainer", smoke=smoke)
    if side == "reference":
        from glancevad.testing.reference_step import ReferenceStep

        step = ReferenceStep(trainer)
    else:
        step = trainer.train_step
    for _ in range(warmup):
        step()
    before = {part: getattr(trainer.timer, part) for part in PARTS}
    seconds = [_timed(step) for _ in range(steps)]
    if side == "reference":
        from glancevad.engine import host_memory

        if host_memory._libc.cache_info().misses:   # _libc is only looked up to call mallopt
            raise RuntimeError("the reference process changed glibc's allocator settings")
    result: dict[str, Any] = {"seconds": seconds}
    if side == "trainer":   # the timed steps only: the warm-up is left out of the parts
        result["parts"] = {part: getattr(trainer.timer, part) - before[part] for part in PARTS}
        if profile:
            from torch import profiler

            with profiler.profile(activities=[profiler.ProfilerActivity.CPU]) as prof:
                trainer.train_step()
            result["operators"] = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10,
                                                            max_name_column_width=40)
            result["gflop"], result["gflop_by_layer"] = count_flops(trainer.train_step, depth=3)
            result["gemm_gflops"] = gemm_rate()
    return result


def _throughput(name: str, model, videos, precision: str) -> tuple[float, float]:
    """Snippets per second of ``score_videos`` and of the plain forward on the same videos."""
    import numpy as np
    import torch

    from glancevad.engine.scoring import autocast, score_videos
    from glancevad.testing.reference_step import PlainModel

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


def _measure_throughput(name: str, data: Path) -> dict[str, Any]:
    """Test-time throughput, fp32 and bf16, in a process that never changes the allocator (as
    ``glancevad test``), with the weights a trainer starts from."""
    import torch

    from glancevad.data import load_dataset
    from glancevad.models import build

    cfg = _config(name, "fp32")
    dataset = load_dataset(data)
    videos = [(v.id, dataset.load_features(v)) for v in dataset.test]
    torch.manual_seed(cfg.seed)
    model = build(name, in_dim=videos[0][1].shape[-1], **cfg.model_kwargs)
    return {p: dict(zip(("ours", "plain"), _throughput(name, model, videos, p), strict=True)) for p in precisions()}


def child_main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.bench_train_step SIDE ...``: one launch (what :func:`measure` starts)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_train_step",
                                     description="One launch of the train-step benchmark (run by benchmarks/run.py).")
    parser.add_argument("side", choices=(*SIDES, "throughput"))
    parser.add_argument("--model", required=True)
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--run", type=Path, required=True, help="A fresh run folder for this launch's trainer.")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="Also profile the operators of one more step.")
    parser.add_argument("--out", type=Path, required=True, help="Where to write the figures (JSON).")
    parser.add_argument("--smoke", action="store_true", help="The tiny settings of measure(smoke=True).")
    args = parser.parse_args(argv)
    result = _measure_side(args.side, args.model, args.precision, args.data, args.cache, args.run,
                           warmup=args.warmup, steps=args.steps, profile=args.profile, smoke=args.smoke)
    args.out.write_text(json.dumps(result))


# ---------------------------------------------------------------------------------------------------------------
# The suite: launches alternate between the two sides

def _launch(side: str, name: str, tmp: Path, index: int, *, precision: str = "fp32", warmup: int = 1,
            steps: int = 2, profile: bool = False, smoke: bool = False) -> dict[str, Any]:
    out = tmp / f"{name}-{precision}-{side}-{index}.json"
    command = [sys.executable, "-m", "benchmarks.bench_train_step", side, "--model", name, "--precision", precision,
               "--data", str(tmp / "data"), "--cache", str(tmp / "cache"), "--run",
               str(tmp / f"run-{name}-{precision}-{side}-{index}"), "--warmup", str(warmup), "--steps", str(steps),
               "--out", str(out), *(["--profile"] if profile else []), *(["--smoke"] if smoke else [])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    subprocess.run(command, check=True, cwd=REPO, env=env)
    return json.loads(out.read_text())


def measure(name: str, *, launches: int = 2, warmup: int = 1, steps: int = 2,
            console: Console | None = None, smoke: bool = False) -> list[Result]:
    """The figures of one network, fp32 and (where the CPU has bf16 units) bf16: ``launches`` processes per
    side and precision,
    each timing ``steps`` steps after ``warmup`` untimed ones (``smoke``: see :data:`SMOKE`)."""
    from glancevad.data import load_dataset
    from glancevad.data.cache import build_or_open_cache

    console = console or Console(width=150)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        root = _dataset(tmp, smoke)
        build_or_open_cache(load_dataset(root), tmp / "cache", num_snippets=_config(name, "fp32", smoke).num_snippets)
        seconds, rates = {}, {}
        for precision in precisions():
            best = dict.fromkeys(SIDES, float("inf"))
            parts = dict.fromkeys(PARTS, 0.0)
            operators, counted = "", {}
            for i in range(launches):
                for side in SIDES:
                    last = i == launches - 1 and side == "trainer"
                    figures = _launch(side, name, tmp, i, precision=precision, warmup=warmup, steps=steps,
                                      profile=last, smoke=smoke)
                    best[side] = min(best[side], *figures["seconds"])
                    for part, spent in figures.get("parts", {}).items():
                        parts[part] += spent
                    operators = figures.get("operators", operators)
                    counted.update({k: figures[k] for k in ("gflop", "gflop_by_layer", "gemm_gflops") if k in figures})
            seconds[precision] = best["reference"], best["trainer"]
            rates[precision] = counted
            console.print(f"[bold]{name} {precision} trainer step, GFLOP counted per layer[/] (forward and "
                          f"backward; {counted['gflop']:.0f} in all): " + _layers(counted["gflop_by_layer"]))
            total = sum(parts.values())
            shares = ", ".join(f"{part} {100 * spent / total:.1f} %" for part, spent in parts.items())
            console.print(f"[bold]{name} {precision} trainer step, parts[/] ({launches * steps} timed steps, "
                          f"warm-up left out): {shares}")
            console.print(operators, markup=False, highlight=False)
        throughput = _launch("throughput", name, tmp, 0)
        for p in precisions():
            ours, plain = throughput[p]["ours"], throughput[p]["plain"]
            results.append(Result(f"{name} test throughput, 10 crops, D = 1024, {p}", ours, "snippets/s",
                                  f"plain forward: {plain:.0f} snippets/s", ours / plain, "speed-up"))
        ref32, ours32 = seconds["fp32"]
        flops, gemm = rates["fp32"]["gflop"], rates["fp32"]["gemm_gflops"]
        results.insert(0, Result(f"{name} Trainer.train_step, glance, {SHAPE}, fp32", ours32, "s",
                                 f"plain reference step, fp32: {ref32:.2f} s", ours32 / ref32,
                                 "of the reference (UR-DMU goal <= 60 %)", percent=True))
        results.insert(1, Result(f"{name} the same step's arithmetic rate ({flops:.3g} GFLOP counted per step)",
                                 flops / ours32, "GFLOP/s",
                                 f"fp32 4096² matrix product, same process: {gemm:.0f} GFLOP/s",
                                 flops / ours32 / gemm, "of it (UR-DMU goal >= 75 %)", percent=True))
        if "bf16" in seconds:
            ref16, ours16 = seconds["bf16"]
            results.insert(2, Result(f"{name} Trainer.train_step, same, bf16", ours16, "s",
                                     f"plain reference fp32: {ref32:.2f} s (bf16: {ref16:.2f} s)", ours16 / ref32,
                                     f"of the fp32 reference ({100 * ours16 / ref16:.0f} % of the bf16 one; "
                                     "UR-DMU goal <= 25 %)", percent=True))
    return results


def _layers(by_module: dict[str, float]) -> str:
    """The network's direct parts (``URDMU.embedding``, ``URDMU.self_attn``, ...) and their GFLOP."""
    network = [name for name in by_module if "." not in name]
    parts = {name.split(".", 1)[1]: gflop for name, gflop in by_module.items()
             if name.count(".") == 1 and name.split(".")[0] in network}
    return ", ".join(f"{part} {gflop:.1f}" for part, gflop in parts.items())


def run_one(name: str):
    return lambda: measure(name)


def run() -> list[Result]:
    return [r for name in ("mil", "rtfm", "urdmu") for r in measure(name)]


if __name__ == "__main__":
    child_main()
