"""Which training videos train and which validate, each abnormal video's role, and the items the sampler draws.

Pure planning over labels and glances (no features are read): :func:`check_run` uses it to refuse a
run before its folder is made, the :class:`~glancevad.engine.trainer.Trainer` to build its sampler.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from glancevad.config import TrainConfig
from glancevad.data.dataset import VADDataset, load_dataset
from glancevad.data.feature_files import feature_shape
from glancevad.engine.distributed import DistributedContext, check_batch
from glancevad.engine.sampler import crop_items
from glancevad.engine.supervision import Role, assign_roles
from glancevad.errors import GlanceVADError
from glancevad.models import check_model_kwargs
from glancevad.runtime import resolve_device


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
