"""The dataset root: loading, label derivation and the cross-file checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from glancevad.data import load_dataset
from glancevad.data.check import check_dataset
from glancevad.errors import DataError


def test_tiny_dataset_loads_and_checks(tiny_root):
    dataset = load_dataset(tiny_root)
    assert dataset.name == "synthetic"
    assert len(dataset.train) == 16 and len(dataset.test) == 8
    assert sum(v.label for v in dataset.train) == 8 and sum(v.label for v in dataset.test) == 4
    report = check_dataset(dataset)
    assert report.ok, report.errors
    assert dict(report.splits["train"].crops) == {2: 16}
    x = dataset.load_features(dataset.train[0])
    assert x.ndim == 3 and x.shape[1:] == (2, 16)


def _rewrite_glances(root, rows):
    path = root / "synthetic_glance_annotations.csv"
    path.write_text("video-id,glance\n" + "".join(f"{v},{g}\n" for v, g in rows))
    return path


def test_glance_beyond_the_video_is_reported(tiny_copy):
    dataset = load_dataset(tiny_copy)
    video = next(v for v in dataset.train if v.label)
    num_snippets = dataset.load_features(video).shape[0]
    rows = [(v.id, g) for v in dataset.train for g in v.glances if v.id != video.id]
    _rewrite_glances(tiny_copy, [*rows, (video.id, 16 * num_snippets)])
    dataset = load_dataset(tiny_copy)
    with pytest.raises(DataError, match=f"video {video.id}: glance frame {16 * num_snippets} is beyond"):
        dataset.load_features(next(v for v in dataset.train if v.id == video.id))
    report = check_dataset(dataset)
    assert any(f"video {video.id}: glance frame" in e for e in report.errors)


def test_glance_on_an_unlisted_video(tiny_copy):
    path = _rewrite_glances(tiny_copy, [("abnormal_train_0001", 3), ("ghost", 5)])
    with pytest.raises(DataError, match=f"{path}: video ghost has glances but is not in"):
        load_dataset(tiny_copy)


def test_abnormal_video_without_glance_must_be_labelled(tiny_copy):
    _rewrite_glances(tiny_copy, [("abnormal_train_0001", 3)])
    with pytest.raises(DataError, match="video abnormal_train_0002 has no glance"):
        load_dataset(tiny_copy)


def test_explicit_label_column_wins(tiny_copy):
    listing = tiny_copy / "synthetic.training.csv"
    ids = listing.read_text().split()[1:]
    listing.write_text("video-id,label\n" + "".join(
        f"{v},{'abnormal' if v.startswith('abnormal') else 'normal'}\n" for v in ids))
    _rewrite_glances(tiny_copy, [("abnormal_train_0001", 3)])
    dataset = load_dataset(tiny_copy)
    assert sum(v.label for v in dataset.train) == 8
    assert sum(bool(v.glances) for v in dataset.train) == 1


def test_glance_on_a_normal_id_is_a_conflict(tiny_copy):
    _rewrite_glances(tiny_copy, [("normal_train_0001", 3)])
    with pytest.raises(DataError, match="video normal_train_0001 has glances but its id marks a normal"):
        load_dataset(tiny_copy)


def test_ground_truth_must_cover_the_test_list_and_match_lengths(tiny_copy):
    gt_path = tiny_copy / "synthetic_ground_truth.json"
    gt = json.loads(gt_path.read_text())
    vid = next(iter(gt))
    short = dict(gt)
    short[vid] = {"labels": gt[vid]["labels"][:-16]}
    gt_path.write_text(json.dumps(short))
    report = check_dataset(load_dataset(tiny_copy))
    assert any(f"video {vid}: ground truth has" in e for e in report.errors)
    del short[vid]
    gt_path.write_text(json.dumps(short))
    with pytest.raises(DataError, match=f"test video {vid} has no ground truth"):
        load_dataset(tiny_copy)
    gt_path.write_text(json.dumps({**gt, "stranger": {"labels": [0] * 16}}))
    with pytest.raises(DataError, match="video stranger is not in synthetic.testing.csv"):
        load_dataset(tiny_copy)


def test_check_reports_missing_crop_and_nan_per_video(tiny_copy):
    crop = sorted((tiny_copy / "i3d" / "train").glob("*__1.npy"))[0]
    crop.unlink()
    victim = sorted((tiny_copy / "i3d" / "test").glob("*__1.npy"))[0]
    array = np.load(victim)
    array[0, 0] = np.nan
    np.save(victim, array)
    report = check_dataset(load_dataset(tiny_copy))
    # With GlanceVAD naming, a video left with only <vid>.npy looks like a one-crop video:
    # the dataset-level check names it.
    vid = crop.name.removesuffix("__1.npy")
    assert len(report.errors) == 2
    assert "NaN" in report.errors[0] and victim.name in report.errors[0]
    assert f"video {vid} has crop count 1, most videos have 2 (crop files missing?)" in (
        report.errors[1]
    )


def test_dimension_disagreement_names_the_odd_video(tiny_copy):
    victim = sorted((tiny_copy / "i3d" / "test").glob("*.npy"))[0]
    vid = victim.name.split("__")[0].removesuffix(".npy")
    for path in (tiny_copy / "i3d" / "test").glob(f"{vid}*.npy"):
        np.save(path, np.ones((np.load(path).shape[0], 3), np.float32))
    report = check_dataset(load_dataset(tiny_copy))
    assert any(f"video {vid} has feature dimension 3, most videos have 16" in e
               for e in report.errors)


def test_missing_list_and_duplicate_ids(tiny_copy):
    (tiny_copy / "synthetic.testing.csv").write_text("video-id\na\na\n")
    with pytest.raises(DataError, match="line 3: video a already listed on line 2"):
        load_dataset(tiny_copy)
    (tiny_copy / "synthetic.testing.csv").unlink()
    with pytest.raises(DataError, match="synthetic.testing.csv: video list not found"):
        load_dataset(tiny_copy)
