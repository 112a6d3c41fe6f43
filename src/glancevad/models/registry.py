"""The model registry: ``build(name, in_dim, **kw)`` and the base loss that goes with each network.

Every network is a plain ``nn.Module`` with one contract:

* eval mode: ``model(x)`` takes ``(B, T, D)`` or ``(B, crops, T, D)`` and returns snippet scores
  in (0, 1) of shape ``(B, T)``, averaged over crops;
* train mode: the batch holds ``B`` normal videos then ``B`` abnormal ones; ``model(x)`` returns a
  dict with at least ``"scores"`` ``(2B, T)`` and whatever its base loss needs;
* ``base_loss(outputs, abnormal_mil_weight)`` returns ``(loss, {term: value})``, where
  ``abnormal_mil_weight`` ``(B,)`` weighs each abnormal video's video-level (MIL) term: 1 for
  weak supervision, ``abnormal_mil_weight`` of the config (0 as released) under glance supervision.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from glancevad.errors import GlanceVADError

BaseLoss = Callable[[Mapping[str, torch.Tensor], torch.Tensor], tuple[torch.Tensor, dict[str, float]]]


@dataclass(frozen=True)
class ModelSpec:
    """A registered network and every fact the rest of glancevad needs about it.

    ``label`` names it in tables and plots (the ``networks`` grid's rows); ``paper_steps`` are its
    training steps under ``--budget paper`` (where its validation score levels off on the demo data,
    measured by ``glancevad experiment plateau``). What a step costs is measured on the machine at
    hand (``experiments.planning.measure_step_seconds``), not recorded here: it differs by 10x
    between CPUs with and without bf16 units.
    """

    name: str
    builder: Callable[..., nn.Module]
    base_loss: BaseLoss
    description: str
    infer_kwargs: Callable[[Mapping[str, torch.Tensor]], dict[str, Any] | None] | None = None
    label: str = ""
    paper_steps: int = 500


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    *,
    base_loss: BaseLoss,
    description: str,
    infer_kwargs: Callable[[Mapping[str, torch.Tensor]], dict[str, Any] | None] | None = None,
    label: str | None = None,
    paper_steps: int = 500,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a builder ``fn(in_dim, **kw) -> nn.Module`` under ``name`` with the
    facts of :class:`ModelSpec` (``label`` defaults to the name in capitals)."""

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelSpec(name, builder, base_loss, description, infer_kwargs, label or name.upper(),
                                    paper_steps)
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


def infer_from_state_dict(state_dict: Mapping[str, torch.Tensor]) -> tuple[str, dict[str, Any]]:
    """Recognise a bare state dict (e.g. the authors' release): the model name and its kwargs."""
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
