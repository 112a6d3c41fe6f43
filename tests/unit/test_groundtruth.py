"""Ground truth from the real temporal annotations, and the parsers' errors."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from conftest import UCF, XD
from glancevad.data.groundtruth import (
    build_ground_truth,
    interval_labels,
    match_annotations,
    read_ground_truth,
    read_temporal_annotations,
    write_ground_truth,
)
from glancevad.data.lengths import read_frame_counts, read_snippet_counts
from glancevad.data.lists import normalise_video_name, read_video_list
from glancevad.errors import DataError
from glancevad.intervals import label_intervals


def _expected_anomalous_frames(lengths_csv):
    with open(lengths_csv) as handle:
        return {row["video-id"]: int(row["num_anomalous_frames"]) for row in csv.DictReader(handle)}


@pytest.mark.parametrize(
    ("folder", "annotations", "test_list", "count", "fmt"),
    [
        (UCF, "UCF_Annotation.txt", "ucf-crime.testing.csv", 290, "ucf"),
        (XD, "annotations.txt", "xd-violence.testing.csv", 800, "xd"),
    ],
)
def test_real_ground_truth_matches_published_anomalous_frame_counts(
    folder, annotations, test_list, count, fmt, tmp_path
):
    ids = read_video_list(folder / test_list).ids
    parsed = read_temporal_annotations(folder / annotations)
    assert read_temporal_annotations(folder / annotations, fmt) == parsed  # auto-detected
    matched, unmatched = match_annotations(parsed, ids)
    assert unmatched == []
    lengths = read_snippet_counts(folder / "test_lengths.csv")
    gt = build_ground_truth(ids, matched, lengths)
    assert len(gt) == count
    expected = _expected_anomalous_frames(folder / "test_lengths.csv")
    for vid, labels in gt.items():
        assert len(labels) == 16 * lengths[vid]
        assert int(labels.sum()) == expected[vid], vid
    # round trip through the official JSON
    path = write_ground_truth(tmp_path / "gt.json", gt)
    again = read_ground_truth(path)
    assert all(np.array_equal(again[v], gt[v]) for v in gt)


def test_xd_names_with_mp4_suffix_and_ucf_class_folders_are_matched():
    assert normalise_video_name("Arson/Arson022_x264.mp4") == "Arson022_x264"
    assert normalise_video_name("v=abc__#1_label_B4-0-0.mp4") == "v=abc__#1_label_B4-0-0"
    assert normalise_video_name("Bad.Boys.1995__#00-26-51_00-27-53_label_B2-0-0") == (
        "Bad.Boys.1995__#00-26-51_00-27-53_label_B2-0-0"
    )
    parsed = read_temporal_annotations(XD / "annotations.txt")
    assert sum(a.name.endswith(".mp4") for a in parsed) == 14


def test_intervals_are_end_exclusive_and_clipped():
    labels = interval_labels([(3, 5), (30, 100)], 2)
    assert len(labels) == 32
    assert labels.tolist()[:6] == [0, 0, 0, 1, 1, 0]
    assert labels[30:].tolist() == [1, 1]
    assert label_intervals(labels) == [(3, 5), (30, 32)]
    assert label_intervals(np.zeros(5)) == []


def test_unmatched_annotation_names_are_reported(tmp_path):
    ann = tmp_path / "ann.txt"
    ann.write_text("Cls/a.mp4 100 Cls 0 10 -1 -1\nCls/zzz.mp4 50 Cls 1 2 -1 -1\n")
    matched, unmatched = match_annotations(read_temporal_annotations(ann), ["a", "b"])
    assert list(matched) == ["a"] and unmatched == ["Cls/zzz.mp4"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("a 10 20 30\n", "line 1: video a: odd number of interval bounds"),
        ("a 1 2 3 x\n", "line 1: end 'x' is not an integer"),
        ("a 30 20\n", r"line 1: video a: bad interval \(30, 20\)"),
        ("Cls/a.mp4 100 Cls 5\n", "line 1: video Cls/a.mp4: odd number"),
    ],
)
def test_temporal_annotation_errors_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "ann.txt"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as info:
        read_temporal_annotations(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "malformed ground-truth JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"v": [0, 1]}', 'video v: entry must be an object with a "labels" list'),
        ('{"v": {"labels": [0, 2]}}', "video v: labels must all be 0 or 1"),
        ('{"v": {"labels": []}}', "video v: labels are empty"),
        ('{"v": {"labels": [1], "num_frames": -3}}', "video v: num_frames -3 is not a count"),
    ],
)
def test_ground_truth_json_errors(tmp_path, text, message):
    path = tmp_path / "gt.json"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        read_ground_truth(path)


def test_missing_length_is_an_error_naming_the_video():
    with pytest.raises(DataError, match="video b: no snippet count"):
        build_ground_truth(["a", "b"], {}, {"a": 3})


def test_frame_counts_from_ucf_train_annotation_and_lengths_csv():
    counts = read_frame_counts(UCF / "Train_Annotation.txt")
    assert len(counts) == 1610 and counts["Vandalism048_x264"] == 7183
    test_counts = read_frame_counts(UCF / "test_lengths.csv")
    assert test_counts["Abuse028_x264"] == 1408


def test_line_breaks_in_a_video_id_keep_the_error_on_one_line(tmp_path):
    """Found by the property test: a JSON key "\\n" used to split the message over two lines."""
    path = tmp_path / "gt.json"
    path.write_text('{"a\\nb": null}')
    with pytest.raises(DataError, match=r"video a\\nb: entry must be an object") as info:
        read_ground_truth(path)
    assert "\n" not in str(info.value)
