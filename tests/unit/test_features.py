"""Feature-file conventions and every bad feature file, each with its message."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SAMPLES
from glancevad.data.feature_files import FeatureIndex, feature_shape, load_features
from glancevad.errors import DataError


def _write(folder, name, array):
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / name, array)


def _crops(t=5, c=3, d=4, seed=0):
    return np.random.default_rng(seed).random((t, c, d)).astype(np.float32)


@pytest.mark.parametrize("naming", ["glancevad", "indexed", "stacked"])
def test_three_namings_load_the_same_array(tmp_path, naming):
    x = _crops()
    vid = "v=odd__#1_label_B4-0-0"  # XD ids contain '__' themselves
    if naming == "glancevad":
        _write(tmp_path, f"{vid}.npy", x[:, 0])
        for c in (1, 2):
            _write(tmp_path, f"{vid}__{c}.npy", x[:, c])
    elif naming == "indexed":
        for c in range(3):
            _write(tmp_path, f"{vid}__{c}.npy", x[:, c])
    else:
        _write(tmp_path, f"{vid}.npy", x)
    files = FeatureIndex(tmp_path).locate(vid)
    assert files.stacked == (naming == "stacked")
    np.testing.assert_array_equal(load_features(files), x)
    assert feature_shape(files) == (5, 3, 4)


def test_single_crop_two_dimensional_file(tmp_path):
    _write(tmp_path, "a.npy", np.ones((7, 4), np.float32))
    assert load_features(FeatureIndex(tmp_path).locate("a")).shape == (7, 1, 4)


def test_real_resnet50_i3d_sample_loads_through_the_stacked_layout():
    folder = SAMPLES
    index = FeatureIndex(folder)
    files = index.locate("shanghaitech_01_002_i3d_r50_10crop")
    features = load_features(files, expected_dim=2048)
    assert files.stacked and features.shape == (30, 10, 2048) and features.dtype == np.float32


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: [_write(d, f"v__{c}.npy", np.ones((4, 3), np.float32)) for c in (0, 1, 3)],
         r"video v: crop file\(s\) v__2.npy missing"),
        (lambda d: [_write(d, f"v__{c}.npy", np.ones((4, 3), np.float32)) for c in (1, 2)],
         r"video v: crop file\(s\) v__0.npy missing"),
        (lambda d: [_write(d, n, np.ones((4, 3), np.float32)) for n in ("v.npy", "v__0.npy")],
         "both v.npy and v__0.npy exist"),
        (lambda d: _write(d, "other.npy", np.ones((4, 3), np.float32)), "video v: no feature file"),
    ],
)
def test_missing_or_ambiguous_crop_files(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(DataError, match=message):
        FeatureIndex(tmp_path).locate("v")


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.ones((0, 4), np.float32), r"no snippets \(T = 0\)"),
        (np.ones((3, 5), np.float32), "feature dimension 5, expected 4"),
        (np.array([[1, 2, np.nan, 4]], np.float32), "NaN or infinite value"),
        (np.array([[1, 2, np.inf, 4]], np.float32), "NaN or infinite value"),
        (np.ones((3, 4), np.int64), "dtype int64, expected floating point"),
        (np.ones(4, np.float32), "expected 2 dimensions"),
    ],
)
def test_bad_feature_values_name_file_and_video(tmp_path, array, message):
    _write(tmp_path, "v.npy", array)
    files = FeatureIndex(tmp_path).locate("v") if array.ndim != 3 else None
    with pytest.raises(DataError, match=message) as info:
        load_features(files, expected_dim=4)
    assert "v.npy" in str(info.value) and "video v" in str(info.value)


def test_crops_with_different_lengths(tmp_path):
    _write(tmp_path, "v.npy", np.ones((4, 3), np.float32))
    _write(tmp_path, "v__1.npy", np.ones((5, 3), np.float32))
    files = FeatureIndex(tmp_path).locate("v")
    with pytest.raises(DataError, match="video v: crops disagree in shape"):
        load_features(files)
    with pytest.raises(DataError, match="video v: crops disagree in shape"):
        feature_shape(files)


def test_not_a_npy_file(tmp_path):
    (tmp_path / "v.npy").write_bytes(b"garbage")
    with pytest.raises(DataError, match="not a readable .npy file"):
        FeatureIndex(tmp_path).locate("v")


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="feature folder not found"):
        FeatureIndex(tmp_path / "nope")


def test_a_listed_id_ending_in_a_crop_number_is_its_own_video(tmp_path):
    """``normal_cam__2`` (files ``normal_cam__2.npy``, ``normal_cam__2__1.npy``) is one video of two
    crops when the lists name it, even beside a video ``normal_cam`` of its own."""
    for name in ("normal_cam__2.npy", "normal_cam__2__1.npy", "normal_cam.npy", "normal_cam__1.npy"):
        _write(tmp_path, name, np.full((5, 3), float(len(name)), np.float32))
    index = FeatureIndex(tmp_path, ids=["normal_cam__2", "normal_cam"])
    files = index.locate("normal_cam__2")
    assert [p.name for p in files.paths] == ["normal_cam__2.npy", "normal_cam__2__1.npy"] and not files.stacked
    assert [p.name for p in index.locate("normal_cam").paths] == ["normal_cam.npy", "normal_cam__1.npy"]
    assert index.video_ids() == ["normal_cam", "normal_cam__2"]
    # without the lists normal_cam__2.npy is crop 2 of normal_cam or normal_cam__2's own: the error says both
    with pytest.raises(DataError, match=r"normal_cam__2.npy reads as crop 2 of normal_cam and as crop 0 of "
                                        r"normal_cam__2 \(beside normal_cam__2__1.npy\)"):
        FeatureIndex(tmp_path).locate("normal_cam")
    assert [p.name for p in FeatureIndex(tmp_path).locate("normal_cam__2").paths] == [
        "normal_cam__2.npy", "normal_cam__2__1.npy"]
