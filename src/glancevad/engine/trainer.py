"""The training loop: a thin layer over the data cache, the sampler, a network and its losses.

Run folder::

    config.yaml     the resolved configuration
    last.pt         the last checkpoint (every ``eval_every`` steps and at the end)
    best.pt         the checkpoint with the best validation score (a held-out share of the
                    *training* videos; the test set is never looked at), among the checkpoints
                    that mining has trained; with ``val_fraction: 0`` the last checkpoint
    metrics.jsonl   losses every ``log_every`` steps, validation scores every ``eval_every``
    tb/             the same as TensorBoard scalars
    summary.json    final figures: steps, selection criterion, best step, timings
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import yaml

from glancevad.config import TrainConfig, make_config
from glancevad.data.cache import TrainingCache, build_or_open_cache
from glancevad.data.dataset import VADDataset, load_dataset, training_key
from glancevad.data.features import feature_shape
from glancevad.engine.checkpoint import link_checkpoint, read_checkpoint, save_checkpoint
from glancevad.engine.distributed import (
    DistributedContext,
    check_batch,
    context_from_env,
    init_process_group,
    shutdown,
)
from glancevad.engine.evaluator import autocast, score_batch, validation_scores
from glancevad.engine.host_memory import retain_freed_memory
from glancevad.engine.prefetch import Prefetcher
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
from glancevad.engine.sampler import PairedSampler, crop_items, split_items
from glancevad.engine.supervision import (
    Role,
    TargetSettings,
    assign_roles,
    centre_targets,
    glance_centres,
    glance_loss,
)
from glancevad.errors import GlanceVADError
from glancevad.fileio import atomic_write, write_json
from glancevad.models import build, check_model_kwargs, get_spec
from glancevad.runtime import resolve_device, resolve_precision
from glancevad.selection import SELECTION_RULES, first_eligible_step, replaces_best, selection_value


def split_validation(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified hold-out: ``fraction`` of each class (at least one when the class has two)."""
    rng = np.random.default_rng(seed)
    val = []
    for label in (0, 1):
        members = np.flatnonzero(labels == label)
        count = int(round(fraction * len(members)))
        if fraction > 0 and len(members) >= 2:
            count = min(max(count, 1), len(members) - 1)
        val.extend(rng.permutation(members)[:count].tolist())
    val_idx = np.array(sorted(val), dtype=np.int64)
    train_idx = np.setdiff1d(np.arange(len(labels)), val_idx)
    return train_idx, val_idx


@dataclass(frozen=True)
class ItemPlan:
    """Which training videos train and which validate, each abnormal video's role, and the items
    (video crops, or whole videos) the sampler draws from."""

    train_idx: np.ndarray
    val_idx: np.ndarray
    roles: dict[int, Role]
    crops_per_video: int
    normal: np.ndarray
    abnormal: np.ndarray


def plan_items(cfg: TrainConfig, labels: np.ndarray, has_glance: np.ndarray, *, ids: list[str],
               crops: int) -> ItemPlan:
    """Split the training videos ``(V,)`` and assign roles; a batch larger than either class's items
    is an error naming both numbers."""
    train_idx, val_idx = split_validation(labels, cfg.val_fraction, cfg.seed)
    abnormal = train_idx[labels[train_idx] == 1]
    normal = train_idx[labels[train_idx] == 0]
    roles = assign_roles(abnormal, has_glance, cfg, ids=ids)
    # an item is one crop of a video (crop_sampling item) or the whole video (average)
    crops_per_video = crops if cfg.crop_sampling == "item" else 1
    normal_items = crop_items(normal, crops_per_video)
    abnormal_items = crop_items(np.array(sorted(roles), dtype=np.int64), crops_per_video)
    for name, items, videos in (("normal", normal_items, normal), ("abnormal", abnormal_items, roles)):
        if cfg.batch_size > len(items):
            raise GlanceVADError(
                f"batch_size {cfg.batch_size} is larger than the {len(items)} {name} training items "
                f"({len(videos)} videos x {crops_per_video} crop(s) per item under crop_sampling "
                f"{cfg.crop_sampling!r})"
            )
    return ItemPlan(train_idx, val_idx, roles, crops_per_video, normal_items, abnormal_items)


def load_training_set(cfg: TrainConfig, data_root: str | os.PathLike) -> VADDataset:
    """The dataset a run trains on; one without training videos is an error."""
    dataset = load_dataset(data_root, glance_csv=cfg.glance_csv)
    if not dataset.train:
        raise GlanceVADError(f"{data_root}: no training videos")
    return dataset


def check_run(cfg: TrainConfig, data_root: str | os.PathLike, ctx: DistributedContext) -> VADDataset:
    """What would stop a run at its start, found before its folder is created: the model keywords,
    the device, the batch against the processes and against the training items (read from the
    feature files' headers, no data loaded). Returns the dataset."""
    check_model_kwargs(cfg.model, cfg.model_kwargs)
    check_batch(cfg.batch_size, ctx)
    resolve_device(cfg.device)
    dataset = load_training_set(cfg, data_root)
    crops = feature_shape(dataset.feature_index("train").locate(dataset.train[0].id))[1]
    plan_items(cfg, np.array([v.label for v in dataset.train], dtype=np.int64),
               np.array([bool(v.glances) for v in dataset.train]), ids=[v.id for v in dataset.train], crops=crops)
    return dataset


@dataclass
class StepTimer:
    """Wall time of a step's parts: data (sampling, cache reads), forward (with the base loss),
    targets (mining, splatting, ``L_abn``), backward and the optimiser update; and the first step of
    the process alone (its warm-up: allocations, and compiling under ``compile: true``)."""

    data: float = 0.0
    forward: float = 0.0
    targets: float = 0.0
    backward: float = 0.0
    optimiser: float = 0.0
    steps: int = 0
    first_step_seconds: float = math.nan

    PARTS = ("data", "forward", "targets", "backward", "optimiser")

    def as_dict(self) -> dict[str, float]:
        total = sum(getattr(self, part) for part in self.PARTS)
        share = {f"{part}_fraction": getattr(self, part) / total if total else math.nan for part in self.PARTS}
        return {
            "steps_timed": self.steps,
            "seconds_per_step": total / max(self.steps, 1),
            **share,
            "overhead_fraction": (self.data + self.targets) / total if total else math.nan,
            "first_step_seconds": self.first_step_seconds,
        }


@dataclass(frozen=True)
class Batch:
    """One step's input: features ``x`` of ``normal`` normal items then the abnormal ones, each
    abnormal item's MIL weight, which abnormal rows are glance-supervised, and their glance masks."""

    x: torch.Tensor
    normal: int
    mil_weight: torch.Tensor
    glance_rows: np.ndarray
    glance_masks: torch.Tensor


@dataclass
class TrainResult:
    """Where the run went and what it measured."""

    run_dir: Path
    summary: dict[str, Any] = field(default_factory=dict)


class Trainer:
    """One training run of one network under one supervision; see the module docstring.

    On the CPU, making a trainer keeps freed host memory in the process
    (:func:`glancevad.engine.host_memory.retain_freed_memory`): a glibc setting, process-wide and
    permanent, so everything later in the process (validation, hooks, a grid worker's tests of the
    run) allocates that way too.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        data: str | os.PathLike | VADDataset,
        run_dir: str | os.PathLike,
        *,
        cache_dir: str | os.PathLike | None = None,
        on_cache: Callable[[int, int], None] | None = None,
        dist_ctx: DistributedContext | None = None,
    ):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.dist = dist_ctx or DistributedContext()
        check_batch(cfg.batch_size, self.dist)
        self.device = init_process_group(self.dist, resolve_device(cfg.device))
        dataset = data if isinstance(data, VADDataset) else load_training_set(cfg, data)
        with self.dist.main_first():  # one process builds the cache, the others open it
            self.cache: TrainingCache = build_or_open_cache(
                dataset, cache_dir or self.run_dir / "cache", num_snippets=cfg.num_snippets,
                on_video=on_cache if self.dist.is_main else None,
            )
        items = plan_items(cfg, self.cache.labels, self.cache.glances.any(axis=1), ids=self.cache.ids,
                           crops=self.cache.crops)
        self.train_idx, self.val_idx, self.roles = items.train_idx, items.val_idx, items.roles
        self.crops_per_video = items.crops_per_video
        normal_items, abnormal_items = items.normal, items.abnormal
        self.spec = get_spec(cfg.model)
        self.loss_settings = cfg.loss_settings
        torch.manual_seed(cfg.seed)
        self.model = build(cfg.model, in_dim=self.cache.in_dim, **cfg.model_kwargs).to(self.device)
        self.step_model = self.model  # what a training step calls: the model or its DDP wrapper, maybe compiled
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            if self.device.type == "cuda":  # batch statistics over the whole batch (RTFM's batch norm)
                self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            self.step_model = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
            torch.manual_seed(cfg.seed + self.dist.rank)  # rank 0 draws what a single process would
        if cfg.compile:   # compiled on the first step (reported apart in the run's timing: compile_seconds)
            self.step_model = torch.compile(self.step_model)
        # fused: one kernel updates every parameter (the same Adam, without a loop over parameters)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                                          fused=self.device.type in ("cpu", "cuda"))
        if self.device.type == "cpu":
            # the steps reuse their pages instead of faulting them in anew; for the whole process, for good
            retain_freed_memory()
        self.sampler = PairedSampler(normal_items, abnormal_items, cfg.batch_size, cfg.seed)
        self.prefetcher: Prefetcher[np.ndarray] = Prefetcher()   # the next batch's cache reads, during a step
        self.glance_masks = torch.from_numpy(self.cache.glances)
        self.targets = TargetSettings.from_config(cfg)
        self.uses_glances = any(role == Role.GLANCE for role in self.roles.values())
        self.first_eligible = first_eligible_step(
            mining=cfg.mining, min_mining_step=cfg.min_mining_step, uses_glances=self.uses_glances)
        self.step = 0
        self.best: dict[str, Any] = {"score": -math.inf, "step": None}
        self.timer = StepTimer()

    # ----- checkpoints -----
    def checkpoint_payload(self) -> dict[str, Any]:
        """Everything a checkpoint holds: weights, optimiser, step, sampler and RNG state, config."""
        return {
            "model_state": self.model.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "step": self.step,
            "sampler_state": self.sampler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "best": self.best,
            "config": self.cfg.to_dict(),
            "model_name": self.cfg.model,
            "model_kwargs": {**self.cfg.model_kwargs, "in_dim": self.cache.in_dim},
            "crops": self.cache.crops,
        }

    def restore(self, path: Path) -> None:
        """Continue from a checkpoint of this run."""
        state = read_checkpoint(path)
        trained_dim = state.get("model_kwargs", {}).get("in_dim")
        if trained_dim is not None and trained_dim != self.cache.in_dim:
            raise GlanceVADError(f"{path}: the run was trained on {trained_dim}-d features, the data has "
                                 f"{self.cache.in_dim}-d (resume with the run's own --data)")
        if state.get("crops") not in (None, self.cache.crops):
            raise GlanceVADError(f"{path}: the run was trained on {state['crops']} crops per snippet, the data has "
                                 f"{self.cache.crops}")
        if "sampler_state" not in state or "optimizer_state" not in state:
            raise GlanceVADError(f"{path}: not a training checkpoint of glancevad (no optimiser or sampler state)")
        self.model.load_state_dict(state["model_state"])
        self.optimizer.load_state_dict(state["optimizer_state"])
        self.sampler.load_state_dict(state["sampler_state"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.step = int(state["step"])
        self.best = state["best"]

    # ----- one step -----
    def read_items(self, items: np.ndarray) -> np.ndarray:
        """Features of sampled items: ``(b, N, D)`` single crops, or ``(b, crops, N, D)`` whole videos."""
        videos, crops = split_items(items, self.crops_per_video)
        if self.cfg.crop_sampling == "item":
            return self.cache.crop_rows(videos, crops)
        return self.cache.rows(videos)

    def assemble(self, normal: np.ndarray, abnormal: np.ndarray, features: np.ndarray | None = None) -> Batch:
        """The tensors of a step on these normal and abnormal items (on the trainer's device);
        ``features``: their :meth:`read_items`, when already read."""
        abnormal_videos = split_items(abnormal, self.crops_per_video)[0]
        if features is None:
            features = self.read_items(np.concatenate([normal, abnormal]))
        x = torch.from_numpy(features).to(self.device, non_blocking=True)
        roles = np.array([self.roles[int(v)] for v in abnormal_videos])
        mil_weight = torch.tensor(np.where(roles == Role.WEAK, 1.0, self.cfg.abnormal_mil_weight),
                                  dtype=torch.float32, device=self.device)
        glance_rows = np.flatnonzero(roles == Role.GLANCE)
        masks = self.glance_masks[abnormal_videos[glance_rows]].to(self.device)
        return Batch(x, len(normal), mil_weight, glance_rows, masks)

    def train_step(self) -> dict[str, float]:
        """One optimisation step on this process's slice of the next paired batch.

        The network's base loss sees every item; ``L_abn`` (BCE against the TGS targets, mined
        from each item's own scores) the glance-supervised abnormal items. Returns the logged losses.
        """
        cfg = self.cfg
        t0 = time.perf_counter()
        normal, abnormal = self.sampler.next()  # the global batch; this process trains on its slice
        abnormal_videos = split_items(abnormal, self.crops_per_video)[0]
        glances_in_batch = sum(self.roles[int(v)] == Role.GLANCE for v in abnormal_videos)
        batch = self.assemble(*self._read_batch(normal, abnormal))
        x, mil_weight, glance_rows, masks = batch.x, batch.mil_weight, batch.glance_rows, batch.glance_masks
        t1 = time.perf_counter()
        self.model.train()
        with autocast(self.device, cfg.precision):
            outputs = self.step_model(x)
        outputs = {k: v.float() for k, v in outputs.items()}
        base, terms = self.spec.base_loss(outputs, mil_weight, self.loss_settings)
        t2 = time.perf_counter()
        abnormal_scores = outputs["scores"][batch.normal:]
        loss_abn = torch.zeros((), device=self.device)
        mined_share = math.nan
        if len(glance_rows):
            rows = torch.from_numpy(glance_rows).to(self.device)
            glance_scores = abnormal_scores[rows]
            centres = glance_centres(self.mining_scores(glance_scores, x, rows + batch.normal), masks, self.step,
                                     self.targets)
            loss_abn = glance_loss(glance_scores, centre_targets(centres, self.targets),
                                   batch_items=glances_in_batch, world=self.dist.world)
            mined_share = float(centres.float().mean())
        t3 = time.perf_counter()
        total = base + loss_abn
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        t4 = time.perf_counter()
        self.optimizer.step()
        t5 = time.perf_counter()
        timer = self.timer
        timer.data += t1 - t0
        timer.forward += t2 - t1
        timer.targets += t3 - t2
        timer.backward += t4 - t3
        timer.optimiser += t5 - t4
        if timer.steps == 0:
            timer.first_step_seconds = t5 - t0
        timer.steps += 1
        self.step += 1
        values = {"loss": float(total.detach()), "loss_abn": float(loss_abn.detach()), **terms}
        if self.uses_glances:
            # the share of the glance items' snippets that are kernel centres (glances + mined): a
            # mining runaway shows as this share growing towards 1 (NaN: no glance item in the batch)
            values["mined_share"] = mined_share
        if self.dist.enabled:  # report the whole batch's values: the mean over the processes that have them
            packed = torch.tensor(list(values.values()), dtype=torch.float64)
            present = (~packed.isnan()).double()
            sums = torch.stack([packed.nan_to_num(0.0), present])
            dist.all_reduce(sums)
            values = dict(zip(values, (sums[0] / sums[1]).tolist(), strict=True))
        return values

    def _read_batch(self, normal: np.ndarray, abnormal: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """This process's slice of the batch and its features (read ahead during the previous step
        when they were the batch it peeked); then starts reading the next batch's slice."""
        mine = self.dist.shard(normal), self.dist.shard(abnormal)
        features = self.prefetcher.take(_items_key(*mine), lambda: self.read_items(np.concatenate(mine)))
        upcoming = tuple(self.dist.shard(part) for part in self.sampler.peek())
        self.prefetcher.submit(_items_key(*upcoming), lambda: self.read_items(np.concatenate(upcoming)))
        return *mine, features

    def mining_scores(self, train_scores: torch.Tensor, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The scores mining walks on (``cfg.mining_scores``, ``auto`` resolved by the network): the
        training forward's ``train_scores`` of the glance items, or, with ``eval``, those of a
        forward without dropout or gradient over the glance items, rows ``rows`` of the batch ``x``
        (only once mining has started: the glances alone need no scores)."""
        if self.cfg.mining_from == "train" or not self.targets.mines_at(self.step):
            return train_scores.detach()
        self.model.eval()
        try:
            with torch.no_grad(), autocast(self.device, self.cfg.precision):
                return self.model(x[rows]).float()
        finally:
            self.model.train()

    def validate(self) -> dict[str, float]:
        """Selection scores on the held-out training videos (resampled to N, as in training)."""
        if len(self.val_idx) == 0:
            return {"glance_auc": math.nan, "video_auc": math.nan}
        scores = np.concatenate([
            score_batch(self.model, torch.from_numpy(self.cache.rows(chunk)), device=self.device,
                        precision=self.cfg.precision)
            for chunk in np.array_split(self.val_idx, max(1, math.ceil(len(self.val_idx) / 16)))
        ])
        return validation_scores(scores, self.cache.labels[self.val_idx], self.cache.glances[self.val_idx])


def _items_key(normal: np.ndarray, abnormal: np.ndarray) -> tuple[bytes, bytes]:
    return normal.tobytes(), abnormal.tobytes()


def _selection_text(trainer: Trainer) -> str:
    """What best.pt is, in words, for summary.json and the reports."""
    if len(trainer.val_idx) == 0:
        return "best.pt: the last checkpoint (val_fraction 0: every training video trains); last.pt: the last step"
    eligible = (f", among checkpoints from step {trainer.first_eligible} on (after mining started)"
                if trainer.first_eligible > 1 else "")
    rule = SELECTION_RULES[trainer.cfg.selection_rule].description
    return (f"best.pt: {rule} on {len(trainer.val_idx)} held-out training videos{eligible}; last.pt: the last step")


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
    on_eval: Callable[[int, torch.nn.Module, dict[str, float]], None] | None = None,
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
    ``on_eval(step, model, validation_scores)`` is called on rank 0 after each validation (for
    studies of selection; it must not change the model).
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
                             stop_after=stop_after, steps=steps, on_eval=on_eval, dataset=dataset,
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
    on_eval: Callable[[int, torch.nn.Module, dict[str, float]], None] | None,
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
        _loop(trainer, run_dir, resume=resume, progress=progress, stop_after=stop_after, on_eval=on_eval)
    finally:
        shutdown(ctx)
    summary = {
        "steps": trainer.step,
        "finished": trainer.step >= cfg.steps,
        "selection": _selection_text(trainer),
        "best": trainer.best,
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


def _select(trainer: Trainer, step: int, val: dict[str, float]) -> dict[str, Any] | None:
    """The new selection record if the checkpoint of ``step`` becomes ``best.pt``, else ``None``.

    Without validation videos every checkpoint is the best (``best.pt`` is ``last.pt``). Otherwise
    a checkpoint must be eligible (see ``first_eligible_step``) and beat the best so far; the last
    step of a run that never reached an eligible one is taken, and the record says so.
    """
    cfg = trainer.cfg
    if len(trainer.val_idx) == 0:
        return {"score": None, "step": step, "rule": "last (no validation videos)", **val}
    value = selection_value(val, cfg.selection_rule)
    # a fallback record counts as none: the first eligible checkpoint replaces it when a run is extended
    best_step = None if trainer.best.get("fallback") else trainer.best["step"]
    if replaces_best(step, value, best_step, trainer.best["score"], first_eligible=trainer.first_eligible):
        return {"score": value, "step": step, "rule": cfg.selection_rule, **val}
    if step < trainer.first_eligible and step == cfg.steps and trainer.best["step"] is None:
        return {"score": value, "step": step, "rule": cfg.selection_rule, "fallback": True, **val}
    return None


def _loop(trainer: Trainer, run_dir: Path, *, resume: bool, progress: Any, stop_after: int | None,
          on_eval: Callable[[int, torch.nn.Module, dict[str, float]], None] | None = None) -> None:
    """The step loop; logging, validation and checkpoints happen on rank 0 only."""
    cfg, main = trainer.cfg, trainer.dist.is_main
    writer = log = task = None
    if main:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(run_dir / "tb"), purge_step=trainer.step + 1 if resume else None)
        log = open(run_dir / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115 (closed below)
        if progress is not None:
            task = progress.add_task(f"training {cfg.model}/{cfg.supervision}", total=cfg.steps,
                                     completed=trainer.step, info="")
    steps_this_call = 0
    try:
        while trainer.step < cfg.steps and (stop_after is None or steps_this_call < stop_after):
            values = trainer.train_step()
            steps_this_call += 1
            step = trainer.step
            if not main:
                continue
            if step % cfg.log_every == 0 or step == cfg.steps:
                log.write(json.dumps({"step": step, **values}) + "\n")
                log.flush()
                for key, value in values.items():
                    writer.add_scalar(f"train/{key}", value, step)
            if step % cfg.eval_every == 0 or step == cfg.steps:
                val = trainer.validate()
                log.write(json.dumps({"step": step, **{f"val_{k}": v for k, v in val.items()}}) + "\n")
                log.flush()
                for key, value in val.items():
                    writer.add_scalar(f"val/{key}", value, step)
                candidate = _select(trainer, step, val)
                if candidate is not None:
                    trainer.best = candidate
                save_checkpoint(run_dir / "last.pt", trainer.checkpoint_payload())
                if candidate is not None:
                    link_checkpoint(run_dir / "last.pt", run_dir / "best.pt")
                if on_eval is not None:
                    on_eval(step, trainer.model, val)
            if task is not None:
                progress.update(task, completed=step, info=f"loss {values['loss']:.3f}")
    finally:
        if log is not None:
            log.close()
            writer.close()
