"""The synthetic dataset: layout, determinism, event lengths, and the confound it is built around."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from glancevad.data import load_dataset
from glancevad.data.groundtruth import label_intervals, read_ground_truth
from glancevad.errors import GlanceVADError
from glancevad.synth import synth_config, write_synthetic_dataset


def test_same_seed_same_bytes(tmp_path):
    cfg = synth_config("tiny", seed=11)
    a = write_synthetic_dataset(tmp_path / "a", cfg)
    b = write_synthetic_dataset(tmp_path / "b", cfg)
    for path in sorted(a.rglob("*")):
        if path.is_file():
            assert path.read_bytes() == (b / path.relative_to(a)).read_bytes(), path
    c = write_synthetic_dataset(tmp_path / "c", synth_config("tiny", seed=12))
    first = sorted((a / "i3d/train").glob("*.npy"))[0].name
    assert not np.array_equal(np.load(a / "i3d/train" / first), np.load(c / "i3d/train" / first))


@pytest.mark.parametrize("naming", ["glancevad", "indexed", "stacked"])
def test_every_crop_naming_loads(tmp_path, naming):
    root = write_synthetic_dataset(tmp_path / naming, synth_config("tiny", crop_naming=naming, crops=3))
    dataset = load_dataset(root)
    x = dataset.load_features(dataset.test[0])
    assert x.shape[1:] == (3, 16) and (x >= 0).all()


def test_lists_are_not_ordered_by_class(tiny_root):
    ids = (tiny_root / "synthetic.training.csv").read_text().split()[1:]
    kinds = [vid.startswith("abnormal") for vid in ids]
    assert kinds != sorted(kinds) and kinds != sorted(kinds, reverse=True)


def test_glances_fall_inside_training_events(tiny_root):
    dataset = load_dataset(tiny_root)
    gt = read_ground_truth(tiny_root / "synthetic_train_ground_truth.json")
    for video in dataset.train:
        assert bool(video.glances) == bool(video.label)
        assert len(video.glances) == len(label_intervals(gt[video.id]))
        assert all(gt[video.id][g] for g in video.glances)


def test_event_lengths_span_short_to_most_of_the_video(tmp_path):
    root = write_synthetic_dataset(tmp_path / "d", synth_config("demo", dim=8, crops=1))
    gt = read_ground_truth(root / "synthetic_ground_truth.json")
    fractions, snippets = [], []
    for labels in gt.values():
        for start, end in label_intervals(labels):
            fractions.append((end - start) / len(labels))
            snippets.append((end - start) / 16)
    assert min(snippets) <= 5 and max(fractions) >= 0.5


def test_refuses_bad_config(tmp_path):
    with pytest.raises(GlanceVADError, match="unknown synthetic option 'colour'"):
        synth_config("tiny", colour=1)
    with pytest.raises(GlanceVADError, match="crop naming 'zip'"):
        write_synthetic_dataset(tmp_path / "z", synth_config("tiny", crop_naming="zip"))


def _snippets(dataset, videos, gt):
    xs, frame_labels, video_labels = [], [], []
    for video in videos:
        x = dataset.load_features(video).mean(axis=1)
        xs.append(x)
        video_labels.append(np.full(len(x), video.label))
        frame_labels.append(gt[video.id].reshape(-1, 16).max(axis=1))
    return np.concatenate(xs), np.concatenate(frame_labels), np.concatenate(video_labels)


def test_video_level_labels_learn_the_context_as_anomaly(tmp_path):
    """The confound: a snippet probe trained on video labels flags the context around events."""
    root = write_synthetic_dataset(
        tmp_path / "c", synth_config("demo", dim=32, crops=1, train_normal=60, train_abnormal=60,
                                     test_normal=30, test_abnormal=30)
    )
    dataset = load_dataset(root)
    train_gt = read_ground_truth(root / "synthetic_train_ground_truth.json")
    test_gt = read_ground_truth(root / "synthetic_ground_truth.json")
    x, frame_y, video_y = _snippets(dataset, dataset.train, train_gt)
    xt, frame_yt, video_yt = _snippets(dataset, dataset.test, test_gt)
    weak = LogisticRegression(max_iter=2000).fit(x, video_y).predict_proba(xt)[:, 1]
    dense = LogisticRegression(max_iter=2000).fit(x, frame_y).predict_proba(xt)[:, 1]
    meta = json.loads((root / "synth_meta.json").read_text())["videos"]
    assert any(m["lone_context"] for m in meta.values())
    background = (video_yt == 1) & (frame_yt == 0)  # non-event snippets of abnormal videos
    normal = video_yt == 0
    # Weak labels: the background of abnormal videos looks much more anomalous than normal videos.
    assert weak[background].mean() - weak[normal].mean() > 0.15
    # Dense labels: that gap mostly disappears, and events stay well separated.
    assert dense[background].mean() - dense[normal].mean() < 0.5 * (weak[background].mean() - weak[normal].mean())
    assert dense[frame_yt == 1].mean() > dense[background].mean() + 0.3
