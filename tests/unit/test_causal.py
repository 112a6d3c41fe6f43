"""Causal scoring (the windows of ``glancevad watch``) and streamed events, against offline definitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from glancevad.causal import CausalScorer, causal_scores, push_together
from glancevad.errors import GlanceVADError
from glancevad.events import EventTracker, find_events
from glancevad.models import build, list_models

SMALL = {"mil": {"hidden": 32, "head_hidden": 16}, "rtfm": {"width": 32}, "urdmu": {"hidden": 32, "head_dim": 8}}


@pytest.fixture(autouse=True)
def one_thread():
    """These networks are tiny: one thread is fastest, and immune to a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _features(length: int, crops: int = 2, dim: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((length, crops, dim), dtype=np.float32) * 2


def _offline(model, features: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(features.transpose(1, 0, 2))[None])[0].numpy()


def _streamed(scorer: CausalScorer, features: np.ndarray) -> np.ndarray:
    out: list[float] = []
    for row in features:
        out.extend(scorer.push(row))
    return np.array(out + scorer.finish())


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize(("window", "lookahead"), [(1, 0), (6, 2), (40, 0)])
def test_streaming_and_whole_array_give_the_same_scores(name, window, lookahead):
    torch.manual_seed(0)
    model = build(name, in_dim=64, **SMALL.get(name, {})).eval()
    features = _features(23)
    streamed = _streamed(CausalScorer(model, window=window, lookahead=lookahead), features)
    whole = causal_scores(model, features, window=window, lookahead=lookahead, batch=5)
    assert streamed.shape == whole.shape == (23,)
    np.testing.assert_allclose(streamed, whole, rtol=0, atol=1e-6)
    if window >= 23 and lookahead == 0:  # a window longer than the video: each score is that of the video cut there
        cut = [_offline(model, features[: t + 1])[t] for t in range(23)]
        np.testing.assert_allclose(whole, cut, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", list_models())
def test_streams_scored_together_score_as_each_alone(name):
    """``push_together`` (watch's batch over streams) gives each stream what it gets scored alone, while
    streams join late, leave early and sit at different window lengths."""
    torch.manual_seed(0)
    model = build(name, in_dim=64, **SMALL.get(name, {})).eval()
    lengths, joins = (23, 9, 17), (0, 4, 2)       # snippets of each stream, the round it joins in
    features = [_features(n, seed=i) for i, n in enumerate(lengths)]
    scorers = [CausalScorer(model, window=6, lookahead=1) for _ in lengths]
    together: list[list[float]] = [[] for _ in lengths]
    for step in range(max(j + n for j, n in zip(joins, lengths, strict=True))):
        members = [i for i, (j, n) in enumerate(zip(joins, lengths, strict=True)) if j <= step < j + n]
        for i, scores in zip(members, push_together([scorers[i] for i in members],
                                                    [features[i][step - joins[i]] for i in members]), strict=True):
            together[i].extend(scores)
    for i, scorer in enumerate(scorers):
        alone = causal_scores(model, features[i], window=6, lookahead=1)
        np.testing.assert_allclose(together[i] + scorer.finish(), alone, rtol=0, atol=1e-5)


def test_mil_causal_equals_offline_where_the_window_covers_the_receptive_field():
    """MIL sees two snippets either side (two k=3 convolutions): W >= 5 with lookahead 2 is offline scoring."""
    torch.manual_seed(1)
    model = build("mil", in_dim=64, **SMALL["mil"]).eval()
    features = _features(40, seed=1)
    offline = _offline(model, features)
    for window in (5, 8, 64):
        scores = _streamed(CausalScorer(model, window=window, lookahead=2), features)
        np.testing.assert_allclose(scores, offline, rtol=0, atol=1e-6)
        assert np.abs(scores - offline).max() <= 1e-6
    # strictly causal (lookahead 0): the offline score of the video cut at t, for any window >= 3
    scores = causal_scores(model, features, window=3)
    cut = np.array([_offline(model, features[: t + 1])[t] for t in range(40)])
    np.testing.assert_allclose(scores, cut, rtol=0, atol=1e-6)
    # and a window too short for the receptive field does differ
    assert np.abs(causal_scores(model, features, window=4, lookahead=2) - offline).max() > 1e-4


def test_bad_windows_are_user_errors():
    model = build("mil", in_dim=8).eval()
    with pytest.raises(GlanceVADError, match="window must be at least 1"):
        CausalScorer(model, window=0)
    with pytest.raises(GlanceVADError, match="lookahead must be between 0 and window - 1 = 3"):
        causal_scores(model, _features(5, dim=8), window=4, lookahead=4)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([0.1, 0.4, 0.6, 0.9]), min_size=1, max_size=400), st.sampled_from([10.0, 25.0]),
       st.floats(0, 2), st.floats(0, 3), st.lists(st.integers(1, 40), min_size=1, max_size=20))
def test_streamed_events_are_the_offline_events(values, fps, min_event, merge_gap, chunks):
    scores = np.array(values)
    tracker = EventTracker(fps, threshold=0.5, min_event=min_event, merge_gap=merge_gap)
    opened, closed, position, i = [], [], 0, 0
    while position < len(scores):
        step = chunks[i % len(chunks)]
        new_open, new_closed = tracker.push(scores[position : position + step])
        opened += new_open
        closed += new_closed
        position += step
        i += 1
        assert len(tracker._scores) <= len(scores)
    new_open, new_closed = tracker.finish()
    opened += new_open
    closed += new_closed
    expected = find_events(scores, fps, threshold=0.5, min_event=min_event, merge_gap=merge_gap)
    assert closed == expected
    # every event raised its alarm once, before or with its end, and an alarm is never withdrawn
    assert [e.start_frame for e in opened] == [e.start_frame for e in expected]
    assert tracker.frames == len(scores)


def test_tracker_memory_stays_small_on_a_quiet_stream():
    tracker = EventTracker(25.0, threshold=0.5, min_event=1.0, merge_gap=2.0)
    rng = np.random.default_rng(0)
    for _ in range(2000):
        tracker.push(rng.random(16) * 0.4)
    assert len(tracker._scores) == 0 and tracker.first_frame == tracker.frames == 32000
    opened, closed = tracker.push(np.full(32, 0.9))  # 1.28 s above: the alarm is raised at once
    assert [(e.start_frame, e.end_frame) for e in opened] == [(32000, 32031)] and closed == []
    opened, closed = tracker.push(np.zeros(64))         # 2.56 s quiet, more than the merge gap: over
    assert opened == [] and [(e.start_frame, e.end_frame) for e in closed] == [(32000, 32031)]
    assert len(tracker._scores) == 0
