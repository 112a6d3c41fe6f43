"""A training run in its folder: the lock, resume, the recorded data, the configuration and the summary.

Run folder::

    config.yaml     the resolved configuration
    data.json       the data root, cache folder and training key the run trains on
    last.pt         the last checkpoint (every ``eval_every`` steps and at the end)
    best.pt         the checkpoint with the best validation score (a held-out share of the
                    *training* videos; the test set is never looked at), among the checkpoints
                    that mining has trained; with ``val_fraction: 0`` the last checkpoint
    metrics.jsonl   losses every ``log_every`` steps, validation scores every ``eval_every``
    tb/             the same as TensorBoard scalars
    summary.json    final figures: steps, selection criterion, best step, timings

The steps are the :class:`~glancevad.engine.trainer.Trainer`'s; the files above except
``config.yaml``, ``data.json`` and ``summary.json`` are written by its callbacks
(:func:`glancevad.engine.callbacks.default_callbacks`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from glancevad.config import TrainConfig, make_config
from glancevad.data.dataset import VADDataset, training_key
from glancevad.engine.callbacks import Callback, ModelSelection, default_callbacks
from glancevad.engine.checkpoint import link_checkpoint, read_checkpoint
from glancevad.engine.distributed import DistributedContext, context_from_env, shutdown
from glancevad.engine.items import check_run, load_training_set
from glancevad.engine.run_folder import (
    DATA_NAME,
    RunLock,
    read_run_config,
    read_run_data,
    refuse_if_locked,
    remove_stale_temporaries,
    truncate_log,
    write_run_data,
)
from glancevad.engine.supervision import Role
from glancevad.engine.trainer import Trainer
from glancevad.errors import GlanceVADError
from glancevad.fileio import atomic_write, write_json
from glancevad.runtime import resolve_device, resolve_precision


@dataclass
class TrainResult:
    """Where the run went and what it measured."""

    run_dir: Path
    summary: dict[str, Any] = field(default_factory=dict)


def train(
    cfg: TrainConfig | None,
    data_root: str | os.PathLike | None,
    run_dir: str | os.PathLike,
    *,
    resume: bool = False,
    cache_dir: str | os.PathLike | None = None,
    progress: Callable[..., Any] | None = None,
    stop_after: int | None = None,
    steps: int | None = None,
    dist_ctx: DistributedContext | None = None,
    callbacks: Sequence[Callback] = (),
) -> TrainResult:
    """Train (or continue) a run; returns the run folder and its summary.

    ``resume`` continues from ``run_dir/last.pt`` with the run's saved configuration (``cfg`` may
    be ``None``); ``steps`` then sets a new total (to train a finished run longer). A run records
    its data root and cache folder (``data.json``): resuming, ``data_root`` and ``cache_dir`` default
    to those, and a ``data_root`` given must hold the same training set (compared by content, so a
    moved dataset is fine). ``progress`` is a
    rich ``Progress`` for the cache build and step bars. ``stop_after`` ends the loop early after
    that many steps of this call (tests of resumption). Under torchrun (``dist_ctx``, read from the
    environment by default) every process calls this; rank 0 alone writes the run folder.
    ``callbacks`` are called after the run's own (:func:`~glancevad.engine.callbacks.default_callbacks`:
    the logs, selection, checkpoints and the progress bar), on rank 0; they must not change the model
    (studies of selection trace the test set with :class:`~glancevad.engine.callbacks.OnValidation`).
    """
    ctx = dist_ctx or context_from_env()
    run_dir = Path(run_dir)
    last = run_dir / "last.pt"
    if resume and not last.exists():
        raise GlanceVADError(f"{run_dir}: nothing to resume (no last.pt)")
    if not resume and last.exists():
        refuse_if_locked(run_dir)   # a live owner is the truer answer: that run is still training there
        raise GlanceVADError(f"{run_dir}: already holds a run; pass --resume to continue it or choose another --out")
    dataset = None
    if resume:
        data_root, cache_dir, recorded_key = _recorded_data(run_dir, data_root, cache_dir)
    else:
        if data_root is None:
            raise GlanceVADError("a new run needs its dataset (--data)")
        if cfg is None:
            raise ValueError("a new run needs its configuration")
        dataset = check_run(cfg, data_root, ctx)   # before anything is written
        recorded_key = None
    # one writer per run folder, taken before anything is written (rank 0 writes the folder)
    with RunLock(run_dir) if ctx.is_main else contextlib.nullcontext():
        return _train_locked(cfg, data_root, run_dir, ctx, resume=resume, cache_dir=cache_dir, progress=progress,
                             stop_after=stop_after, steps=steps, callbacks=callbacks, dataset=dataset,
                             recorded_key=recorded_key)


def _recorded_data(run_dir: Path, data_root: str | os.PathLike | None, cache_dir: str | os.PathLike | None,
                   ) -> tuple[str | os.PathLike, str | os.PathLike | None, str | None]:
    """The data root and cache folder a resumed run uses (those given, else those it recorded) and
    the training key to check the data against (``None``: a run that recorded none)."""
    recorded = read_run_data(run_dir)
    if recorded is None:
        if data_root is None:
            raise GlanceVADError(f"{run_dir}: the run does not record its dataset (it predates data.json); "
                                 "pass --data")
        return data_root, cache_dir, None
    if data_root is None:
        data_root = Path(recorded["data"])
        if not data_root.is_dir():
            raise GlanceVADError(f"{run_dir}: the run was trained on {data_root}, which is not there any more; "
                                 "pass --data with the dataset's new place")
    if cache_dir is None and recorded.get("cache_dir"):
        cache_dir = recorded["cache_dir"]
    return data_root, cache_dir, recorded.get("training_key")


def _train_locked(
    cfg: TrainConfig | None, data_root: str | os.PathLike, run_dir: Path, ctx: DistributedContext, *,
    resume: bool, cache_dir: str | os.PathLike | None, progress: Any, stop_after: int | None, steps: int | None,
    callbacks: Sequence[Callback],
    dataset: VADDataset | None, recorded_key: str | None,
) -> TrainResult:
    """The body of :func:`train`, run while the run folder is locked."""
    last = run_dir / "last.pt"
    if resume:
        cfg = read_run_config(run_dir)
        if steps is not None:
            trained = int(read_checkpoint(last)["step"]) if last.exists() else 0
            if steps < trained:
                raise GlanceVADError(f"{run_dir}: --steps {steps} is fewer than the {trained} steps it has trained "
                                     "(--steps sets a new total; a run does not train backwards)")
            cfg = make_config({**cfg.to_dict(), "steps": steps})
    assert cfg is not None
    resolved = {}  # a run records the precision and mining scores it trains with, so a resumed one keeps them
    if cfg.precision == "auto":
        resolved["precision"] = resolve_precision("auto", resolve_device(cfg.device))
    if cfg.mining_scores == "auto":
        resolved["mining_scores"] = cfg.mining_from
    if resolved:
        cfg = make_config({**cfg.to_dict(), **resolved})
    if dataset is None:
        dataset = load_training_set(cfg, data_root)
    key = training_key(dataset)
    if recorded_key is not None and key != recorded_key:
        raise GlanceVADError(f"{data_root}: not the training set this run was trained on (its videos, labels, "
                             f"glances or feature shapes differ from those recorded in {run_dir / DATA_NAME})")
    main = ctx.is_main
    if main:
        remove_stale_temporaries(run_dir)  # left by a writer killed mid-write; we hold the lock
        with atomic_write(run_dir / "config.yaml", "w") as handle:
            yaml.safe_dump(cfg.to_dict(), handle, sort_keys=False)
    else:
        progress = None

    cache_task = None

    def on_cache(done: int, total: int) -> None:
        nonlocal cache_task
        if progress is None:
            return
        if cache_task is None:
            cache_task = progress.add_task("caching (resample to N)", total=total, info="")
        progress.update(cache_task, completed=done)

    trainer = Trainer(cfg, dataset, run_dir, cache_dir=cache_dir, on_cache=on_cache, dist_ctx=ctx)
    if resume:
        trainer.restore(last)
        if main and trainer.best.get("step") == trainer.step:
            # killed between saving last.pt and linking best.pt: make best.pt what last.pt records
            link_checkpoint(last, run_dir / "best.pt")
    if main:  # once the data is known to fit the run (a moved dataset: its new place)
        write_run_data(run_dir, data_root=data_root, cache_dir=cache_dir, key=key)
    try:
        if main:
            truncate_log(run_dir / "metrics.jsonl", trainer.step)
        trainer.fit([*default_callbacks(run_dir, progress), *callbacks], stop_after=stop_after)
    finally:
        shutdown(ctx)
    summary = {
        "steps": trainer.step,
        "finished": trainer.step >= cfg.steps,
        "selection": ModelSelection.describe(trainer),
        "best": trainer.best,
        "selection_note": ModelSelection.ties_note(trainer.best),
        "train_videos": len(trainer.train_idx),
        "abnormal_roles": {"glance": sum(r == Role.GLANCE for r in trainer.roles.values()),
                           "weak": sum(r == Role.WEAK for r in trainer.roles.values())},
        "device": str(trainer.device),
        "precision": cfg.precision,
        "processes": ctx.world,
        "timing": trainer.timer.as_dict(),
        "cache": str(trainer.cache.folder),
        "data": str(data_root),
    }
    if main:
        write_json(run_dir / "summary.json", summary)
    return TrainResult(run_dir=run_dir, summary=summary)
