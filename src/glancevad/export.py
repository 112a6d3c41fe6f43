"""``glancevad export``: the scoring network (and optionally I3D) as TorchScript or ONNX, for use without glancevad.

Files written into the output folder, with ``NAME`` the checkpoint's stem:

* ``NAME.scorer.{pt,onnx}`` — input ``features`` ``float32 (B, crops, T, D)``, output ``scores``
  ``(B, T)`` in (0, 1), averaged over crops; ``B`` and ``T`` are free. For live use, pass the last
  ``W`` snippets and read the last score (the causal scoring of ``glancevad watch``).
* with ``with_i3d``: ``NAME.i3d.{pt,onnx}`` — input ``clips`` ``float32 (N, 3, 16, 224, 224)``, RGB
  in [−1, 1] (frames resized to a short side of 256, cropped as ``glancevad extract`` does), output
  ``features`` ``(N, 1024)``; ``N`` is free. Batch norm is folded into the convolutions.
* ``NAME.export.json`` — what the files take and give, the model, crops and the check below.

Every file is checked on export: run on a random input, it must give glancevad's outputs to 1e-5
(the check's largest difference is recorded). TorchScript is traced (``torch.jit.trace``); ONNX
uses PyTorch's exporter (``torch.onnx.export(dynamo=True)``, needs the ``onnx`` extra) and is
checked with ONNX Runtime.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from glancevad.constants import FRAMES_PER_SNIPPET
from glancevad.errors import GlanceVADError, SettingError
from glancevad.fileio import atomic_write, check_output, write_json

FORMATS = ("torchscript", "onnx")
SUFFIX = {"torchscript": ".pt", "onnx": ".onnx"}
TOLERANCE = 1e-5


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise GlanceVADError(f"--format onnx needs the onnx extra (pip install 'glancevad[onnx]'): {exc}") from None


@contextlib.contextmanager
def _quiet():
    """Silence the exporters' deprecation warnings and log chatter (their output is checked instead)."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class _Features(nn.Module):
    """I3D's snippet feature (Mixed_5c pooled) as the module's forward, for tracing."""

    def __init__(self, i3d: nn.Module):
        super().__init__()
        self.i3d = i3d

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.i3d.features(clips)


def _write(module: nn.Module, example: torch.Tensor, path: Path, fmt: str, names: tuple[str, str],
           dynamic: dict[int, str]) -> Callable[[np.ndarray], np.ndarray]:
    """Write ``module`` traced on ``example``; returns a function running the written file."""
    if fmt == "torchscript":
        with _quiet(), torch.no_grad():
            traced = torch.jit.trace(module, example)
        with _quiet():
            with atomic_write(path, "wb") as handle:
                torch.jit.save(traced, handle)
            loaded = torch.jit.load(str(path))

        def run_torchscript(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return loaded(torch.from_numpy(x)).numpy()

        return run_torchscript
    import onnxruntime

    shapes = ({axis: torch.export.Dim(name, min=2 if name == "snippets" else 1) for axis, name in dynamic.items()},)
    with _quiet():
        program = torch.onnx.export(module, (example,), input_names=[names[0]], output_names=[names[1]],
                                    dynamic_shapes=shapes, dynamo=True, optimize=True, verbose=False)
        with atomic_write(path, "wb") as handle:
            handle.write(program.model_proto.SerializeToString())
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {names[0]: x})[0]


def _check(run: Callable[[np.ndarray], np.ndarray], reference: nn.Module, inputs: list[torch.Tensor],
           path: Path) -> float:
    """Largest difference between the exported file and ``reference`` on ``inputs``; over 1e-5 is an error."""
    worst = 0.0
    for x in inputs:
        with torch.no_grad():
            expected = reference(x).numpy()
        worst = max(worst, float(np.abs(run(x.numpy()) - expected).max()))
    if worst > TOLERANCE:
        raise GlanceVADError(f"{path}: the exported model differs from glancevad's by {worst:.2e} (> {TOLERANCE:g})")
    return worst


def export_checkpoint(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    *,
    fmt: str = "torchscript",
    with_i3d: bool = False,
    weights: str = "rgb_scratch",
    crops: int | None = None,
    window: int = 32,
    seed: int = 0,
) -> dict[str, Any]:
    """Write the scoring network (and, with ``with_i3d``, I3D) of ``checkpoint`` into ``out``; see the module.

    ``window`` is the length of the example traced (any length works afterwards). Returns the
    manifest written to ``NAME.export.json`` (with ``"paths"``).
    """
    from glancevad.features.extract import check_crops
    from glancevad.features.i3d import FEATURE_DIM, fuse_batch_norm
    from glancevad.features.preprocess import CROP_SIZE
    from glancevad.features.weights import load_i3d
    from glancevad.inference import Inferencer

    if fmt not in FORMATS:
        raise SettingError("format", f"must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if window < 2:
        raise SettingError("window", f"must be at least 2 snippets, not {window}")
    if fmt == "onnx":
        _require_onnx()
    check_output(out, kind="folder")
    inferencer = Inferencer.load(checkpoint, device="cpu", weights=weights)
    if with_i3d and inferencer.cannot_extract is not None:
        raise GlanceVADError(inferencer.cannot_extract)
    loaded = inferencer.loaded
    crops = inferencer.crops if crops is None else crops   # by default what detect and watch feed it
    if with_i3d:
        check_crops(crops)
    elif crops < 1:
        raise SettingError("crops", f"must be at least 1, not {crops}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    name = Path(checkpoint).stem
    generator = torch.Generator().manual_seed(seed)
    model = loaded.model.eval()
    example = torch.rand(1, crops, window, loaded.in_dim, generator=generator) * 2
    scorer_path = out / f"{name}.scorer{SUFFIX[fmt]}"
    run = _write(model, example, scorer_path, fmt, ("features", "scores"), {0: "batch", 2: "snippets"})
    others = [torch.rand(2, crops, max(2, window // 2) + 3, loaded.in_dim, generator=generator) * 2]
    files = {"scorer": {"path": str(scorer_path), "input": "features (B, crops, T, D) float32",
                        "output": "scores (B, T) float32", "max_abs_difference": _check(run, model, [example, *others],
                                                                                         scorer_path)}}
    if with_i3d:
        i3d = _Features(fuse_batch_norm(load_i3d(weights).eval()))
        clips = torch.rand(1, 3, FRAMES_PER_SNIPPET, CROP_SIZE, CROP_SIZE, generator=generator) * 2 - 1
        i3d_path = out / f"{name}.i3d{SUFFIX[fmt]}"
        run = _write(i3d, clips, i3d_path, fmt, ("clips", "features"), {0: "clips"})
        files["i3d"] = {"path": str(i3d_path),
                        "input": f"clips (N, 3, {FRAMES_PER_SNIPPET}, {CROP_SIZE}, {CROP_SIZE}) float32 in [-1, 1]",
                        "output": f"features (N, {FEATURE_DIM}) float32", "weights": weights,
                        "max_abs_difference": _check(run, i3d, [clips], i3d_path)}
    manifest = {"checkpoint": str(checkpoint), "model": loaded.name, "format": fmt, "crops": crops,
                "feature_dim": loaded.in_dim, "frames_per_snippet": FRAMES_PER_SNIPPET, "tolerance": TOLERANCE,
                "files": files}
    manifest_path = write_json(out / f"{name}.export.json", manifest)
    return {**manifest, "paths": [Path(f["path"]) for f in files.values()] + [manifest_path]}
