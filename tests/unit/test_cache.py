"""The training cache: built once, read back by positional reads equal to the file's contents."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glancevad.data import load_dataset
from glancevad.data.cache import build_or_open_cache
from glancevad.data.resample import resample


def test_cache_holds_every_resampled_video_and_rows_read_them(tiny_root, tmp_path):
    dataset = load_dataset(tiny_root)
    cache = build_or_open_cache(dataset, tmp_path, num_snippets=32)
    assert cache.features.shape[0] == len(dataset.train) and cache.num_snippets == 32
    for i, video in enumerate(dataset.train):  # brute force: resample each video again
        expected = resample(dataset.load_features(video), 32).transpose(1, 0, 2)
        np.testing.assert_allclose(cache.features[i], expected, rtol=1e-6)
    picks = np.array([3, 0, 3, len(dataset.train) - 1])
    rows = cache.rows(picks)
    assert rows.dtype == np.float32 and rows.flags.writeable
    np.testing.assert_array_equal(rows, np.asarray(cache.features[picks]))
    assert cache.rows(np.array([], dtype=np.int64)).shape == (0, *cache.features.shape[1:])
    stamp = (cache.folder / "features.npy").stat()
    again = build_or_open_cache(dataset, tmp_path, num_snippets=32)  # opened, not rebuilt
    assert again.folder == cache.folder
    assert (cache.folder / "features.npy").stat().st_ino == stamp.st_ino        # the same file, not a new one
    assert (cache.folder / "features.npy").stat().st_mtime_ns == stamp.st_mtime_ns
    assert not list(tmp_path.glob("*.partial"))


def test_cache_ignores_the_glances_and_masks_follow_the_glance_file(tiny_root, tmp_path):
    from glancevad.data.resample import glance_mask
    from glancevad.glance import read_glances, write_glances

    dataset = load_dataset(tiny_root)
    moved = {vid: tuple(max(0, f - 8) for f in frames) for vid, frames in read_glances(dataset.glance_csv).items()}
    write_glances(tmp_path / "moved.csv", moved)
    other = load_dataset(tiny_root, glance_csv=tmp_path / "moved.csv")
    first = build_or_open_cache(dataset, tmp_path / "cache", num_snippets=32)
    second = build_or_open_cache(other, tmp_path / "cache", num_snippets=32)
    assert second.folder == first.folder and len(list((tmp_path / "cache").iterdir())) == 1
    for i, video in enumerate(other.train):  # each opening's masks are its own glance file's
        expected = glance_mask(video.glances, int(second.lengths[i]), 32)
        np.testing.assert_array_equal(second.glances[i], expected)
    assert not np.array_equal(first.glances, second.glances)
    np.testing.assert_array_equal(first.labels, [v.label for v in dataset.train])


def test_the_grids_of_the_paper_share_one_cache_per_feature_set(tiny_root, tmp_path):
    """Perturbed glance files (Table 4), mixed fractions (Table 5) and the networks (Tables 1-2):
    one cache folder, of exactly the features' bytes."""
    from glancevad.data.cache import cache_bytes
    from glancevad.experiments.paper import plan_paper
    from glancevad.experiments.runner import build_caches, cache_keys

    plan = plan_paper(tiny_root, tmp_path / "paper", preset="demo", seeds=2, budget="small",
                      grids=("networks", "perturbation", "supervision-mix"))
    glance_files = {spec.config.get("glance_csv") for spec in plan.unique}
    assert len(glance_files) == 4                       # the dataset's own and three perturbed ones
    assert len(cache_keys(plan.unique)) == 1
    build_caches(plan.unique)
    folders = [p for p in (tmp_path / "paper").rglob("meta.json")]
    assert len(folders) == 1
    dataset = load_dataset(tiny_root)
    crops, dim = 2, 16                                  # synth_config("tiny")
    expected = cache_bytes(len(dataset.train), crops, 128, dim)  # the demo preset's N = 128
    features = folders[0].parent / "features.npy"
    header = features.stat().st_size - expected
    assert 0 < header <= 4096                           # the .npy header and nothing else
    assert sum(p.stat().st_size for p in folders[0].parent.iterdir()) - features.stat().st_size < 64 * 1024


def test_cache_key_reads_the_features_not_only_names_sizes_and_mtimes(tiny_root, tmp_path):
    """Two roots alike in names, sizes and mtimes (``cp -a``) but not in bytes get two caches; a moved
    copy with the same bytes gets the first one's."""
    import os
    import shutil

    from glancevad.data.cache import cache_folder

    dataset = load_dataset(tiny_root)
    same = Path(shutil.copytree(tiny_root, tmp_path / "copy"))                    # copy2 keeps the mtimes
    changed = Path(shutil.copytree(tiny_root, tmp_path / "changed"))
    index = load_dataset(changed).feature_index("train")
    for video in load_dataset(changed).train:                                      # the last float of each
        for path in index.locate(video.id).paths:                                  # file, mtime restored
            stat = path.stat()
            data = bytearray(path.read_bytes())
            data[-4] ^= 0x01                                                       # its lowest mantissa bit
            path.write_bytes(bytes(data))
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    shutil.move(str(same), moved)
    first = build_or_open_cache(dataset, tmp_path / "cache", num_snippets=16)
    assert build_or_open_cache(load_dataset(moved), tmp_path / "cache", num_snippets=16).folder == first.folder
    other = build_or_open_cache(load_dataset(changed), tmp_path / "cache", num_snippets=16)
    assert other.folder != first.folder and len(list((tmp_path / "cache").iterdir())) == 2
    assert not np.array_equal(np.asarray(other.features), np.asarray(first.features))  # each trains on its own
    assert cache_folder(load_dataset(moved), tmp_path / "cache", num_snippets=16) == first.folder


def test_the_key_reads_both_ends_of_a_large_feature_file(tmp_path):
    from glancevad.data.cache import FINGERPRINT_BYTES, _ends

    data = bytes(range(256)) * (3 * FINGERPRINT_BYTES // 256 + 1)
    path = tmp_path / "f.npy"
    path.write_bytes(data)
    assert _ends(path, len(data)) == data[:FINGERPRINT_BYTES] + data[-FINGERPRINT_BYTES:]
    path.write_bytes(data[:2 * FINGERPRINT_BYTES])
    assert _ends(path, 2 * FINGERPRINT_BYTES) == data[:2 * FINGERPRINT_BYTES]   # a small file: all of it
