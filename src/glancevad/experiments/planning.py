"""Before anything trains: the preset a dataset implies, whether a budget suits it, and what the
runs will cost (steps, CPU time, disk).

``glancevad paper`` and ``glancevad experiment`` print :func:`describe_estimate` and the chosen
preset before their first run; the CPU time is each network's step timed on this machine, in the
runs' precision, at a reference shape (:func:`measure_step_seconds`, a few seconds), scaled to the
runs' shapes. Costs are not recorded once for all: a CPU without bf16 units trains the demo in
fp32 at about 4x the cost of one with AMX in bf16.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glancevad.errors import GlanceVADError
from glancevad.presets import is_real_dataset, preset_for_dataset

#: The shape at which a step is timed: the demo preset (batch 8 + 8, N = 128) on demo-sized
#: synthetic data (D = 128), one thread (grid runs train one thread each, a run per core). A run of
#: another shape is scaled by batch x N x D (the networks' cost is dominated by their first layers).
REFERENCE_BATCH, REFERENCE_SNIPPETS, REFERENCE_DIM = 8, 128, 128

#: The time a run spends outside its steps (start-up, validation, testing best.pt and last.pt).
SECONDS_PER_RUN = 10.0

#: A checkpoint holds the weights and Adam's two moments: 3 float32 copies of the parameters; a run
#: keeps last.pt and best.pt (a hard link when they are the same step, a second file otherwise).
CHECKPOINT_COPIES, CHECKPOINTS_PER_RUN = 3, 2


def choose_preset(dataset_name: str, preset: str | None) -> tuple[str, str]:
    """``(preset, why)``: the given preset, or the one the dataset's name implies."""
    if preset:
        return preset, f"preset {preset} (given)"
    chosen = preset_for_dataset(dataset_name)
    return chosen, f"preset {chosen} (from the dataset's name {dataset_name!r}; --preset to change it)"


def check_budget(budget: str, dataset_name: str, preset: str) -> None:
    """``paper``'s steps are the plateau of demo-sized synthetic data: refused on a real dataset,
    with what ``--budget full`` would train instead (the released schedule only with the dataset's
    own preset)."""
    if budget == "paper" and is_real_dataset(dataset_name):
        released = preset_for_dataset(dataset_name)
        schedule = (f"the released schedule of preset {preset}" if preset == released else
                    f"preset {preset}'s own schedule; the released one is preset {released}'s")
        raise GlanceVADError(f"--budget paper is the plateau of the demo-sized synthetic data, not of "
                             f"{dataset_name}; use --budget full ({schedule})")


def network_step_seconds(model: str, precision: str, *, batch: int = REFERENCE_BATCH,
                         snippets: int = REFERENCE_SNIPPETS, dim: int = REFERENCE_DIM, repeat: int = 2,
                         threads: int | None = None) -> float:
    """Best CPU seconds of one training step of the network alone (forward, base loss, backward,
    Adam) on random features, ``batch`` normal + ``batch`` abnormal sequences of ``snippets`` x
    ``dim``, after one warm-up step; ``threads`` torch threads while it runs (default: as set)."""
    import time

    import torch

    from glancevad.engine.evaluator import autocast
    from glancevad.models import build, get_spec

    cpu = torch.device("cpu")
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        generator = torch.Generator().manual_seed(0)
        network = build(model, in_dim=dim).train()
        optimiser = torch.optim.Adam(network.parameters(), lr=1e-4)
        x = torch.rand(2 * batch, snippets, dim, generator=generator)
        weight = torch.ones(batch)
        best = float("inf")
        for attempt in range(1 + repeat):
            started = time.perf_counter()
            with autocast(cpu, precision):
                outputs = network(x)
            loss, _ = get_spec(model).base_loss({k: v.float() for k, v in outputs.items()}, weight)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            if attempt:
                best = min(best, time.perf_counter() - started)
        return best
    finally:
        torch.set_num_threads(before)


@functools.cache
def measure_step_seconds(model: str, precision: str) -> float:
    """CPU seconds of one training step of ``model`` at the reference shape, on this machine, one
    thread (as a grid run trains), in ``precision`` (``auto`` resolved as a run would); timed once
    per process."""
    return network_step_seconds(model, precision, threads=1)


def step_seconds(reference_seconds: float, *, batch_size: int = REFERENCE_BATCH,
                 num_snippets: int = REFERENCE_SNIPPETS, in_dim: int = REFERENCE_DIM) -> float:
    """A step's CPU seconds at this shape, from its cost at the reference shape (scaled by batch x N x D)."""
    scale = (batch_size * num_snippets * in_dim) / (REFERENCE_BATCH * REFERENCE_SNIPPETS * REFERENCE_DIM)
    return reference_seconds * scale


@dataclass(frozen=True)
class Estimate:
    """What the unfinished runs of a plan will cost."""

    runs: int                 # distinct runs still to train or test
    steps: int                # their training steps, summed
    cpu_seconds: float        # at one run per core
    wall_seconds: float       # at ``parallel`` runs at once
    parallel: int
    cache_bytes: int          # training caches not yet built
    run_bytes: int            # checkpoints of the runs

    @property
    def disk_bytes(self) -> int:
        return self.cache_bytes + self.run_bytes


def estimate_specs(specs: list[Any], parallel: int, *, in_dim: int = REFERENCE_DIM,
                   cache: list[tuple[int, bool]] = (), checkpoint_bytes: dict[str, int] | None = None,
                   reference_seconds: Callable[[str, str], float] | None = None) -> Estimate:
    """The cost of the unfinished ``specs`` (``runner.RunSpec``) at ``parallel`` runs at once.

    ``cache``: ``(bytes, built)`` of each distinct training cache; ``checkpoint_bytes``: one
    checkpoint's size per network; ``reference_seconds(model, precision)``: a step's cost at the
    reference shape (timed here by default). A run whose ``test/last/metrics.json`` exists is finished.
    """
    todo = [s for s in specs if not (Path(s.run_dir) / "test" / "last" / "metrics.json").exists()]
    reference_seconds = reference_seconds or measure_step_seconds
    cpu = sum(s.config["steps"] * _step_seconds(s.config, in_dim, reference_seconds) + SECONDS_PER_RUN
              for s in todo)
    lanes = max(1, min(parallel, os.cpu_count() or 1))
    sizes = checkpoint_bytes or {}
    return Estimate(runs=len(todo), steps=sum(s.config["steps"] for s in todo), cpu_seconds=cpu,
                    wall_seconds=cpu / lanes, parallel=parallel,
                    cache_bytes=sum(size for size, built in cache if not built),
                    run_bytes=sum(CHECKPOINTS_PER_RUN * sizes.get(s.config["model"], 0) for s in todo))


def _step_seconds(config: dict[str, Any], in_dim: int, reference_seconds: Callable[[str, str], float]) -> float:
    return step_seconds(reference_seconds(config["model"], config.get("precision", "fp32")),
                        batch_size=config.get("batch_size", REFERENCE_BATCH),
                        num_snippets=config.get("num_snippets", REFERENCE_SNIPPETS), in_dim=in_dim)


def estimate_plan(specs: list[Any], parallel: int) -> Estimate:
    """:func:`estimate_specs` with the shapes read from the data (feature headers, no data loaded)
    and each network's checkpoint size from its parameter count."""
    from glancevad.data.cache import cache_bytes, cache_folder
    from glancevad.data.dataset import load_dataset
    from glancevad.data.features import feature_shape
    from glancevad.experiments.runner import cache_keys

    if not specs:
        return estimate_specs([], parallel)
    caches, in_dim = [], REFERENCE_DIM
    for data, cache_dir, num_snippets in cache_keys(specs):
        dataset = load_dataset(data)
        _, crops, in_dim = feature_shape(dataset.feature_index("train").locate(dataset.train[0].id))
        built = (cache_folder(dataset, cache_dir, num_snippets=num_snippets) / "meta.json").exists()
        caches.append((cache_bytes(len(dataset.train), crops, num_snippets, in_dim), built))
    return estimate_specs(specs, parallel, in_dim=in_dim, cache=caches,
                          checkpoint_bytes=_checkpoint_bytes(specs, in_dim))


def _checkpoint_bytes(specs: list[Any], in_dim: int) -> dict[str, int]:
    from glancevad.models import build

    sizes = {}
    for spec in {s.config["model"]: s for s in specs}.values():
        model = build(spec.config["model"], in_dim=in_dim, **spec.config.get("model_kwargs", {}))
        sizes[spec.config["model"]] = 4 * CHECKPOINT_COPIES * sum(p.numel() for p in model.parameters())
    return sizes


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError


def describe_estimate(estimate: Estimate) -> list[str]:
    """The estimate as the lines printed before the first run."""
    return [
        f"runs: {estimate.runs} to train or test, {estimate.steps} training steps in all",
        f"time: about {estimate.cpu_seconds / 3600:.1f} CPU-hours, {estimate.wall_seconds / 60:.0f} min wall at "
        f"--parallel {estimate.parallel} (each network's step timed here in the runs' precision, scaled by "
        "batch x N x D)",
        f"disk: {_size(estimate.disk_bytes)} ({_size(estimate.cache_bytes)} training cache, "
        f"{_size(estimate.run_bytes)} checkpoints)",
    ]
