"""The synthetic dataset: layout, determinism, event lengths, and the confound it is built around."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from glancevad.data import load_dataset
from glancevad.data.groundtruth import read_ground_truth
from glancevad.errors import GlanceVADError
from glancevad.intervals import label_intervals
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
    gt = {**read_ground_truth(root / "synthetic_ground_truth.json"),
          **read_ground_truth(root / "synthetic_train_ground_truth.json")}
    fractions, snippets = [], []
    for labels in gt.values():
        for start, end in label_intervals(labels):
            fractions.append((end - start) / len(labels))
            snippets.append((end - start) / 16)
    assert min(snippets) <= 5 and max(fractions) >= 0.5


def test_refuses_bad_config(tmp_path):
    with pytest.raises(GlanceVADError, match="unknown synthetic option 'colour'"):
        synth_config("tiny", colour=1)
    with pytest.raises(GlanceVADError, match="feature layout 'zip'"):
        write_synthetic_dataset(tmp_path / "z", synth_config("tiny", crop_naming="zip"))


def _snippets(dataset, videos, gt, meta):
    xs, frame_labels, video_labels, context = [], [], [], []
    for video in videos:
        x = dataset.load_features(video).mean(axis=1)
        xs.append(x)
        video_labels.append(np.full(len(x), video.label))
        frame_labels.append(gt[video.id].reshape(-1, 16).max(axis=1))
        in_context = np.zeros(len(x), bool)
        for start, end in meta[video.id]["context"]:
            in_context[start // 16:(end + 15) // 16] = True
        context.append(in_context)
    return [np.concatenate(a) for a in (xs, frame_labels, video_labels, context)]


def test_video_level_labels_learn_the_context_as_anomaly(tmp_path):
    """The confound: a snippet probe trained on video labels flags context; dense labels do not."""
    root = write_synthetic_dataset(
        tmp_path / "c", synth_config("demo", dim=32, crops=1, train_normal=60, train_abnormal=60,
                                     test_normal=30, test_abnormal=30)
    )
    dataset = load_dataset(root)
    meta = json.loads((root / "synth_meta.json").read_text())["videos"]
    x, frame_y, video_y, _ = _snippets(dataset, dataset.train,
                                       read_ground_truth(root / "synthetic_train_ground_truth.json"), meta)
    xt, frame_yt, video_yt, context_t = _snippets(dataset, dataset.test,
                                                  read_ground_truth(root / "synthetic_ground_truth.json"), meta)
    weak = LogisticRegression(max_iter=2000).fit(x, video_y).predict_proba(xt)[:, 1]
    dense = LogisticRegression(max_iter=2000).fit(x, frame_y).predict_proba(xt)[:, 1]
    assert any(m["context"] for vid, m in meta.items() if vid.startswith("normal"))
    plain = (video_yt == 0) & ~context_t
    # Video labels: context snippets (in abnormal and normal videos) look anomalous.
    assert weak[context_t].mean() - weak[plain].mean() > 0.12
    # Dense labels: context looks normal, events stand out.
    assert dense[context_t].mean() - dense[plain].mean() < 0.1
    assert dense[frame_yt == 1].mean() - dense[context_t].mean() > 0.4
    abnormal = video_yt == 1
    assert roc_auc_score(frame_yt[abnormal], dense[abnormal]) > roc_auc_score(frame_yt[abnormal], weak[abnormal]) + 0.05
