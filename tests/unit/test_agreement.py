"""Agreement of glances between annotators and a team's consensus, against cases worked out by hand."""

from __future__ import annotations

import math

import pytest

from glancevad.annotate.agreement import (
    compared_videos,
    consensus_glances,
    found_events,
    match_glances,
    pair_agreements,
    team_consensus,
)

# v1 at 10 fps, ground truth events [0, 50) and [100, 150); cy marked v1 "no anomaly" (no glance).
# v2 at 25 fps, no ground truth. v3: one annotator only, never compared.
TEAM = {
    "v1": {"ann": [20, 120], "bob": [25], "cy": []},
    "v2": {"ann": [100], "bob": [300]},
    "v3": {"ann": [7]},
}
FPS = {"v1": 10.0, "v2": 25.0, "v3": 30.0}
EVENTS = {"v1": [(0, 50), (100, 150)]}


def test_matching_keeps_the_most_pairs_then_the_least_distance():
    # within 5: 10-12 (2) and 30-26 (4); 20 has no partner (26 is 6 away)
    assert match_glances([10, 20, 30], [12, 26, 100], within=5) == [(10, 12), (30, 26)]
    # nearest-first would take 14-13 and leave 10 alone; two pairs (10-13, 14-18) are better
    assert match_glances([14, 10], [18, 13], within=4) == [(10, 13), (14, 18)]
    assert match_glances([5], [5, 5], within=0) == [(5, 5)]
    assert match_glances([], [3], within=9) == []
    with pytest.raises(ValueError, match="within must not be negative"):
        match_glances([1], [1], within=-1)


def test_found_events_are_end_exclusive():
    assert found_events([49, 150], [(0, 50), (100, 150)]) == {0}
    assert found_events([], [(0, 50)]) == set()


def test_pair_agreement_hand_computed():
    assert compared_videos(TEAM) == ["v1", "v2"]
    pairs, overall = pair_agreements(TEAM, fps=FPS, within_s=1.0, events=EVENTS)
    by_pair = {(p.first, p.second): p for p in pairs}
    assert list(by_pair) == [("ann", "bob"), ("ann", "cy"), ("bob", "cy")]
    ann_bob = by_pair["ann", "bob"]
    # v1 (10 frames): 20-25 matched at 5 frames = 0.5 s; 2 vs 1 glances. v2 (25 frames): 100 vs 300 unmatched, 1 vs 1.
    # ground truth (v1 only): ann finds both events, bob the first: 1 shared of 2.
    assert (ann_bob.videos, ann_bob.glances, ann_bob.matched, ann_bob.same_count) == (2, 5, 1, 1)
    assert ann_bob.matched_rate == pytest.approx(2 / 5)
    assert ann_bob.count_rate == pytest.approx(1 / 2)
    assert ann_bob.distances_frames == [5] and ann_bob.distances_s == pytest.approx([0.5])
    assert ann_bob.median_distance_s == pytest.approx(0.5)
    assert (ann_bob.truth_videos, ann_bob.shared_events, ann_bob.either_events) == (1, 1, 2)
    assert ann_bob.same_event_rate == pytest.approx(1 / 2)
    ann_cy = by_pair["ann", "cy"]  # cy saw nothing where ann found two events
    assert (ann_cy.videos, ann_cy.glances, ann_cy.matched, ann_cy.same_count) == (1, 2, 0, 0)
    assert ann_cy.matched_rate == 0 and ann_cy.same_event_rate == 0 and math.isnan(ann_cy.median_distance_s)
    assert (by_pair["bob", "cy"].shared_events, by_pair["bob", "cy"].either_events) == (0, 1)
    # pooled: 4 pair-videos, 8 glances, 1 match, 1 same count, 1 shared of 2 + 2 + 1 events
    assert (overall.videos, overall.glances, overall.matched, overall.same_count) == (4, 8, 1, 1)
    assert overall.matched_rate == pytest.approx(2 / 8)
    assert overall.count_rate == pytest.approx(1 / 4)
    assert overall.same_event_rate == pytest.approx(1 / 5)


def test_without_ground_truth_the_same_event_rate_is_undefined():
    pairs, overall = pair_agreements(TEAM, fps=FPS, within_s=1.0)
    assert math.isnan(overall.same_event_rate) and overall.truth_videos == 0
    assert overall.matched_rate == pytest.approx(2 / 8)
    # a wider window (10 s = 250 frames at v2) matches v2's 100 and 300 too (200 frames = 8 s apart)
    _, wide = pair_agreements(TEAM, fps=FPS, within_s=10.0)
    assert wide.matched == 2 and wide.distances_s == pytest.approx([0.5, 8.0])


def test_consensus_hand_computed():
    # within 10 frames at 10 fps: 20 (ann) and 25 (bob) chain into one event, median of two = the lower, 20
    assert team_consensus(TEAM, fps=FPS, k=2, within_s=1.0) == {"v1": [20]}
    assert team_consensus(TEAM, fps=FPS, k=1, within_s=1.0) == {"v1": [20, 120], "v2": [100, 300], "v3": [7]}
    assert team_consensus(TEAM, fps=FPS, k=3, within_s=1.0) == {}
    # chaining: 0, 8, 16 are each within 10 of the next; the median of three is 8
    assert consensus_glances({"a": [0], "b": [8], "c": [16, 40]}, k=3, within=10) == [8]
    # one annotator clicking an event twice is still one annotator
    assert consensus_glances({"a": [0, 3], "b": [90]}, k=2, within=10) == []
    with pytest.raises(ValueError, match="k must be at least 1"):
        consensus_glances({"a": [0]}, k=0, within=1)


def test_events_from_either_ground_truth_format(tmp_path):
    import numpy as np

    from glancevad.data.groundtruth import read_events, write_ground_truth
    from glancevad.errors import DataError

    labels = np.zeros(40, dtype=np.uint8)
    labels[3:7] = labels[20:40] = 1
    assert read_events(write_ground_truth(tmp_path / "gt.json", {"v1": labels})) == {"v1": [(3, 7), (20, 40)]}
    ucf = tmp_path / "Temporal_Anomaly_Annotation.txt"
    ucf.write_text("Arson/Arson011_x264.mp4  2000  Arson  150  420  680  1267\nNormal_Videos_003_x264.mp4  400  Normal"
                   "  -1  -1  -1  -1\n")
    assert read_events(ucf) == {"Arson011_x264": [(150, 420), (680, 1267)], "Normal_Videos_003_x264": []}
    ucf.write_text("a.mp4 10 A 1 2 -1 -1\nx/a.mp4 10 A 3 4 -1 -1\n")
    with pytest.raises(DataError, match="line 2: video a is annotated twice"):
        read_events(ucf)


def test_the_distance_histogram_keeps_matches_rounded_past_within():
    """2 s at 29.97 fps is 60 frames, 2.002 s: such a match was binned over (0, 2) and dropped."""
    import numpy as np

    from glancevad.plots import distance_range

    pairs, overall = pair_agreements({"v": {"ann": [100], "bob": [160]}}, fps={"v": 29.97}, within_s=2.0)
    assert overall.matched == 1 and overall.distances_s[0] > 2.0
    counts, _ = np.histogram(overall.distances_s, bins=5, range=distance_range(overall.distances_s, 2.0))
    assert counts.sum() == 1
    assert distance_range([0.4, 1.0], 2.0) == (0.0, 2.0)  # the axis still spans --within
