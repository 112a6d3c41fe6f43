"""The trainer: one network, one supervision, its step and its loop over the cached training set.

:class:`Trainer` builds the network, optimiser and sampler over the data cache, takes a step
(:meth:`Trainer.train_step`: the base loss of every item, ``L_abn`` of the glance items),
validates on held-out training videos, and loops (:meth:`Trainer.fit`) with everything else
(logs, selection, checkpoints, progress) as callbacks (:mod:`glancevad.engine.callbacks`). A run in
its folder (lock, resume, the recorded data, ``summary.json``) is :func:`glancevad.engine.run.train`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from glancevad.checkpoint_selection import first_eligible_step
from glancevad.config import TrainConfig
from glancevad.data.cache import TrainingCache, build_or_open_cache
from glancevad.data.dataset import VADDataset
from glancevad.engine.checkpoint import read_checkpoint
from glancevad.engine.distributed import DistributedContext, check_batch, init_process_group
from glancevad.engine.host_memory import retain_freed_memory
from glancevad.engine.items import load_training_set, plan_items
from glancevad.engine.prefetch import Prefetcher
from glancevad.engine.sampler import PairedSampler, split_items
from glancevad.engine.scoring import autocast, score_batch, validation_scores
from glancevad.engine.step_timer import StepTimer
from glancevad.engine.supervision import Role, TargetSettings, centre_targets, glance_centres, glance_loss
from glancevad.errors import GlanceVADError
from glancevad.models import build, get_spec
from glancevad.runtime import resolve_device


class Callback:
    """A hook of :meth:`Trainer.fit`; each method does nothing unless overridden. Called on rank 0, in list order:

    * ``on_fit_start(trainer)`` — before the first step of this call (resumed: ``trainer.step > 0``);
    * ``on_log(trainer, step, values)`` — every ``log_every`` steps and at the last, with the losses;
    * ``on_validation_end(trainer, step, scores)`` — every ``eval_every`` steps and at the last, with
      the validation scores;
    * ``on_step_end(trainer, step, values)`` — after every step (and after the two above);
    * ``on_fit_end(trainer)`` — always, also when a step raised (close files here).

    A callback must not change the model. The run's own are in :mod:`glancevad.engine.callbacks`.
    """

    def on_fit_start(self, trainer: Trainer) -> None: ...

    def on_log(self, trainer: Trainer, step: int, values: dict[str, float]) -> None: ...

    def on_validation_end(self, trainer: Trainer, step: int, scores: dict[str, float]) -> None: ...

    def on_step_end(self, trainer: Trainer, step: int, values: dict[str, float]) -> None: ...

    def on_fit_end(self, trainer: Trainer) -> None: ...


@dataclass(frozen=True)
class Batch:
    """One step's input: features ``x`` of ``normal`` normal items then the abnormal ones, each
    abnormal item's MIL weight, which abnormal rows are glance-supervised, and their glance masks."""

    x: torch.Tensor
    normal: int
    mil_weight: torch.Tensor
    glance_rows: np.ndarray
    glance_masks: torch.Tensor


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


    # ----- the loop -----
    def fit(self, callbacks: Sequence[Callback] = (), *, stop_after: int | None = None) -> None:
        """Train to ``cfg.steps`` (or ``stop_after`` more steps), validating every ``eval_every``.

        Everything around the steps (logs, selection, checkpoints, progress) is a
        :class:`~glancevad.engine.callbacks.Callback`, called on rank 0 only; see that module.
        """
        cfg = self.cfg
        hooks = list(callbacks) if self.dist.is_main else []
        for callback in hooks:
            callback.on_fit_start(self)
        steps_this_call = 0
        try:
            while self.step < cfg.steps and (stop_after is None or steps_this_call < stop_after):
                values = self.train_step()
                steps_this_call += 1
                step = self.step
                if not hooks:
                    continue
                if step % cfg.log_every == 0 or step == cfg.steps:
                    for callback in hooks:
                        callback.on_log(self, step, values)
                if step % cfg.eval_every == 0 or step == cfg.steps:
                    scores = self.validate()
                    for callback in hooks:
                        callback.on_validation_end(self, step, scores)
                for callback in hooks:
                    callback.on_step_end(self, step, values)
        finally:
            for callback in hooks:
                callback.on_fit_end(self)


def _items_key(normal: np.ndarray, abnormal: np.ndarray) -> tuple[bytes, bytes]:
    return normal.tobytes(), abnormal.tobytes()


