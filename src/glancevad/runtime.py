"""Torch at run time, for every layer that computes: which device and precision to use, and how a
torch file is read (``weights_only``: no code is unpickled; any failure one error naming the file)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch

from glancevad.errors import GlanceVADError


def parse_device(name: str) -> torch.device | None:
    """``None`` for ``auto``, else the torch device ``name`` names (``cpu``, ``cuda``, ``cuda:1`` ...),
    whether or not this machine has it; a name torch does not know is an error naming it."""
    if name == "auto":
        return None
    try:
        return torch.device(name)
    except (RuntimeError, TypeError):
        raise GlanceVADError(f"unknown device {name!r} (auto, cpu, cuda, cuda:1 ...)") from None


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; anything else as given."""
    device = parse_device(name)
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GlanceVADError("device cuda requested but CUDA is not available")
    return device


def fast_bf16(device: torch.device) -> bool:
    """Whether bf16 autocast is a speed-up on ``device``: a GPU that supports bf16, or a CPU with
    bf16 units (AMX or AVX512-BF16). Elsewhere (an AVX2-only CPU, say) bf16 is emulated and
    measured 10-25x *slower* than fp32 for the networks' convolutions."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` where :func:`fast_bf16` holds, else ``fp32``; ``fp32`` / ``bf16`` as given."""
    if precision == "auto":
        return "bf16" if fast_bf16(device) else "fp32"
    if precision not in ("fp32", "bf16"):
        raise GlanceVADError(f"unknown precision {precision!r} (fp32, bf16 or auto)")
    return precision


def load_torch_file(path: str | os.PathLike, *, what: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; a file it cannot read is one error,
    ``"<path>: not a readable <what> (<reason>)"``.

    The weights-only unpickler warns (a ``UserWarning``) about pickle protocols before it fails on
    a raw pickle; that warning is silenced by its class and module, the failure is the message.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\._weights_only_unpickler")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        # the first sentence: torch goes on to suggest weights_only=False, which would run the file's code
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0].split(". ")[0]
        raise GlanceVADError(f"{path}: not a readable {what} ({reason})") from None
