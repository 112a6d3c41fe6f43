"""Training configuration: one frozen dataclass, YAML presets and ``key=value`` overrides.

Presets live in ``glancevad/presets/<name>.yaml`` and list only what differs from the defaults
below (which follow the released UCF-Crime configuration). Unknown keys are errors that name
the key and the valid ones.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from glancevad.checkpoint_selection import SELECTION_RULES, TIEBREAKS
from glancevad.constraints import Interval, OneOf, check, constrained, constraints
from glancevad.errors import GlanceVADError

SUPERVISIONS = ("weak", "glance", "mixed")
#: ``auto``: bf16 where the hardware has bf16 units (a GPU, a CPU with AMX), else fp32; a run records which.
PRECISIONS = ("fp32", "bf16", "auto")
#: ``item``: a step draws single crops of videos (as released); ``average``: whole videos, all crops averaged.
CROP_SAMPLINGS = ("item", "average")
#: The scores mining walks on: ``train``, the training forward's (through dropout, as released);
#: ``eval``, a second forward without gradient in eval mode (no dropout; batch norm's running statistics);
#: ``auto``, the network's own choice (``ModelSpec.mining_scores``), which a run records resolved.
MINING_SCORES = ("auto", "train", "eval")
#: The config keys that hold a mapping, set key by key (``--set loss.rtfm.sparsity=none``) and merged
#: by layer, key by key at every depth.
MAPPING_KEYS = ("model_kwargs", "loss")
UNIT = Interval(0, 1)
POSITIVE = Interval(low=0, closed="neither")
NON_NEGATIVE = Interval(low=0)
AT_LEAST_ONE = Interval(low=1)


def _kernels() -> dict:
    from glancevad.tgs import KERNELS  # here, so that importing the config loads no torch

    return KERNELS


def _combines() -> tuple[str, ...]:
    from glancevad.tgs import COMBINES

    return COMBINES


def _models() -> dict:
    from glancevad.models import get_spec, list_models  # here: importing the config loads no torch

    return {name: get_spec(name) for name in list_models()}


#: What a seed may be: a non-negative integer that every random generator seeded from it accepts
#: (numpy's refuse negative seeds, torch's overflow above 64 bits; 32 bits leaves room for seed + rank).
SEEDS = Interval(0, 2**32 - 1)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; saved resolved in each run folder.

    A field's type is its annotation and what values it accepts its ``constrained(default,
    Interval or OneOf)`` declaration, read by the check below, the ``train`` options and the docs.
    """

    # network
    model: str = constrained("urdmu", OneOf(_models))      # a registered network (glancevad.models)
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    loss: dict[str, dict[str, Any]] = field(default_factory=dict)  # {network: its loss settings}: loss.rtfm.sparsity
    # supervision of abnormal training videos (paper Tables 3 and 5)
    supervision: str = constrained("glance", OneOf(SUPERVISIONS))
    glance_fraction: float = constrained(1.0, UNIT)          # mixed: share of abnormal videos trained with glances
    weak_fraction: float = constrained(0.0, UNIT)            # mixed: share trained with the video label only
    glance_csv: str | None = None        # another glance file (e.g. perturbed glances, Table 4)
    abnormal_mil_weight: float = constrained(0.0, NON_NEGATIVE)  # abnormal video-level term of glance videos
    # Temporal Gaussian Splatting (section 4; switches of Table 3 and Fig. 4)
    mining: bool = True
    mining_scores: str = constrained("auto", OneOf(MINING_SCORES))
    dynamic_threshold: bool = True
    alpha: float = constrained(0.9, Interval(0, 1, closed="right"))
    fixed_threshold: float = constrained(0.5, UNIT)
    gaussian: bool = True                # False: binary targets (the kernel-centre mask itself)
    kernel: str = constrained("normal", OneOf(_kernels))     # Table 6
    combine: str = constrained("max", OneOf(_combines))      # max (released) | sum (paper Eq. 4)
    width: float = constrained(0.1, POSITIVE)                # r_g, in normalised time [-1, 1]
    min_mining_step: int = constrained(50, NON_NEGATIVE)     # warm-up: glances only before this step
    # optimisation
    steps: int = constrained(1500, AT_LEAST_ONE)
    batch_size: int = constrained(64, AT_LEAST_ONE)          # items (crop_sampling item) or videos, per class
    crop_sampling: str = constrained("item", OneOf(CROP_SAMPLINGS))
    lr: float = constrained(1e-4, POSITIVE)
    weight_decay: float = constrained(5e-5, NON_NEGATIVE)
    num_snippets: int = constrained(200, AT_LEAST_ONE)       # N of the training-time resampling
    # protocol
    val_fraction: float = constrained(0.1, Interval(0, 1, closed="left"))  # 0: train on every video (as released)
    selection_rule: str = constrained("glance_auc-alarm", OneOf(SELECTION_RULES))  # how best.pt is chosen
    selection_tiebreak: str = constrained("heldout_bce", OneOf(TIEBREAKS))  # among evaluations of equal value
    eval_every: int = constrained(50, AT_LEAST_ONE)
    log_every: int = constrained(10, AT_LEAST_ONE)
    seed: int = constrained(0, SEEDS)
    precision: str = constrained("fp32", OneOf(PRECISIONS))  # fp32 | bf16 (autocast) | auto
    # torch.compile the training forward: the same maths; measured 28 % slower per UCF-shaped UR-DMU step on a
    # 2-core CPU, after about a minute of compiling (docs/benchmarks.md), so off by default
    compile: bool = False
    device: str = "auto"                 # auto, cpu, cuda, cuda:1 ... (checked to parse; present: at run time)

    def __post_init__(self) -> None:
        for name, constraint in CONSTRAINTS.items():
            try:
                check(name, getattr(self, name), constraint)
            except GlanceVADError as exc:
                raise GlanceVADError(f"config: {exc}") from None
        from glancevad.models import get_spec  # here: importing the config loads no torch

        for network, values in self.loss.items():
            try:
                if network not in _models():
                    raise GlanceVADError(f"loss.{network}: unknown network; networks: {', '.join(_models())}")
                if not isinstance(values, dict):
                    raise GlanceVADError(f"loss.{network} must map settings to values (loss.{network}.NAME=VALUE)")
                get_spec(network).make_loss_settings(values)
            except GlanceVADError as exc:
                raise GlanceVADError(f"config: {exc}") from None
        if self.glance_fraction + self.weak_fraction > 1 + 1e-9:
            raise GlanceVADError("config: glance_fraction + weak_fraction must be <= 1")
        if self.device != "auto":
            from glancevad.runtime import parse_device

            try:
                parse_device(self.device)
            except GlanceVADError as exc:
                raise GlanceVADError(f"config: device: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def loss_settings(self) -> Any:
        """The loss settings of the configured network (``loss[model]`` over its defaults; ``None``
        for a network whose loss has none)."""
        from glancevad.models import get_spec

        return get_spec(self.model).make_loss_settings(self.loss.get(self.model, {}))

    @property
    def mining_from(self) -> str:
        """``mining_scores`` resolved: ``auto`` is the network's own choice (``ModelSpec.mining_scores``)."""
        if self.mining_scores != "auto":
            return self.mining_scores
        from glancevad.models import get_spec

        return get_spec(self.model).mining_scores

    @property
    def abnormal_split(self) -> tuple[float, float]:
        """(glance share, weak share) of the abnormal training videos."""
        if self.supervision == "weak":
            return 0.0, 1.0
        if self.supervision == "glance":
            return 1.0, 0.0
        return self.glance_fraction, self.weak_fraction


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
#: ``{key: Interval or OneOf}``: what each constrained key accepts (the CLI options and the docs read it).
CONSTRAINTS = constraints(TrainConfig)


def coerce(name: str, value: Any, *, option: str | None = None) -> Any:
    """Convert a YAML or command-line value to the type of key ``name``; a bad value names the key
    (or the command-line ``option`` it came from)."""
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
        what = getattr(origin, "__name__", origin)
        raise GlanceVADError(f"{option} {value!r} is not a valid {what}" if option else
                             f"config: {name}={value!r} is not a valid {what}") from None


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
    """``["alpha=0.7", "model_kwargs.dropout=0.3", "loss.rtfm.sparsity=none"]`` -> nested dict of
    YAML-parsed values."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise GlanceVADError(f"override {item!r} must look like key=value")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw else ""
        path = key.split(".")
        if path[0] in MAPPING_KEYS and len(path) > 1:
            inner = out
            for part in path[:-1]:
                inner = inner.setdefault(part, {})
            inner[path[-1]] = value
        else:
            out[key] = value
    return out


def _merge(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """``layer`` over ``base``, mappings merged key by key at every depth."""
    merged = dict(base)
    for key, value in layer.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) \
            else value
    return merged


def make_config(values: dict[str, Any]) -> TrainConfig:
    """Validate keys and types, then build the config."""
    unknown = [key for key in values if key not in FIELDS]
    if unknown:
        raise GlanceVADError(f"config: unknown key {unknown[0]!r}; valid keys: {', '.join(FIELDS)}")
    return TrainConfig(**{key: coerce(key, value) for key, value in values.items()})


def resolve_config(preset: str | None = None, *layers: dict[str, Any]) -> TrainConfig:
    """Defaults, then a preset, then each layer of overrides (``model_kwargs`` and ``loss`` merge)."""
    merged: dict[str, Any] = {}
    for layer in ([preset_values(preset)] if preset else []) + list(layers):
        for key, value in layer.items():
            if key in MAPPING_KEYS and isinstance(value, dict):
                merged[key] = _merge(merged.get(key, {}), value)
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
