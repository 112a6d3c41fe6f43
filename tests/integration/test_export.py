"""``glancevad export``: the written files, run without glancevad, give glancevad's scores to 1e-5."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cli_helpers import assert_user_error, run
from glancevad.engine.checkpoint import load_model, save_checkpoint
from glancevad.export import export_checkpoint
from glancevad.models import build, list_models

SMALL = {"mil": {"hidden": 64, "head_hidden": 16}, "rtfm": {"width": 64}, "urdmu": {"hidden": 64}}


def _checkpoint(path, name: str, in_dim: int = 1024, crops: int = 2):
    torch.manual_seed(0)
    kwargs = {"in_dim": in_dim, **SMALL[name]}
    state = build(name, **kwargs).state_dict()
    save_checkpoint(path, {"model_name": name, "model_kwargs": kwargs, "model_state": state, "crops": crops})
    return path


def _run_exported(path, fmt: str, x: np.ndarray) -> np.ndarray:
    """The exported file on its own: TorchScript through torch.jit, ONNX through ONNX Runtime."""
    if fmt == "torchscript":
        with torch.no_grad():
            return torch.jit.load(str(path))(torch.from_numpy(x)).numpy()
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
@pytest.mark.parametrize("name", list_models())
def test_exported_scorer_gives_glancevads_scores(tmp_path, name, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    checkpoint = _checkpoint(tmp_path / f"{name}.pt", name)
    manifest = export_checkpoint(checkpoint, tmp_path / "out", fmt=fmt, window=16)
    scorer = manifest["files"]["scorer"]
    assert scorer["max_abs_difference"] <= 1e-5
    # a 2-crop network is fed the 5 crops detect and watch extract for it; other batch and length
    x = np.random.default_rng(1).random((3, 5, 37, 1024), dtype=np.float32) * 2
    with torch.no_grad():
        expected = load_model(checkpoint).model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(_run_exported(scorer["path"], fmt, x), expected, rtol=0, atol=1e-5)
    written = json.loads((tmp_path / "out" / f"{name}.export.json").read_text())
    assert written["model"] == name and written["crops"] == 5 and written["format"] == fmt


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_with_i3d_through_the_cli(tmp_path, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    from glancevad.features.weights import load_i3d

    checkpoint = _checkpoint(tmp_path / "mil.pt", "mil", crops=1)
    out = tmp_path / "export"
    proc = run("export", "--checkpoint", checkpoint, "--format", fmt, "--with-i3d", "--out", out)
    suffix = ".pt" if fmt == "torchscript" else ".onnx"
    for part in ("scorer", "i3d"):
        assert str(out / f"mil.{part}{suffix}") in proc.stdout.replace("\n", "")
    clips = (torch.rand(2, 3, 16, 224, 224, generator=torch.Generator().manual_seed(2)) * 2 - 1).numpy()
    with torch.no_grad():
        expected = load_i3d().eval().features(torch.from_numpy(clips)).numpy()
    np.testing.assert_allclose(_run_exported(out / f"mil.i3d{suffix}", fmt, clips), expected, rtol=0, atol=1e-5)


def test_export_user_errors(tmp_path):
    assert_user_error(run("export", "--checkpoint", tmp_path / "missing.pt", "--out", tmp_path, check=False),
                      "missing.pt: checkpoint not found")
    small = _checkpoint(tmp_path / "small.pt", "mil", in_dim=32)
    assert_user_error(run("export", "--checkpoint", small, "--with-i3d", "--out", tmp_path, check=False),
                      "takes 32-d features but I3D gives 1024-d")
