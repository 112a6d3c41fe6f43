"""A synthetic dataset in the official layout, built so that glance supervision matters.

Generative model of one video of ``T`` snippets (features are ``softplus`` of a latent sum, so
they are non-negative like I3D features):

``x_t = b_scene + W z_t + c_t * u_context + sum_e a_e(t) * u_class(e) + noise``

* ``b_scene``: a per-scene background (fixed cameras, as in UCF-Crime), shared by train and test.
* ``W z_t``: normal activity; ``z`` is a ``K``-dimensional AR(1) process (correlation ``rho``),
  so normal content drifts smoothly instead of being white noise.
* ``a_e(t)``: an anomaly event of one of several classes, a smooth trapezoid in time whose length
  ranges from a few snippets to most of the video; boundary snippets are weighted by the fraction
  of their frames inside the event (labels are frame-exact). Its direction mixes the class
  direction with one of the video's own (``anomaly_diversity`` of the variance): no two
  anomalies look quite alike.
* ``c_t``: *context* that co-occurs with anomalies but is not anomalous (a crowd gathering, a
  siren): every abnormal video has one to ``max_events`` context episodes of 3-16 snippets,
  kept ``context_gap`` snippets clear of its events; it appears alone in a few normal training
  videos and in more normal test videos. A network trained with video-level labels alone learns
  that context means anomaly (false alarms, low AUC_A); dense glance-based targets teach it that
  the parts of an abnormal video away from its events are normal.
* ``noise``: independent per snippet; each crop adds its own small offset and noise.

Glances of abnormal training videos are drawn with ``simulate_glances`` (one uniform frame per
event). Frame-level ground truth is written for the test split (official file) and, as an extra,
for the training split (``<name>_train_ground_truth.json``) so that glance simulation and
perturbation can be studied.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from glancevad.constants import FRAMES_PER_SNIPPET
from glancevad.data.feature_files import write_features
from glancevad.data.groundtruth import write_ground_truth
from glancevad.data.lists import write_video_list
from glancevad.errors import GlanceVADError
from glancevad.fileio import write_json
from glancevad.glance.io import write_glances
from glancevad.glance.simulate import simulate_glances


@dataclass(frozen=True)
class SynthConfig:
    """Sizes and strengths of the synthetic dataset (see the module docstring)."""

    name: str = "synthetic"
    train_normal: int = 200
    train_abnormal: int = 200
    test_normal: int = 60
    test_abnormal: int = 60
    dim: int = 1024
    crops: int = 10
    min_snippets: int = 32
    max_snippets: int = 400
    scenes: int = 8
    anomaly_classes: int = 4
    max_events: int = 3
    activity_factors: int = 8
    rho: float = 0.9
    anomaly_strength: float = 2.0
    anomaly_diversity: float = 0.2
    context_strength: float = 1.2
    context_rate_train_normal: float = 0.1
    context_rate_test_normal: float = 0.4
    context_gap: int = 2
    noise: float = 0.35
    crop_noise: float = 0.1
    crop_naming: str = "glancevad"
    frames_per_snippet: int = FRAMES_PER_SNIPPET
    seed: int = 0


#: Named dataset sizes (``glancevad synth --size``); not to be confused with training presets.
SIZES: dict[str, SynthConfig] = {
    "default": SynthConfig(),
    "demo": SynthConfig(
        train_normal=120, train_abnormal=120, test_normal=40, test_abnormal=40,
        dim=128, crops=2, min_snippets=24, max_snippets=240,
    ),
    "tiny": SynthConfig(
        train_normal=8, train_abnormal=8, test_normal=4, test_abnormal=4,
        dim=16, crops=2, min_snippets=8, max_snippets=48, scenes=2,
    ),
}


def _trapezoid(num_snippets: int, start: float, end: float, ramp: float, fps: int) -> np.ndarray:
    """Per-snippet weight of an event over frames ``[start, end)`` with linear ramps of ``ramp`` frames."""
    frames = np.arange(num_snippets * fps) + 0.5
    rise = np.clip((frames - start) / max(ramp, 1.0) + 0.5, 0, 1)
    fall = np.clip((end - frames) / max(ramp, 1.0) + 0.5, 0, 1)
    inside = (frames >= start) & (frames < end)
    weight = np.where(inside, np.minimum(rise, fall), 0.0)
    return weight.reshape(num_snippets, fps).mean(axis=1)


class _World:
    """The fixed parts shared by every video: scenes, activity mixing, class and context directions."""

    def __init__(self, cfg: SynthConfig, rng: np.random.Generator):
        unit = lambda n: (v := rng.standard_normal((n, cfg.dim))) / np.linalg.norm(  # noqa: E731
            v, axis=1, keepdims=True
        ) * np.sqrt(cfg.dim)
        self.scenes = 0.5 * rng.standard_normal((cfg.scenes, cfg.dim))
        self.mixing = rng.standard_normal((cfg.activity_factors, cfg.dim)) / np.sqrt(
            cfg.activity_factors
        )
        self.classes = unit(cfg.anomaly_classes) * cfg.anomaly_strength / np.sqrt(cfg.dim) * 3
        self.context = unit(1)[0] * cfg.context_strength / np.sqrt(cfg.dim) * 3
        self.crop_offsets = 0.1 * rng.standard_normal((cfg.crops, cfg.dim))


def _events(cfg: SynthConfig, rng: np.random.Generator, num_frames: int) -> list[tuple[int, int]]:
    """1..max_events disjoint frame intervals; lengths log-uniform from ~3 snippets to ~80 %."""
    fps = cfg.frames_per_snippet
    count = int(rng.integers(1, cfg.max_events + 1))
    budget = num_frames // count
    events = []
    for i in range(count):
        low, high = 3 * fps, max(3 * fps + 1, int(0.8 * budget))
        length = int(np.exp(rng.uniform(np.log(low), np.log(high))))
        length = min(length, budget - 1)
        start = i * budget + int(rng.integers(0, max(1, budget - length)))
        events.append((start, start + max(length, 1)))
    return events


def _context_spans(
    cfg: SynthConfig, rng: np.random.Generator, num_frames: int, events: list[tuple[int, int]], count: int
) -> list[tuple[int, int]]:
    """Up to ``count`` context episodes of 3..16 snippets, kept ``context_gap`` snippets clear of events."""
    fps = cfg.frames_per_snippet
    gap = cfg.context_gap * fps
    blocked = [(start - gap, end + gap) for start, end in events]
    spans: list[tuple[int, int]] = []
    for _ in range(count):
        length = int(rng.integers(3, 17)) * fps
        free = [
            s for s in range(0, max(num_frames - length, 0) + 1, fps)
            if all(s + length <= b0 or s >= b1 for b0, b1 in blocked + spans)
        ]
        if not free:
            break
        start = int(free[rng.integers(len(free))])
        spans.append((start, start + length))
    return spans


def _video(
    cfg: SynthConfig,
    world: _World,
    rng: np.random.Generator,
    num_snippets: int,
    scene: int,
    events: list[tuple[int, int]],
    anomaly_class: int,
    context_spans: list[tuple[float, float]],
) -> np.ndarray:
    """Features ``float32 [T, crops, D]`` of one video."""
    fps = cfg.frames_per_snippet
    z = np.empty((num_snippets, cfg.activity_factors))
    z[0] = rng.standard_normal(cfg.activity_factors)
    innovation = np.sqrt(1 - cfg.rho**2)
    for t in range(1, num_snippets):
        z[t] = cfg.rho * z[t - 1] + innovation * rng.standard_normal(cfg.activity_factors)
    latent = world.scenes[scene] + z @ world.mixing
    direction = world.classes[anomaly_class]
    if cfg.anomaly_diversity > 0 and events:
        # Each video's anomaly mixes its class direction with a direction of its own.
        own = rng.standard_normal(cfg.dim)
        own *= np.linalg.norm(direction) / np.linalg.norm(own)
        direction = np.sqrt(1 - cfg.anomaly_diversity) * direction + np.sqrt(cfg.anomaly_diversity) * own
    for start, end in events:
        latent += _trapezoid(num_snippets, start, end, fps, fps)[:, None] * direction
    context = np.zeros(num_snippets)
    for start, end in context_spans:
        context = np.maximum(context, _trapezoid(num_snippets, start, end, 2 * fps, fps))
    latent += context[:, None] * world.context
    latent += cfg.noise * rng.standard_normal(latent.shape)
    crops = (
        latent[:, None, :]
        + world.crop_offsets[None]
        + cfg.crop_noise * rng.standard_normal((num_snippets, cfg.crops, cfg.dim))
    )
    return np.logaddexp(0.0, crops).astype(np.float32)



def write_synthetic_dataset(
    root: str | os.PathLike,
    cfg: SynthConfig,
    *,
    force: bool = False,
    on_video: Callable[[str], None] | None = None,
) -> Path:
    """Write the dataset under ``root`` (official layout); refuse a non-empty folder unless ``force``."""
    final = Path(root)
    if final.exists() and any(final.iterdir()) and not force:
        raise GlanceVADError(f"{final}: folder is not empty (use --force to replace it)")
    if cfg.crops < 1 or cfg.dim < 1 or cfg.min_snippets < 4 or cfg.max_snippets < cfg.min_snippets:
        raise GlanceVADError("synthetic config needs crops >= 1, dim >= 1, 4 <= min <= max snippets")
    # Build beside the target and rename at the end: a killed run leaves no half-written dataset.
    root = final.parent / f".{final.name}.partial"
    if root.exists():
        shutil.rmtree(root)
    rng = np.random.default_rng(cfg.seed)
    world = _World(cfg, rng)
    fps = cfg.frames_per_snippet
    splits = {
        "train": (cfg.train_normal, cfg.train_abnormal, cfg.context_rate_train_normal),
        "test": (cfg.test_normal, cfg.test_abnormal, cfg.context_rate_test_normal),
    }
    meta: dict[str, dict] = {}
    labels_by_split: dict[str, dict[str, np.ndarray]] = {}
    for split, (n_normal, n_abnormal, context_rate) in splits.items():
        folder = root / "i3d" / split
        kinds = ["normal"] * n_normal + ["abnormal"] * n_abnormal
        order = rng.permutation(len(kinds))
        counters = {"normal": 0, "abnormal": 0}
        ids, labels = [], {}
        for index in order:
            kind = kinds[index]
            counters[kind] += 1
            vid = f"{kind}_{split}_{counters[kind]:04d}"
            num_snippets = int(
                np.exp(rng.uniform(np.log(cfg.min_snippets), np.log(cfg.max_snippets + 1)))
            )
            scene = int(rng.integers(cfg.scenes))
            anomaly_class = int(rng.integers(cfg.anomaly_classes))
            events = _events(cfg, rng, num_snippets * fps) if kind == "abnormal" else []
            if kind == "abnormal":
                episodes = int(rng.integers(1, cfg.max_events + 1))
            else:
                episodes = int(rng.random() < context_rate)
            context = _context_spans(cfg, rng, num_snippets * fps, events, episodes)
            features = _video(cfg, world, rng, num_snippets, scene, events, anomaly_class, context)
            write_features(folder, vid, features, cfg.crop_naming)
            frame_labels = np.zeros(num_snippets * fps, dtype=np.uint8)
            for start, end in events:
                frame_labels[start:end] = 1
            ids.append(vid)
            labels[vid] = frame_labels
            meta[vid] = {
                "split": split, "scene": scene, "events": events,
                "anomaly_class": anomaly_class if events else None, "context": context,
            }
            if on_video is not None:
                on_video(vid)
        write_video_list(root / f"{cfg.name}.{'training' if split == 'train' else 'testing'}.csv", ids)
        labels_by_split[split] = labels
    write_ground_truth(root / f"{cfg.name}_ground_truth.json", labels_by_split["test"])
    write_ground_truth(root / f"{cfg.name}_train_ground_truth.json", labels_by_split["train"])
    write_glances(
        root / f"{cfg.name}_glance_annotations.csv",
        simulate_glances(labels_by_split["train"], seed=cfg.seed),
    )
    write_json(root / "synth_meta.json", {"config": asdict(cfg), "videos": meta})
    if final.exists():
        shutil.rmtree(final)
    os.replace(root, final)
    return final


def synth_config(size: str = "demo", **overrides: object) -> SynthConfig:
    """A named size with some fields replaced (``None`` values are ignored)."""
    if size not in SIZES:
        raise GlanceVADError(f"unknown synthetic dataset size {size!r}; choose from {', '.join(SIZES)}")
    fields = SynthConfig.__dataclass_fields__
    unknown = [key for key in overrides if key not in fields]
    if unknown:
        raise GlanceVADError(f"unknown synthetic option {unknown[0]!r}")
    return replace(SIZES[size], **{k: v for k, v in overrides.items() if v is not None})
