"""Model assistance maths against hand-computed cases: peaks, jump targets, seek cost, ranking, proposals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from glancevad.assist.peaks import find_peaks, jump_target, unglanced, unglanced_priority
from glancevad.assist.ranking import (
    coverage,
    disagreement,
    localisation_error,
    rank_videos,
    spearman,
    topk_mean,
    uncertainty,
)
from glancevad.assist.scoring import propose_glances
from glancevad.assist.seek import SeekCost, linear_cost, peak_cost, total
from glancevad.errors import GlanceVADError

# 10 frames at 1 fps: two runs above 0.5, [2, 5) peaking at frame 3 and [7, 9) peaking at frame 8
SCORES = np.array([0.1, 0.2, 0.6, 0.9, 0.7, 0.1, 0.3, 0.55, 0.8, 0.2])


def test_peaks_are_events_at_their_maximum():
    peaks = find_peaks(SCORES, 1.0, merge_gap=0)
    assert [(p.start_frame, p.end_frame, p.peak_frame) for p in peaks] == [(2, 4, 3), (7, 8, 8)]
    assert [p.peak_score for p in peaks] == [0.9, 0.8]
    # runs 3 frames apart merge when the gap is 3 s or more: one event, peak at 3
    assert [p.peak_frame for p in find_peaks(SCORES, 1.0, merge_gap=3)] == [3]
    assert find_peaks(SCORES, 1.0, threshold=0.95) == []
    # min_event drops the 2-frame run
    assert [p.peak_frame for p in find_peaks(SCORES, 1.0, merge_gap=0, min_event=3)] == [3]


def test_a_glance_near_a_peak_covers_it():
    peaks = find_peaks(SCORES, 1.0, merge_gap=0)
    assert unglanced(peaks, [], near=0) == peaks
    assert [p.peak_frame for p in unglanced(peaks, [4], near=0)] == [8]     # inside the first event
    assert [p.peak_frame for p in unglanced(peaks, [5], near=0)] == [3, 8]  # one frame past it
    assert [p.peak_frame for p in unglanced(peaks, [5], near=1)] == [8]     # ... within near = 1
    assert unglanced_priority(peaks, [3], near=0) == 0.8
    assert unglanced_priority(peaks, [3, 8], near=0) == 0.0


def test_jump_targets():
    assert jump_target([30, 10, 50], 0, 1) == 10
    assert jump_target([30, 10, 50], 10, 1) == 30
    assert jump_target([30, 10, 50], 50, 1) is None
    assert jump_target([30, 10, 50], 31, -1) == 30
    assert jump_target([30, 10, 50], 10, -1) is None
    assert jump_target([], 5, 1) is None


def test_linear_seek_cost_watches_until_the_last_event_begins():
    assert linear_cost([(40, 60), (100, 150)]) == SeekCost(101, 2)
    assert linear_cost([(0, 5)]) == SeekCost(1, 1)
    assert linear_cost([]) == SeekCost(0, 0)


def test_peak_seek_cost_hand_computed():
    events = [(40, 60), (100, 150)]
    # highest peak first: 120 (window 110..130: 21 frames) finds (100, 150); then 50 (40..60) finds (40, 60)
    cost = peak_cost(events, [(50, 0.7), (120, 0.9)], 200, window=10)
    assert cost == SeekCost(42, 2, found_at_peaks=2, missed=0)
    # it stops once every event has a glance: the second peak is never visited
    assert peak_cost([(40, 60)], [(50, 0.9), (55, 0.8)], 200, window=10) == SeekCost(21, 1, 1, 0)
    # overlapping windows count once: 40..60 (21 frames), then 48..68 adds 61..68 (8 frames)
    assert peak_cost([(40, 60), (62, 70)], [(50, 0.9), (58, 0.8)], 200, window=10) == SeekCost(29, 2, 2, 0)
    # a false peak first (5..15: 11 frames), then the event's (115..125: 11 frames)
    assert peak_cost([(100, 150)], [(10, 0.95), (120, 0.9)], 200, window=5) == SeekCost(22, 1, 1, 0)
    # no peak reaches the event: linear fallback 0..100 (101 frames), the window 5..15 already inside it
    cost = peak_cost([(100, 150)], [(10, 0.95)], 200, window=5)
    assert cost == SeekCost(101, 1, 0, 1)


def test_peak_cost_window_clipped_at_the_start():
    # window 5 around frame 2: frames 0..7 = 8 frames, finds the event (5, 9)
    assert peak_cost([(5, 9)], [(2, 0.9)], 20, window=5) == SeekCost(8, 1, 1, 0)
    with pytest.raises(ValueError):
        peak_cost([(5, 9)], [(2, 0.9)], 20, window=-1)


def test_total_sums_videos():
    assert total([SeekCost(10, 2, 1, 1), SeekCost(5, 1, 1, 0)]) == SeekCost(15, 3, 2, 1)


def test_ranking_criteria_hand_computed():
    assert uncertainty(np.array([0.5, 0.5])) == pytest.approx(1.0)
    assert uncertainty(np.array([0.0, 1.0])) == pytest.approx(0.0, abs=1e-9)
    # 17 snippets: k = 17 // 16 + 1 = 2 -> mean of the two highest
    scores = np.r_[np.zeros(15), 0.4, 0.8]
    assert topk_mean(scores) == pytest.approx(0.6)
    assert disagreement(scores) == pytest.approx(0.4)
    videos = {"a": np.array([0.9, 0.1]), "b": np.array([0.2, 0.1]), "c": np.array([0.6, 0.5])}
    # disagreement: 1 - max (k = 1): a 0.1, b 0.8, c 0.4
    assert [v for v, _ in rank_videos(videos, criterion="disagreement")] == ["b", "c", "a"]
    # uncertainty: c (both near 0.5) first; a and b: H(.9)+H(.1) vs H(.2)+H(.1) -> b before a
    assert [v for v, _ in rank_videos(videos, criterion="uncertainty")] == ["c", "b", "a"]
    # coverage: mean score, a 0.5, b 0.15, c 0.55 (the default)
    assert coverage(np.array([0.6, 0.5])) == pytest.approx(0.55)
    assert [v for v, _ in rank_videos(videos)] == ["c", "a", "b"]
    assert [v for v, _ in rank_videos(videos, exclude={"c"})] == ["a", "b"]
    # ties keep the id order
    assert [v for v, _ in rank_videos({"y": np.array([0.3]), "x": np.array([0.3])})] == ["x", "y"]
    with pytest.raises(GlanceVADError, match="criteria: uncertainty, disagreement, coverage"):
        rank_videos(videos, criterion="entropy")


def test_localisation_error_and_spearman():
    assert localisation_error(np.array([1.0, 0.5, 0.0, 0.0]), np.array([1, 1, 0])) == pytest.approx(0.5 / 3)
    assert spearman(np.array([1, 2, 3, 4]), np.array([10, 20, 30, 40])) == pytest.approx(1.0)
    assert spearman(np.array([1, 2, 3]), np.array([3, 2, 1])) == pytest.approx(-1.0)
    assert spearman(np.array([1, 2, 2, 3]), np.array([1, 2, 3, 4])) == pytest.approx(
        np.corrcoef([0, 1.5, 1.5, 3], [0, 1, 2, 3])[0, 1])
    assert math.isnan(spearman(np.array([1, 1]), np.array([1, 2])))


def test_proposals_are_one_glance_per_event_at_its_peak():
    # snippets of 16 frames at 25 fps: snippet 1-2 high (peak: first frame of snippet 2, 32), snippet 6 (96)
    snippets = {"v": np.array([0.0, 0.88, 0.99, 0.0, 0.0, 0.0, 0.98, 0.0]), "quiet": np.zeros(4)}
    assert propose_glances(snippets, fps=25) == {"v": (32, 96)}
    # a merge gap longer than the 48 frames between the runs joins them: one glance, at the highest frame
    assert propose_glances(snippets, fps=25, merge_gap=2.0) == {"v": (32,)}
    assert propose_glances(snippets, fps=25, threshold=0.985) == {"v": (32,)}
