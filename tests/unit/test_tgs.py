"""Temporal Gaussian Splatting: parity with the released code, and a plain-loop reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import FIXTURES
from glancevad.testing.reference import mine_loop, render_loop
from glancevad.tgs import KERNELS, mine, render


@pytest.fixture(scope="module")
def cases():
    """Outputs of the released TGS code (../shared/fixtures); the parity tests skip when they are absent."""
    path = FIXTURES / "official-tgs" / "tgs_cases.npz"
    if not path.is_file():
        pytest.skip(f"the authors' fixture {path} is absent (../shared/fixtures is not beside this clone)")
    return np.load(path)


# ---------- parity with the released implementation ----------

@pytest.mark.parametrize("alpha", [0.5, 0.7, 0.9])
def test_mining_matches_released_code_with_the_right_walk_fixed(cases, alpha):
    mined = mine(torch.tensor(cases["scores"]), torch.tensor(cases["glance_mask"]), alpha=alpha)
    np.testing.assert_array_equal(mined.numpy(), cases[f"mined_alpha{alpha}"])
    # The released loop stops one snippet short on the right: we differ exactly there.
    official = cases[f"mined_official_alpha{alpha}"]
    differ = np.argwhere(mined.numpy() != official)
    assert len(differ) and all(j == 199 for _, j in differ)


@pytest.mark.parametrize(
    ("key", "kernel", "width"),
    [("render_normal_0.1", "normal", 0.1), ("render_normal_0.05", "normal", 0.05),
     ("render_cauchy_0.1", "cauchy", 0.1), ("render_laplace_0.1", "laplace", 0.1)],
)
@pytest.mark.parametrize("source", ["glance_mask", "mined_alpha0.9"])
def test_rendering_matches_released_code(cases, key, kernel, width, source):
    expected = cases[key if source == "glance_mask" else f"{key}_of_mined0.9"]
    rendered = render(torch.tensor(cases[source]), kernel=kernel, width=width)
    np.testing.assert_allclose(rendered.numpy(), expected, atol=1e-6, rtol=0)


# ---------- random and edge cases against the loops ----------

def _random_case(rng, batch, n, max_glances=6):
    glances = np.zeros((batch, n), np.float32)
    for b in range(batch):
        k = int(rng.integers(0, min(max_glances, n) + 1))
        glances[b, rng.choice(n, size=k, replace=False)] = 1
    scores = np.clip(np.cumsum(rng.normal(0, 0.15, (batch, n)), axis=1) * 0.3 + 0.5, 0.01, 0.99)
    return scores.astype(np.float32), glances


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [1, 2, 3, 17, 200])
def test_mine_agrees_with_loop(seed, n):
    rng = np.random.default_rng(seed)
    scores, glances = _random_case(rng, 12, n)
    for kwargs in ({"alpha": 0.9}, {"alpha": 0.5}, {"dynamic": False, "threshold": 0.6}):
        ours = mine(torch.tensor(scores), torch.tensor(glances), **kwargs).numpy()
        np.testing.assert_array_equal(ours, mine_loop(scores, glances, **kwargs))


def test_mine_edge_glances_adjacent_and_flat():
    n = 10
    flat = torch.full((4, n), 0.8)
    glances = torch.zeros(4, n)
    glances[0, 0] = 1            # first snippet: walk right to the end
    glances[1, n - 1] = 1        # last snippet: walk left to index 0
    glances[2, [4, 5]] = 1       # adjacent glances
    mined = mine(flat, glances)
    assert mined[0].all() and mined[1].all() and mined[2].all()
    assert not mined[3].any()    # no glance: nothing mined
    dip = flat.clone()
    dip[:, 7] = 0.1
    mined = mine(dip, glances)
    assert mined[0, :7].all() and not mined[0, 7:].any()
    assert mined[1, 8:].all() and not mined[1, :8].any()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n", [1, 2, 5, 64, 200])
@pytest.mark.parametrize("kernel", list(KERNELS))
@pytest.mark.parametrize("combine", ["max", "sum"])
def test_render_agrees_with_loop(seed, n, kernel, combine):
    rng = np.random.default_rng(seed)
    _, centres = _random_case(rng, 10, n, max_glances=n)
    ours = render(torch.tensor(centres), kernel=kernel, width=0.1, combine=combine).numpy()
    # float32 (as released) against a float64 loop: rounding, amplified by two normalisations
    np.testing.assert_allclose(ours, render_loop(centres, kernel, 0.1, combine), atol=1e-4)


def test_render_degenerate_videos_never_nan():
    centres = torch.zeros(3, 6)
    centres[1] = 1               # every snippet a centre -> all ones
    centres[2, 0] = 1
    out = render(centres)
    assert torch.isfinite(out).all()
    assert out[0].eq(0).all() and out[1].eq(1).all()
    assert out[2, 0] == 1 and out[2].min() == 0
    assert render(torch.ones(2, 1)).eq(1).all() and render(torch.zeros(2, 1)).eq(0).all()


def test_render_peaks_at_centres_and_decays_with_width():
    centres = torch.zeros(1, 201)
    centres[0, 100] = 1
    narrow, wide = render(centres, width=0.05)[0], render(centres, width=0.2)[0]
    assert narrow[100] == 1 and wide[100] == 1
    # sigma 0.1 in [-1, 1] time is 10 snippets at N = 201: exp(-1/2) one sigma away
    assert render(centres, width=0.1)[0, 110].item() == pytest.approx(math.exp(-0.5), abs=1e-6)
    assert narrow[120] < wide[120]


def test_bad_arguments():
    with pytest.raises(ValueError, match="kernel 'box'"):
        render(torch.zeros(1, 3), kernel="box")
    with pytest.raises(ValueError, match="combine 'mean'"):
        render(torch.zeros(1, 3), combine="mean")
    with pytest.raises(ValueError, match="must be"):
        mine(torch.zeros(2, 3), torch.zeros(2, 4))
