"""Glance CSV I/O on the real annotations, statistics, simulation and perturbation."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from conftest import UCF, XD
from glancevad.data import load_dataset
from glancevad.errors import DataError, GlanceVADError
from glancevad.glance import (
    glance_stats,
    perturb_glances,
    read_glances,
    simulate_glances,
    write_glances,
)
from glancevad.intervals import label_intervals


def _real_root(tmp_path, folder, name, glance_csv):
    root = tmp_path / name
    root.mkdir()
    for suffix in (".training.csv", ".testing.csv"):
        shutil.copy(folder / f"{name}{suffix}", root)
    shutil.copy(folder / glance_csv, root)
    return root


def test_ucf_training_split_is_derived_from_data_not_positions(tmp_path):
    root = _real_root(tmp_path, UCF, "ucf-crime", "ucf_glance_annotations.csv")
    # Shuffle the list: positions must not matter.
    lines = (root / "ucf-crime.training.csv").read_text().splitlines()
    rng = np.random.default_rng(0)
    body = [lines[1:][i] for i in rng.permutation(len(lines) - 1)]
    (root / "ucf-crime.training.csv").write_text("\n".join([lines[0], *body]) + "\n")
    dataset = load_dataset(root)
    labels = [v.label for v in dataset.train]
    assert labels.count(1) == 810 and labels.count(0) == 800
    assert all(v.glances for v in dataset.train if v.label)
    assert sum(len(v.glances) for v in dataset.train) == 2026
    test_labels = [v.label for v in dataset.test]
    assert test_labels.count(1) == 140 and test_labels.count(0) == 150


def test_xd_training_split(tmp_path):
    root = _real_root(tmp_path, XD, "xd-violence", "xd_glance_annotations.csv")
    labels = [v.label for v in load_dataset(root).train]
    assert labels.count(1) == 1905 and labels.count(0) == 2049


def test_ucf_glance_statistics_reproduce_the_paper():
    stats = glance_stats(read_glances(UCF / "ucf_glance_annotations.csv"))
    assert stats.videos == 810 and stats.glances == 2026
    assert round(stats.mean, 2) == 2.50  # paper, section 5.1
    xd = glance_stats(read_glances(XD / "xd_glance_annotations.csv"))
    assert xd.videos == 1905 and xd.glances == 4278 and round(xd.mean, 2) == 2.25


def test_glance_at_frame_zero_is_kept(tmp_path):
    glances = read_glances(UCF / "ucf_glance_annotations.csv")
    at_zero = [vid for vid, frames in glances.items() if 0 in frames]
    assert at_zero, "the real UCF file has a glance at frame 0"
    path = tmp_path / "g.csv"
    path.write_text("video-id,glance\na,0\na,5\nb,0\n")
    assert read_glances(path) == {"a": (0, 5), "b": (0,)}


def test_write_read_round_trip_sorts_and_dedupes(tmp_path):
    path = write_glances(tmp_path / "g.csv", {"x,1": [9, 2, 2], "y": [0]})
    assert read_glances(path) == {"x,1": (2, 9), "y": (0,)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "glance CSV is empty"),
        ("video,frame\na,1\n", "lacks column"),
        ("video-id,glance\na,x\n", "line 2: glance 'x' is not an integer"),
        ("video-id,glance\na,-4\n", "line 2: glance -4 is below 0"),
        ("video-id,glance\na,1,2\n", "line 2: 3 field"),
        ("video-id,glance\n,4\n", "line 2: empty video-id"),
    ],
)
def test_glance_csv_errors_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "g.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as info:
        read_glances(path)
    assert str(path) in str(info.value)


def test_simulated_glances_fall_inside_each_interval_once():
    labels = np.zeros(160, np.uint8)
    labels[10:20] = 1
    labels[100:101] = 1
    gt = {"a": labels, "n": np.zeros(32, np.uint8)}
    for seed in range(20):
        glances = simulate_glances(gt, seed=seed)
        assert list(glances) == ["a"]
        frames = glances["a"]
        assert len(frames) == 2 and 10 <= frames[0] < 20 and frames[1] == 100
    assert simulate_glances(gt, seed=1) == simulate_glances(gt, seed=1)


def test_simulation_covers_every_interval_of_real_ground_truth():
    from glancevad.data.groundtruth import (
        build_ground_truth,
        match_annotations,
        read_temporal_annotations,
    )
    from glancevad.data.lengths import read_snippet_counts
    from glancevad.data.lists import read_video_list

    ids = read_video_list(UCF / "ucf-crime.testing.csv").ids
    matched, _ = match_annotations(read_temporal_annotations(UCF / "UCF_Annotation.txt"), ids)
    gt = build_ground_truth(ids, matched, read_snippet_counts(UCF / "test_lengths.csv"))
    glances = simulate_glances(gt, seed=0)
    assert len(glances) == 140
    for vid, frames in glances.items():
        intervals = label_intervals(gt[vid])
        assert len(frames) == len(intervals)
        assert all(gt[vid][f] == 1 for f in frames)


def test_perturbation_is_bounded_and_clipped():
    glances = {"a": (0, 50, 99), "b": (10,)}
    counts = {"a": 100, "b": 12}
    for seed in range(30):
        moved = perturb_glances(glances, max_shift=10, num_frames=counts, seed=seed)
        assert all(0 <= f < counts[v] for v, fs in moved.items() for f in fs)
        assert all(abs(m - o) <= 10 for m, o in zip(moved["a"], (0, 50, 99), strict=False))
    assert perturb_glances(glances, max_shift=0, num_frames=counts) == glances
    with pytest.raises(GlanceVADError, match="video b: no frame count"):
        perturb_glances(glances, max_shift=1, num_frames={"a": 100})


def test_positions_need_frame_counts_covering_each_glance():
    with pytest.raises(GlanceVADError, match="video a: glance frame 10 is beyond its 10 frames"):
        glance_stats({"a": (10,)}, num_frames={"a": 10})
    stats = glance_stats({"a": (0, 5)}, num_frames={"a": 10})
    np.testing.assert_allclose(stats.positions, [0.0, 0.5])
