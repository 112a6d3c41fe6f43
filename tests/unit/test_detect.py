"""Per-frame scores and events of ``glancevad detect``, against brute-force definitions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glancevad.detect import find_events, frame_scores


def test_frame_scores_cover_every_frame():
    scores = frame_scores(np.array([0.1, 0.9, 0.4]), 53, frames_per_snippet=16)
    assert scores.shape == (53,)
    assert np.all(scores[:16] == 0.1) and np.all(scores[16:32] == 0.9) and np.all(scores[32:] == 0.4)
    assert frame_scores(np.array([0.2, 0.3]), 10, frames_per_snippet=16).tolist() == [0.2] * 10
    with pytest.raises(ValueError, match="no snippet scores"):
        frame_scores(np.array([]), 10)


def _events_loop(scores, fps, threshold, min_event, merge_gap):
    """Frame-by-frame: open a run at a frame above threshold, join runs within the gap, drop short ones."""
    runs = []
    for frame, value in enumerate(scores):
        if value < threshold:
            continue
        if runs and frame - runs[-1][1] <= merge_gap * fps:
            runs[-1][1] = frame + 1
        else:
            runs.append([frame, frame + 1])
    return [(s, e - 1) for s, e in runs if (e - s) / fps >= min_event]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=300), st.sampled_from([10.0, 24.0, 30.0]),
       st.floats(0.05, 0.95), st.floats(0, 2), st.floats(0, 3))
def test_events_match_the_loop(values, fps, threshold, min_event, merge_gap):
    scores = np.array(values)
    events = find_events(scores, fps, threshold=threshold, min_event=min_event, merge_gap=merge_gap)
    assert [(e.start_frame, e.end_frame) for e in events] == _events_loop(scores, fps, threshold, min_event, merge_gap)
    for event in events:
        window = scores[event.start_frame : event.end_frame + 1]
        assert event.peak_score == window.max() and scores[event.peak_frame] == event.peak_score
        assert event.start_s == round(event.start_frame / fps, 3)
        assert event.end_s == round((event.end_frame + 1) / fps, 3)


def test_events_on_a_known_curve():
    scores = np.zeros(300)
    scores[30:90] = 0.8   # 2.0 s event
    scores[100:110] = 0.7  # joined with the first: gap of 10 frames = 0.33 s
    scores[200:205] = 0.9  # 0.17 s: too short
    events = find_events(scores, 30.0, threshold=0.5, min_event=1.0, merge_gap=2.0)
    assert [(e.start_frame, e.end_frame, e.start_s, e.end_s, e.peak_score) for e in events] == [
        (30, 109, 1.0, 3.667, 0.8)
    ]
    assert find_events(scores, 30.0, threshold=0.95) == []
