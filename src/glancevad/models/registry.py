"""The model registry: ``build(name, in_dim, **kw)`` and the base loss that goes with each network.

Every network is a plain ``nn.Module`` with one contract:

* eval mode: ``model(x)`` takes ``(B, T, D)`` or ``(B, crops, T, D)`` and returns snippet scores
  in (0, 1) of shape ``(B, T)``, averaged over crops;
* train mode: the batch holds ``B`` normal videos then ``B`` abnormal ones; ``model(x)`` returns a
  dict with at least ``"scores"`` ``(2B, T)`` and whatever its base loss needs;
* ``base_loss(outputs, abnormal_mil_weight, settings=None)`` returns ``(loss, {term: value})``,
  where ``abnormal_mil_weight`` ``(B,)`` weighs each abnormal video's video-level (MIL) term: 1 for
  weak supervision, ``abnormal_mil_weight`` of the config (0 as released) under glance supervision;
  ``settings`` is an instance of the network's ``loss_settings`` dataclass (``None``: its defaults).

A network whose loss has choices (a term's form, its top-k rule) declares them as a frozen
dataclass of :func:`loss_setting` fields: the config's ``loss`` mapping sets them, per network
(``--set loss.rtfm.sparsity=none``), and each field carries the paper's and the release's value, which
``glancevad paper`` lists in its deviations table.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from glancevad.constraints import CONSTRAINT, Constraint, check
from glancevad.errors import GlanceVADError

BaseLoss = Callable[..., tuple[torch.Tensor, dict[str, float]]]
StateDict = Mapping[str, torch.Tensor]


def loss_setting(default: Any, constraint: Constraint, *, meaning: str, paper: str, release: str) -> Any:
    """A field of a network's loss settings: its default, what it accepts, what it means, and the
    value the paper's text and the network's released code use (for the deviations table)."""
    return dataclasses.field(default=default, metadata={CONSTRAINT: constraint, "meaning": meaning,
                                                        "paper": paper, "release": release})


@dataclass(frozen=True)
class ModelSpec:
    """A registered network and every fact the rest of glancevad needs about it.

    ``label`` names it in tables and plots (the ``networks`` grid's rows); ``paper_steps`` are its
    training steps under ``--budget paper`` (where its held-out BCE levels off on the demo data,
    measured by ``glancevad experiment plateau``). ``loss_settings`` is the dataclass of its base
    loss's choices (see the module docstring); ``release_keys`` renames the keys of a checkpoint
    released by the network's authors to this module's (``None`` when the keys are not theirs);
    ``structure`` describes the layers as (built here, the paper's text, the network's release),
    for the deviations table; ``mining_scores`` is the scores mining reads under the config's
    ``mining_scores: auto`` (``train`` as released, or ``eval``: chosen on design data). What a
    step costs is measured on the machine at hand (``experiments.planning.measure_step_seconds``),
    not recorded here: it differs by 10x between CPUs with and without bf16 units.
    """

    name: str
    builder: Callable[..., nn.Module]
    base_loss: BaseLoss
    description: str
    infer_kwargs: Callable[[StateDict], dict[str, Any] | None] | None = None
    label: str = ""
    paper_steps: int = 500
    loss_settings: type | None = None
    release_keys: Callable[[StateDict], dict[str, torch.Tensor] | None] | None = None
    structure: tuple[str, str, str] | None = None
    mining_scores: str = "train"

    def make_loss_settings(self, values: Mapping[str, Any] | None = None) -> Any:
        """The loss settings of this network with ``values`` (the config's ``loss.<name>``) set; an
        unknown key or a refused value is an error naming ``loss.<name>.<key>``. ``None`` for a loss
        without settings."""
        values = dict(values or {})
        if self.loss_settings is None:
            if values:
                raise GlanceVADError(f"loss.{self.name}.{next(iter(values))}: network {self.name!r} has no loss "
                                     "settings")
            return None
        fields = {f.name: f for f in dataclasses.fields(self.loss_settings)}
        for key, value in values.items():
            if key not in fields:
                raise GlanceVADError(f"loss.{self.name}.{key}: not a loss setting of {self.name!r}; its settings: "
                                     + ", ".join(fields))
            if isinstance(fields[key].default, float) and isinstance(value, int | str) and not isinstance(value, bool):
                with contextlib.suppress(ValueError):  # YAML reads 1e-3 as text, and 2 as an int
                    values[key] = value = float(value)
            if CONSTRAINT in fields[key].metadata:
                check(f"loss.{self.name}.{key}", value, fields[key].metadata[CONSTRAINT])
        return self.loss_settings(**values)


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    *,
    base_loss: BaseLoss,
    description: str,
    infer_kwargs: Callable[[StateDict], dict[str, Any] | None] | None = None,
    label: str | None = None,
    paper_steps: int = 500,
    loss_settings: type | None = None,
    release_keys: Callable[[StateDict], dict[str, torch.Tensor] | None] | None = None,
    structure: tuple[str, str, str] | None = None,
    mining_scores: str = "train",
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a builder ``fn(in_dim, **kw) -> nn.Module`` under ``name`` with the
    facts of :class:`ModelSpec` (``label`` defaults to the name in capitals)."""

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelSpec(name, builder, base_loss, description, infer_kwargs, label or name.upper(),
                                    paper_steps, loss_settings, release_keys, structure, mining_scores)
        return builder

    return decorate


def list_models() -> list[str]:
    """Names of the registered networks, sorted."""
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The registered spec of ``name``; an unknown name is an error listing the valid ones."""
    if name not in _REGISTRY:
        raise GlanceVADError(f"unknown model {name!r}; registered models: {', '.join(list_models())}")
    return _REGISTRY[name]


def build(name: str, in_dim: int = 1024, **kwargs: Any) -> nn.Module:
    """Build a registered network; keyword arguments set to ``None`` keep the network's defaults."""
    spec = get_spec(name)
    try:
        return spec.builder(in_dim=in_dim, **{k: v for k, v in kwargs.items() if v is not None})
    except TypeError as exc:
        raise GlanceVADError(f"model {name!r}: {exc}") from None


def check_model_kwargs(name: str, kwargs: Mapping[str, Any]) -> None:
    """Build ``name`` with ``kwargs`` on the meta device (no memory, no weights): a misspelt or
    invalid constructor argument is an error before any work, not after the training cache is built."""
    with torch.device("meta"):
        build(name, in_dim=8, **kwargs)


def from_release(state_dict: StateDict) -> StateDict:
    """A state dict with a network's released key names (e.g. RTFM's ``Aggregate.*``, ``fc1``)
    renamed to glancevad's; any other comes back as it is."""
    for spec in _REGISTRY.values():
        if spec.release_keys is not None and (renamed := spec.release_keys(state_dict)) is not None:
            return renamed
    return state_dict


def infer_from_state_dict(state_dict: StateDict) -> tuple[str, dict[str, Any]]:
    """Recognise a bare state dict with glancevad's key names (e.g. the authors' UR-DMU, or a
    release renamed by :func:`from_release`): the model name and its kwargs."""
    for spec in _REGISTRY.values():
        if spec.infer_kwargs is not None and (kwargs := spec.infer_kwargs(state_dict)) is not None:
            return spec.name, kwargs
    raise GlanceVADError(
        "state dict matches no registered model (" + ", ".join(list_models()) + "); keys start with "
        + ", ".join(list(state_dict)[:4])
    )


def load_weights(model: nn.Module, state_dict: Mapping[str, torch.Tensor], *, source: str) -> None:
    """Strictly load ``state_dict``; a mismatch is one error listing missing/unexpected keys or shapes."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {', '.join(missing[:8])}" + (" ..." if len(missing) > 8 else ""))
    if unexpected:
        problems.append(f"unexpected keys: {', '.join(unexpected[:8])}" + (" ..." if len(unexpected) > 8 else ""))
    if shapes:
        problems.append(f"shape mismatch: {'; '.join(shapes[:4])}" + (" ..." if len(shapes) > 4 else ""))
    if problems:
        raise GlanceVADError(f"{source}: checkpoint does not fit {type(model).__name__}: " + " | ".join(problems))
    model.load_state_dict(state_dict, strict=True)
