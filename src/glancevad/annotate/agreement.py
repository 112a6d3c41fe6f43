"""Inter-annotator agreement of glances, and the consensus of a team, as pure functions.

A video counts when two or more annotators took part in it (glanced it, or marked it done or "no
anomaly" with no glance). What is compared is what the annotators clicked, before any review
(:meth:`glancevad.annotate.store.GlanceStore.team_glances`): a reviewer's decisions change neither the
agreement nor the consensus. For every pair of annotators on such a video:

* **with temporal ground truth** (end-exclusive event intervals): each annotator *finds* the events
  holding at least one of their glances; the pair's *same-event rate* is
  ``events both found / events either found``, pooled over videos (a Jaccard index of found events).
* **always**, from the glances alone: glances are matched one to one when at most ``within`` frames
  apart (as many pairs as possible, then the least total distance); the *matched rate* is
  ``2 * matched / (glances of one + glances of the other)`` (Dice), the *distance* of a matched
  pair is ``|frame - frame|``, and the *count agreement* is the share of videos where both gave the
  same number of glances.

The overall figures pool every pair (sums of numerators over sums of denominators). Undefined rates
(nothing to compare) are nan.

The *consensus* (``annotate export --consensus k``): a video's glances, of all its annotators, are
chained into clusters whenever neighbours are at most ``within`` frames apart; a cluster holding
glances of at least ``k`` annotators is a consensus event, and its one glance is the median frame of
the cluster's glances (the lower middle one for an even count), so it is always a frame somebody
clicked.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

from glancevad.intervals import Interval

#: Seconds within which two annotators' glances are taken for one event (no ground truth needed): about
#: the mean distance of two glances dropped uniformly into a 6 s event (L / 3); a judgement, not a measurement.
WITHIN_S = 2.0

#: ``{video id: {annotator: glance frames}}``; an annotator with ``[]`` took part but saw no event.
TeamGlances = Mapping[str, Mapping[str, Sequence[int]]]


def match_glances(first: Sequence[int], second: Sequence[int], *, within: int) -> list[tuple[int, int]]:
    """One-to-one pairs ``(frame of first, frame of second)`` at most ``within`` frames apart.

    As many pairs as possible, and among those the least total distance. In one dimension a best
    matching never crosses (uncrossing two pairs keeps them within ``within`` and does not add
    distance), so a dynamic programme over both sorted lists is exact.

    >>> match_glances([10, 50], [12, 200], within=5)
    [(10, 12)]
    """
    if within < 0:
        raise ValueError(f"within must not be negative, not {within}")
    a, b = sorted(first), sorted(second)
    # best[i][j]: (pairs, -distance) of the best matching of a[:i] with b[:j]
    best = [[(0, 0)] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            options = [best[i - 1][j], best[i][j - 1]]
            gap = abs(a[i - 1] - b[j - 1])
            if gap <= within:
                count, negative = best[i - 1][j - 1]
                options.append((count + 1, negative - gap))
            best[i][j] = max(options)
    pairs = []
    i, j = len(a), len(b)
    while i and j:
        if best[i][j] == best[i - 1][j]:
            i -= 1
        elif best[i][j] == best[i][j - 1]:
            j -= 1
        else:
            pairs.append((a[i - 1], b[j - 1]))
            i, j = i - 1, j - 1
    return pairs[::-1]


def found_events(frames: Sequence[int], events: Sequence[Interval]) -> set[int]:
    """Indices of the end-exclusive ``events`` holding at least one of ``frames``."""
    return {k for k, (start, end) in enumerate(events) if any(start <= f < end for f in frames)}


def _rate(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


@dataclass
class PairAgreement:
    """The agreement of two annotators (or, with ``first == "all"``, of every pair pooled)."""

    first: str
    second: str
    videos: int = 0                 # videos both took part in
    glances: int = 0                # glances of both, summed
    matched: int = 0                # matched glance pairs
    same_count: int = 0             # videos where both gave as many glances
    distances_s: list[float] = field(default_factory=list)   # |Δ| of each matched pair, in seconds
    distances_frames: list[int] = field(default_factory=list)
    truth_videos: int = 0           # of ``videos``, those with ground truth
    shared_events: int = 0          # events both found
    either_events: int = 0          # events at least one found

    @property
    def matched_rate(self) -> float:
        """Dice of matched glances: ``2 * matched / glances`` (nan without glances)."""
        return _rate(2 * self.matched, self.glances)

    @property
    def count_rate(self) -> float:
        """Share of videos where both gave the same number of glances."""
        return _rate(self.same_count, self.videos)

    @property
    def same_event_rate(self) -> float:
        """Events both found / events either found, on videos with ground truth (nan without)."""
        return _rate(self.shared_events, self.either_events)

    @property
    def median_distance_s(self) -> float:
        """Median distance of the matched pairs in seconds (nan without any)."""
        return statistics.median(self.distances_s) if self.distances_s else math.nan

    def add(self, other: PairAgreement) -> None:
        """Pool ``other``'s counts into this one."""
        self.videos += other.videos
        self.glances += other.glances
        self.matched += other.matched
        self.same_count += other.same_count
        self.distances_s += other.distances_s
        self.distances_frames += other.distances_frames
        self.truth_videos += other.truth_videos
        self.shared_events += other.shared_events
        self.either_events += other.either_events

    def summary(self) -> dict[str, float | int | str]:
        """The figures as plain numbers (nan as None is left to the writer)."""
        return {"first": self.first, "second": self.second, "videos": self.videos, "glances": self.glances,
                "matched": self.matched, "matched_rate": self.matched_rate, "same_count": self.same_count,
                "count_rate": self.count_rate, "median_distance_s": self.median_distance_s,
                "truth_videos": self.truth_videos, "shared_events": self.shared_events,
                "either_events": self.either_events, "same_event_rate": self.same_event_rate}


def compared_videos(team: TeamGlances) -> list[str]:
    """The videos two or more annotators took part in, sorted."""
    return sorted(vid for vid, by_annotator in team.items() if len(by_annotator) >= 2)


def pair_agreements(
    team: TeamGlances,
    *,
    fps: Mapping[str, float],
    within_s: float,
    events: Mapping[str, Sequence[Interval]] | None = None,
) -> tuple[list[PairAgreement], PairAgreement]:
    """Per annotator pair (sorted by name) and pooled: the agreement on the videos of :func:`compared_videos`.

    ``fps`` gives each video's frame rate (``within_s`` seconds become ``round(within_s * fps)``
    frames there); ``events`` the ground-truth intervals of the videos that have them.
    """
    if within_s < 0:
        raise ValueError(f"within must not be negative, not {within_s}")
    pairs: dict[tuple[str, str], PairAgreement] = {}
    for vid in compared_videos(team):
        rate = fps[vid]
        within = round(within_s * rate)
        truth = None if events is None else events.get(vid)
        for first, second in combinations(sorted(team[vid]), 2):
            a, b = list(team[vid][first]), list(team[vid][second])
            pair = pairs.setdefault((first, second), PairAgreement(first, second))
            matched = match_glances(a, b, within=within)
            pair.videos += 1
            pair.glances += len(a) + len(b)
            pair.matched += len(matched)
            pair.same_count += len(a) == len(b)
            pair.distances_frames += [abs(x - y) for x, y in matched]
            pair.distances_s += [abs(x - y) / rate for x, y in matched]
            if truth is not None:
                found_a, found_b = found_events(a, truth), found_events(b, truth)
                pair.truth_videos += 1
                pair.shared_events += len(found_a & found_b)
                pair.either_events += len(found_a | found_b)
    overall = PairAgreement("all", "pairs")
    for pair in pairs.values():
        overall.add(pair)
    return [pairs[key] for key in sorted(pairs)], overall


def consensus_glances(by_annotator: Mapping[str, Sequence[int]], *, k: int, within: int) -> list[int]:
    """One glance per event found by at least ``k`` annotators of one video (see the module docstring).

    >>> consensus_glances({"ann": [10, 300], "bob": [14], "cy": [12, 90]}, k=2, within=5)
    [12]
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    if within < 0:
        raise ValueError(f"within must not be negative, not {within}")
    marks = sorted((frame, name) for name, frames in by_annotator.items() for frame in frames)
    clusters: list[list[tuple[int, str]]] = []
    for mark in marks:
        if clusters and mark[0] - clusters[-1][-1][0] <= within:
            clusters[-1].append(mark)
        else:
            clusters.append([mark])
    out = []
    for cluster in clusters:
        if len({name for _, name in cluster}) >= k:
            out.append(cluster[(len(cluster) - 1) // 2][0])
    return out


def team_consensus(
    team: TeamGlances, *, fps: Mapping[str, float], k: int, within_s: float
) -> dict[str, list[int]]:
    """``{video id: consensus glances}`` of every video with at least one consensus event (see the module)."""
    out = {}
    for vid in sorted(team):
        frames = consensus_glances(team[vid], k=k, within=round(within_s * fps[vid]))
        if frames:
            out[vid] = frames
    return out
