"""The published annotation files bundled with the package: present, unchanged, usable by dataset name."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cli_helpers import assert_user_error, run
from conftest import SHARED
from glancevad.data import load_dataset
from glancevad.data.groundtruth import read_ground_truth
from glancevad.data.published import PUBLISHED, init_dataset_root, published_dataset
from glancevad.errors import DataError

# dataset -> (training videos, abnormal among them, test videos, abnormal among them), as SOURCES.md states
COUNTS = {"ucf-crime": (1610, 810, 290, 140), "xd-violence": (3954, 1905, 800, 500)}


def _files(name: str):
    bundled = PUBLISHED[name]
    paths = [bundled.training_list, bundled.testing_list, bundled.glances, bundled.annotations, bundled.test_lengths]
    return paths + ([bundled.train_frame_counts] if bundled.train_frame_counts else [])


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_every_file_is_bundled_named_in_sources_and_nothing_else(name):
    files = _files(name)
    assert all(path.is_file() and path.stat().st_size > 0 for path in files)
    assert sorted(p.name for p in PUBLISHED[name].folder.iterdir()) == sorted(p.name for p in files)
    sources = (PUBLISHED[name].folder.parent / "SOURCES.md").read_text(encoding="utf-8")
    for path in files:
        assert f"{name}/{path.name}" in sources or path.name in sources, path.name


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_the_bundled_files_are_the_published_ones_byte_for_byte(name):
    original = SHARED / "data" / name
    if not original.is_dir():
        pytest.skip(f"the originals {original} are absent (../shared is not beside this clone)")
    for path in _files(name):
        assert path.read_bytes() == (original / path.name).read_bytes(), path.name


def test_datasets_are_found_by_their_name_or_their_presets():
    assert published_dataset("ucf") is PUBLISHED["ucf-crime"] is published_dataset("ucf-crime")
    assert published_dataset("xd") is PUBLISHED["xd-violence"]
    with pytest.raises(DataError, match="dataset 'shanghai': no published annotation files bundled; known: "
                                        r"ucf-crime \(ucf\), xd-violence \(xd\)"):
        published_dataset("shanghai")


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_an_initialised_root_loads_with_the_published_counts(name, tmp_path):
    written = init_dataset_root(tmp_path / "root", name)
    assert [p.name for p in written][-1] == f"{name}_ground_truth.json"
    assert (tmp_path / "root" / "i3d" / "train").is_dir() and (tmp_path / "root" / "i3d" / "test").is_dir()
    dataset = load_dataset(tmp_path / "root")
    counts = (len(dataset.train), sum(v.label for v in dataset.train), len(dataset.test),
              sum(v.label for v in dataset.test))
    assert dataset.name == name and counts == COUNTS[name]
    # the ground truth spans 16 frames per snippet of the published lengths
    lengths = {line.split(",")[0]: line.split(",") for line in PUBLISHED[name].test_lengths.read_text().splitlines()}
    header = lengths.pop("video-id")
    column = header.index("num_snippets_T")
    assert all(len(dataset.ground_truth[vid]) == 16 * int(row[column]) for vid, row in lengths.items())


def test_init_keeps_what_is_there_unless_forced(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "ucf-crime.testing.csv").write_text("mine\n")
    with pytest.raises(DataError, match="ucf-crime.testing.csv: exists already; replace it with --force"):
        init_dataset_root(root, "ucf")
    assert (root / "ucf-crime.testing.csv").read_text() == "mine\n"
    assert not (root / "ucf-crime.training.csv").exists()  # nothing half-written
    init_dataset_root(root, "ucf", force=True)
    assert (root / "ucf-crime.testing.csv").read_bytes() == PUBLISHED["ucf-crime"].testing_list.read_bytes()


def test_gt_build_and_glance_stats_by_dataset_name(tmp_path):
    ucf = PUBLISHED["ucf-crime"]
    explicit, by_name = tmp_path / "explicit.json", tmp_path / "by_name.json"
    run("gt", "build", "--annotations", ucf.annotations, "--list", ucf.testing_list, "--lengths", ucf.test_lengths,
        "--out", explicit)
    printed = run("gt", "build", "--dataset", "ucf", "--out", by_name).stdout
    assert "290 videos (140 abnormal, 0 annotation(s) unmatched)" in printed
    first, second = read_ground_truth(explicit), read_ground_truth(by_name)
    assert first.keys() == second.keys() and all(np.array_equal(first[v], second[v]) for v in first)

    run("glances", "stats", "--dataset", "ucf", "--out", tmp_path / "stats")
    stats = json.loads((tmp_path / "stats" / "glance_stats.json").read_text())
    assert stats["videos"] == 810 and stats["glances"] == 2026 and round(stats["mean_per_video"], 2) == 2.50
    assert "position histogram skipped" not in run("glances", "stats", "--dataset", "ucf", "--out",
                                                   tmp_path / "stats2").stdout  # the frame counts came too


def test_missing_sources_are_one_line_errors(tmp_path):
    assert_user_error(run("gt", "build", "--out", tmp_path / "gt.json", check=False),
                      "give --annotations and --list, or --dataset")
    assert_user_error(run("glances", "stats", "--out", tmp_path / "s", check=False),
                      "give a glance CSV, or --dataset")
    assert_user_error(run("data", "init", tmp_path / "r", "--dataset", "shanghai", check=False),
                      "dataset 'shanghai'", "ucf-crime (ucf)")
