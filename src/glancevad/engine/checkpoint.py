"""Checkpoints: model, optimiser, step, sampler, RNG state and the resolved config, written atomically;
and the network of a checkpoint, built and loaded (:func:`load_model`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from glancevad.errors import GlanceVADError
from glancevad.fileio import atomic_write
from glancevad.models import build, from_release, infer_from_state_dict, load_weights
from glancevad.runtime import load_torch_file

FORMAT = "glancevad-checkpoint-1"


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename."""
    with atomic_write(path, "wb") as handle:
        torch.save({"format": FORMAT, **payload}, handle)
    return Path(path)


def link_checkpoint(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Make ``target`` the same file as ``source`` (a hard link, swapped in atomically).

    Used when the best checkpoint is the last one: no second serialisation and fsync. A later
    save of ``source`` writes a new file and leaves ``target`` untouched.
    """
    source, target = Path(source), Path(target)
    if target.exists() and os.path.samefile(source, target):
        # already linked; renaming a second link over it would be a no-op that leaves the link behind
        return target
    temporary = target.with_name(f".{target.name}.link")
    temporary.unlink(missing_ok=True)
    try:
        os.link(source, temporary)
    except OSError:  # no hard links on this file system: copy instead
        import shutil

        shutil.copyfile(source, temporary)
    os.replace(temporary, target)
    return target


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint or a bare state dict (``weights_only``: no code is unpickled).

    A bare state dict (the authors' release) comes back as ``{"model_state": state_dict}``.
    """
    path = Path(path)
    if not path.is_file():
        raise GlanceVADError(f"{path}: checkpoint not found")
    data = load_torch_file(path, what="checkpoint")
    if isinstance(data, dict) and data.get("format") == FORMAT:
        return data
    if isinstance(data, dict) and data and all(isinstance(v, torch.Tensor) for v in data.values()):
        return {"model_state": data}
    raise GlanceVADError(f"{path}: neither a glancevad checkpoint nor a state dict")


@dataclass
class LoadedModel:
    """A network in eval mode with what is known about how it was trained."""

    model: nn.Module
    name: str
    in_dim: int
    crops: int | None
    config: dict[str, Any] | None
    step: int | None = None


def load_model(path: str | os.PathLike, *, device: torch.device | str = "cpu") -> LoadedModel:
    """Build the network of a glancevad checkpoint or of a bare state dict: the authors' UR-DMU, or
    a release whose key names a network maps (RTFM's)."""
    state = read_checkpoint(path)
    if "model_name" in state:
        name, kwargs = state["model_name"], dict(state["model_kwargs"])
    else:
        state["model_state"] = from_release(state["model_state"])
        try:
            name, kwargs = infer_from_state_dict(state["model_state"])
        except GlanceVADError as exc:
            raise GlanceVADError(f"{path}: {exc}") from None
    model = build(name, **kwargs)
    load_weights(model, state["model_state"], source=str(path))
    model.to(device).eval()
    return LoadedModel(model, name, int(kwargs.get("in_dim", 1024)), state.get("crops"), state.get("config"),
                       state.get("step"))
