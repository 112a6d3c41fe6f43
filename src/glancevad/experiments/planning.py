"""Before anything trains: the preset a dataset implies, whether a budget suits it, and what the
runs will cost (steps, CPU time, disk).

``glancevad paper`` and ``glancevad experiment`` print :func:`describe_estimate` and the chosen
preset before their first run. The CPU time is each network's step timed on this machine, in the
runs' precision, at the runs' own N, feature dimension and crops per item (:func:`measure_step_seconds`,
a few seconds per shape), with up to :data:`TIMED_BATCH` items per class and scaled by the batch
(the networks' width is fixed, so their cost does not scale with D: a step at D = 1024 costs about
as much as at D = 128 plus the first layer). To the steps each run adds its validation passes and its
two tests, priced per snippet at a third of a training step's cost per snippet (a forward without
the backward). Costs are not recorded once for all: a CPU without bf16 units trains the demo in
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

#: The default shape of a timed step: the demo preset (batch 8 + 8, N = 128) on demo-sized synthetic
#: data (D = 128). Steps are timed on one thread (grid runs train one thread each, a run per core).
REFERENCE_BATCH, REFERENCE_SNIPPETS, REFERENCE_DIM = 8, 128, 128

#: At most this many items per class in a timed step; a larger batch is scaled by its size (the
#: cost per item is flat from a few items on, at a given N, D and crops).
TIMED_BATCH = 8

#: A forward pass costs about this share of a training step (forward, backward, Adam) per snippet:
#: what validation and testing are priced at.
FORWARD_SHARE = 1 / 3

#: The time a run spends outside its steps and its validation and test forwards (loading, building the
#: network, checkpoints, metrics): about 5 s for a short UCF-shaped MIL run (``benchmarks/run.py planner``).
SECONDS_PER_RUN = 5.0

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
                         snippets: int = REFERENCE_SNIPPETS, dim: int = REFERENCE_DIM, crops: int = 1,
                         repeat: int = 2, threads: int | None = None) -> float:
    """Best CPU seconds of one training step of the network alone (forward, base loss, backward,
    Adam) on random features, ``batch`` normal + ``batch`` abnormal items of ``crops`` x ``snippets``
    x ``dim``, after one warm-up step; ``threads`` torch threads while it runs (default: as set)."""
    import time

    import torch

    from glancevad.engine.scoring import autocast
    from glancevad.models import build, get_spec

    cpu = torch.device("cpu")
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        generator = torch.Generator().manual_seed(0)
        network = build(model, in_dim=dim).train()
        optimiser = torch.optim.Adam(network.parameters(), lr=1e-4)
        x = torch.rand(2 * batch, *((crops,) if crops > 1 else ()), snippets, dim, generator=generator)
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
def measure_step_seconds(model: str, precision: str, *, snippets: int = REFERENCE_SNIPPETS,
                         dim: int = REFERENCE_DIM, crops: int = 1, batch: int = REFERENCE_BATCH) -> float:
    """CPU seconds of one training step of ``model`` at this shape (``batch`` items of ``crops`` x
    ``snippets`` x ``dim`` per class), on this machine, one thread (as a grid run trains), in
    ``precision`` (``auto`` resolved as a run would): timed with up to :data:`TIMED_BATCH` items per
    class and scaled by the batch; once per shape and process."""
    timed = min(batch, TIMED_BATCH)
    seconds = network_step_seconds(model, precision, batch=timed, snippets=snippets, dim=dim, crops=crops, threads=1)
    return seconds * batch / timed


@dataclass(frozen=True)
class DataShape:
    """What a plan's cost depends on in its data: the feature dimension, crops per snippet, the
    number of training videos of each class and the test set's snippets (summed over videos)."""

    in_dim: int = REFERENCE_DIM
    crops: int = 1
    train_videos: tuple[int, int] = (0, 0)   # (normal, abnormal)
    test_snippets: int = 0


def run_seconds(config: dict[str, Any], shape: DataShape, step: float) -> float:
    """One run's CPU seconds: its steps at ``step`` seconds each, its validation passes over the
    held-out videos (all crops, N snippets), its two tests (``best.pt``, ``last.pt``; all crops),
    and :data:`SECONDS_PER_RUN`."""
    batch = config.get("batch_size", REFERENCE_BATCH)
    snippets = config.get("num_snippets", REFERENCE_SNIPPETS)
    crops_per_item = shape.crops if config.get("crop_sampling", "item") == "average" else 1
    per_snippet = FORWARD_SHARE * step / (2 * batch * crops_per_item * snippets)
    fraction = config.get("val_fraction", 0.0)
    held_out = sum(min(max(round(fraction * n), 1), n - 1) if fraction > 0 and n >= 2 else round(fraction * n)
                   for n in shape.train_videos)
    validations = config.get("steps", 0) // config.get("eval_every", 50) if held_out else 0
    forward_snippets = validations * held_out * shape.crops * snippets + 2 * shape.test_snippets * shape.crops
    return config.get("steps", 0) * step + forward_snippets * per_snippet + SECONDS_PER_RUN


def step_seconds_at(config: dict[str, Any], shape: DataShape) -> float:
    """A step's CPU seconds for a run of this config on data of this shape, timed here."""
    average = config.get("crop_sampling", "item") == "average"
    return measure_step_seconds(config["model"], config.get("precision", "fp32"),
                                snippets=config.get("num_snippets", REFERENCE_SNIPPETS), dim=shape.in_dim,
                                crops=shape.crops if average else 1, batch=config.get("batch_size", REFERENCE_BATCH))


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


def estimate_specs(specs: list[Any], parallel: int, *, shape: DataShape = DataShape(),
                   cache: list[tuple[int, bool]] = (), checkpoint_bytes: dict[str, int] | None = None,
                   step_seconds: Callable[[dict[str, Any], DataShape], float] | None = None) -> Estimate:
    """The cost of the unfinished ``specs`` (``runner.RunSpec``) at ``parallel`` runs at once.

    ``shape``: the data's (:class:`DataShape`); ``cache``: ``(bytes, built)`` of each distinct
    training cache; ``checkpoint_bytes``: one checkpoint's size per network; ``step_seconds(config,
    shape)``: a step's cost (timed here by default, :func:`step_seconds_at`). A run whose
    ``test/last/metrics.json`` exists is finished.
    """
    todo = [s for s in specs if not (Path(s.run_dir) / "test" / "last" / "metrics.json").exists()]
    step_seconds = step_seconds or step_seconds_at
    cpu = sum(run_seconds(s.config, shape, step_seconds(s.config, shape)) for s in todo)
    lanes = max(1, min(parallel, os.cpu_count() or 1))
    sizes = checkpoint_bytes or {}
    return Estimate(runs=len(todo), steps=sum(s.config["steps"] for s in todo), cpu_seconds=cpu,
                    wall_seconds=cpu / lanes, parallel=parallel,
                    cache_bytes=sum(size for size, built in cache if not built),
                    run_bytes=sum(CHECKPOINTS_PER_RUN * sizes.get(s.config["model"], 0) for s in todo))


def estimate_plan(specs: list[Any], parallel: int) -> Estimate:
    """:func:`estimate_specs` with the shapes read from the data (feature headers, no data loaded)
    and each network's checkpoint size from its parameter count."""
    from glancevad.data.cache import cache_bytes, cache_folder
    from glancevad.data.dataset import load_dataset
    from glancevad.data.feature_files import feature_shape
    from glancevad.experiments.runner import cache_keys

    if not specs:
        return estimate_specs([], parallel)
    caches, shape = [], DataShape()
    for data, cache_dir, num_snippets in cache_keys(specs):
        dataset = load_dataset(data)
        _, crops, in_dim = feature_shape(dataset.feature_index("train").locate(dataset.train[0].id))
        built = (cache_folder(dataset, cache_dir, num_snippets=num_snippets) / "meta.json").exists()
        caches.append((cache_bytes(len(dataset.train), crops, num_snippets, in_dim), built))
        test_index = dataset.feature_index("test")
        labels = [v.label for v in dataset.train]
        shape = DataShape(in_dim=in_dim, crops=crops, train_videos=(labels.count(0), labels.count(1)),
                          test_snippets=sum(feature_shape(test_index.locate(v.id))[0] for v in dataset.test))
    return estimate_specs(specs, parallel, shape=shape, cache=caches,
                          checkpoint_bytes=_checkpoint_bytes(specs, shape.in_dim))


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
        f"--parallel {estimate.parallel} (each network's step timed here at the runs' shape and precision, "
        "plus validation and tests)",
        f"disk: {_size(estimate.disk_bytes)} ({_size(estimate.cache_bytes)} training cache, "
        f"{_size(estimate.run_bytes)} checkpoints)",
    ]
