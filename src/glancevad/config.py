"""Training configuration: one frozen dataclass, YAML presets and ``key=value`` overrides.

Presets live in ``glancevad/presets/<name>.yaml`` and list only what differs from the defaults
below (which follow the released UCF-Crime configuration). Unknown keys are errors that name
the key and the valid ones.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from glancevad.errors import GlanceVADError
from glancevad.selection import SELECTION_RULES

SUPERVISIONS = ("weak", "glance", "mixed")
PRECISIONS = ("fp32", "bf16")
#: ``item``: a step draws single crops of videos (as released); ``average``: whole videos, all crops averaged.
CROP_SAMPLINGS = ("item", "average")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; saved resolved in each run folder."""

    # network
    model: str = "urdmu"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    # supervision of abnormal training videos (paper Tables 3 and 5)
    supervision: str = "glance"          # weak | glance | mixed
    glance_fraction: float = 1.0         # mixed: share of abnormal videos trained with glances
    weak_fraction: float = 0.0           # mixed: share trained with the video label only
    glance_csv: str | None = None        # another glance file (e.g. perturbed glances, Table 4)
    abnormal_mil_weight: float = 0.0     # weight of the abnormal video-level term for glance videos
    # Temporal Gaussian Splatting (section 4; switches of Table 3 and Fig. 4)
    mining: bool = True
    dynamic_threshold: bool = True
    alpha: float = 0.9
    fixed_threshold: float = 0.5
    gaussian: bool = True                # False: binary targets (the kernel-centre mask itself)
    kernel: str = "normal"               # a name of glancevad.tgs.KERNELS: normal | cauchy | laplace (Table 6)
    combine: str = "max"                 # max (released) | sum (paper Eq. 4)
    width: float = 0.1                   # r_g, in normalised time [-1, 1]
    min_mining_step: int = 50            # warm-up: glances only before this step
    # optimisation
    steps: int = 1500
    batch_size: int = 64                 # items (crop_sampling item) or videos (average) per class per step
    crop_sampling: str = "item"          # item (one crop per draw, as released) | average (all crops)
    lr: float = 1e-4
    weight_decay: float = 5e-5
    num_snippets: int = 200              # N of the training-time resampling
    # protocol
    val_fraction: float = 0.1            # 0: train on every video (as released); best.pt is then last.pt
    selection_rule: str = "glance_auc-alarm"  # how best.pt is chosen (glancevad.selection)
    eval_every: int = 50
    log_every: int = 10
    seed: int = 0
    precision: str = "fp32"              # fp32 | bf16 (autocast)
    device: str = "auto"

    def __post_init__(self) -> None:
        from glancevad.tgs import COMBINES, KERNELS  # here, so that importing the config loads no torch

        checks = [
            (self.supervision in SUPERVISIONS, f"supervision must be one of {', '.join(SUPERVISIONS)}"),
            (self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}"),
            (self.crop_sampling in CROP_SAMPLINGS,
             f"crop_sampling must be one of {', '.join(CROP_SAMPLINGS)}, got {self.crop_sampling!r}"),
            (self.kernel in KERNELS, f"kernel must be one of {', '.join(KERNELS)}, got {self.kernel!r}"),
            (self.combine in COMBINES, f"combine must be one of {', '.join(COMBINES)}, got {self.combine!r}"),
            (0 <= self.glance_fraction <= 1 and 0 <= self.weak_fraction <= 1, "fractions must lie in [0, 1]"),
            (self.glance_fraction + self.weak_fraction <= 1 + 1e-9, "glance_fraction + weak_fraction must be <= 1"),
            (0 <= self.val_fraction < 1, "val_fraction must lie in [0, 1)"),
            (self.selection_rule in SELECTION_RULES,
             f"selection_rule must be one of {', '.join(SELECTION_RULES)}, got {self.selection_rule!r}"),
            (min(self.steps, self.batch_size, self.num_snippets) >= 1, "steps, batch_size, num_snippets >= 1"),
            (self.eval_every >= 1 and self.log_every >= 1, "eval_every and log_every must be >= 1"),
            (_finite(self.width) and self.width > 0, f"width must be a positive number, got {self.width}"),
            (_finite(self.lr) and self.lr > 0, f"lr must be a positive number, got {self.lr}"),
            (_finite(self.weight_decay) and self.weight_decay >= 0,
             f"weight_decay must be >= 0, got {self.weight_decay}"),
            (_finite(self.abnormal_mil_weight) and self.abnormal_mil_weight >= 0,
             f"abnormal_mil_weight must be >= 0, got {self.abnormal_mil_weight}"),
            (0 < self.alpha <= 1, f"alpha must lie in (0, 1], got {self.alpha}"),
            (0 <= self.fixed_threshold <= 1, f"fixed_threshold must lie in [0, 1], got {self.fixed_threshold}"),
            (self.min_mining_step >= 0, f"min_mining_step must be >= 0, got {self.min_mining_step}"),
        ]
        for ok, message in checks:
            if not ok:
                raise GlanceVADError(f"config: {message}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def abnormal_split(self) -> tuple[float, float]:
        """(glance share, weak share) of the abnormal training videos."""
        if self.supervision == "weak":
            return 0.0, 1.0
        if self.supervision == "glance":
            return 1.0, 0.0
        return self.glance_fraction, self.weak_fraction


def _finite(value: float) -> bool:
    return math.isfinite(value)


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def _coerce(name: str, value: Any) -> Any:
    """Convert a YAML or command-line value to the field's type; a bad value names the key."""
    hint = typing.get_type_hints(TrainConfig)[name]
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None and type(None) in options:
        return None
    if isinstance(value, str) and value.lower() in ("none", "null") and type(None) in options:
        return None
    base = next(o for o in options if o is not type(None))
    origin = typing.get_origin(base) or base
    try:
        if origin is bool:
            if isinstance(value, str):
                if value.lower() in ("true", "yes", "1", "on"):
                    return True
                if value.lower() in ("false", "no", "0", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if origin is dict:
            if not isinstance(value, dict):
                raise ValueError(value)
            return dict(value)
        if origin is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return origin(value)
    except (TypeError, ValueError):
        raise GlanceVADError(f"config: {name}={value!r} is not a valid {getattr(origin, '__name__', origin)}") from None


def list_presets() -> list[str]:
    """Names of the bundled presets."""
    return sorted(p.name[:-5] for p in resources.files("glancevad.presets").iterdir() if p.name.endswith(".yaml"))


def preset_values(name: str) -> dict[str, Any]:
    """The raw key/values of a bundled preset."""
    path = resources.files("glancevad.presets") / f"{name}.yaml"
    if not path.is_file():
        raise GlanceVADError(f"unknown preset {name!r}; presets: {', '.join(list_presets())}")
    return yaml.safe_load(path.read_text()) or {}


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["alpha=0.7", "model_kwargs.dropout=0.3"]`` -> nested dict of YAML-parsed values."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise GlanceVADError(f"override {item!r} must look like key=value")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw else ""
        if key.startswith("model_kwargs."):
            out.setdefault("model_kwargs", {})[key.split(".", 1)[1]] = value
        else:
            out[key] = value
    return out


def make_config(values: dict[str, Any]) -> TrainConfig:
    """Validate keys and types, then build the config."""
    unknown = [key for key in values if key not in FIELDS]
    if unknown:
        raise GlanceVADError(f"config: unknown key {unknown[0]!r}; valid keys: {', '.join(FIELDS)}")
    return TrainConfig(**{key: _coerce(key, value) for key, value in values.items()})


def resolve_config(preset: str | None = None, *layers: dict[str, Any]) -> TrainConfig:
    """Defaults, then a preset, then each layer of overrides (``model_kwargs`` merge)."""
    merged: dict[str, Any] = {}
    for layer in ([preset_values(preset)] if preset else []) + list(layers):
        for key, value in layer.items():
            if key == "model_kwargs" and isinstance(value, dict):
                merged["model_kwargs"] = {**merged.get("model_kwargs", {}), **value}
            else:
                merged[key] = value
    return make_config(merged)


def load_train_config(
    *, preset: str | None = None, config_file: str | os.PathLike | None = None, overrides: list[str] = (),
    options: dict[str, Any] | None = None,
) -> TrainConfig:
    """The configuration of a new run, in the CLI's order: defaults, ``preset``, the YAML
    ``config_file``, ``key=value`` ``overrides``, then the named ``options`` that are not ``None``."""
    file_values: dict[str, Any] = {}
    if config_file is not None:
        try:
            file_values = yaml.safe_load(Path(config_file).read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise GlanceVADError(f"{config_file}: cannot read config ({exc})".splitlines()[0]) from None
        if not isinstance(file_values, dict):
            raise GlanceVADError(f"{config_file}: a config file must map keys to values")
    chosen = {key: value for key, value in (options or {}).items() if value is not None}
    return resolve_config(preset, file_values, parse_overrides(list(overrides)), chosen)
