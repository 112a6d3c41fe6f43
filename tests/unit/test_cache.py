"""The training cache: built once, read back by positional reads equal to the file's contents."""

from __future__ import annotations

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
