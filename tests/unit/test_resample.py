"""Training-time resampling and glance placement against plain loops."""

from __future__ import annotations

import numpy as np
import pytest

from glancevad.data.resample import glance_mask, resample
from glancevad.testing.reference import resample_loop


@pytest.mark.parametrize("length", [1, 3, 7, 200, 201, 1000])
@pytest.mark.parametrize("n", [1, 16, 200])
def test_resample_matches_loop(length, n):
    x = np.random.default_rng(length).random((length, 2, 5)).astype(np.float32)
    np.testing.assert_allclose(resample(x, n), resample_loop(x, n), rtol=1e-5, atol=1e-6)


def test_identity_when_lengths_match():
    x = np.random.default_rng(0).random((50, 3)).astype(np.float32)
    np.testing.assert_array_equal(resample(x, 50), x)


def test_glance_index_formula():
    # floor((g / 16) / T * N): T = 100 snippets, N = 200
    mask = glance_mask([0, 16 * 50, 16 * 100 - 1], 100, 200)
    assert np.flatnonzero(mask).tolist() == [0, 100, 199]
    assert glance_mask([], 10, 20).sum() == 0
