"""The model's peaks: one per predicted event, at its highest frame (pure functions).

A peak is an event of :func:`glancevad.events.find_events` (frames at or above ``threshold``,
runs closer than ``merge_gap`` seconds joined, runs shorter than ``min_event`` seconds dropped)
seen at its maximum. A glance is *near* a peak when it lies inside the peak's event widened by
``near`` frames on each side; a peak with no glance near it is *unglanced*.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from glancevad.constants import FRAMES_PER_SNIPPET
from glancevad.events import Event, EventSettings, find_events

#: Settings shared by ``propose``, the page and the seek-cost simulation: detect's threshold, and
#: every run above it counts (a single 16-frame snippet is worth a look).
PEAKS = EventSettings(min_event=0.0, merge_gap=1.0)
THRESHOLD, MIN_EVENT_S, MERGE_GAP_S = PEAKS.threshold, PEAKS.min_event, PEAKS.merge_gap
#: A glance within one snippet of a peak's event is near it.
NEAR_FRAMES = FRAMES_PER_SNIPPET


def find_peaks(frame_scores: np.ndarray, fps: float, *, threshold: float = THRESHOLD, min_event: float = MIN_EVENT_S,
               merge_gap: float = MERGE_GAP_S) -> list[Event]:
    """The predicted events of per-frame scores ``(F,)``, in time order; ``event.peak_frame`` is the peak.

    >>> [e.peak_frame for e in find_peaks(np.array([0, .6, .9, .2, 0, 0, .7, .1]), 1.0, merge_gap=0)]
    [2, 6]
    """
    return find_events(np.asarray(frame_scores, dtype=np.float64), fps, threshold=threshold,
                       min_event=min_event, merge_gap=merge_gap)


def is_near(event: Event, glances: Iterable[int], *, near: int = NEAR_FRAMES) -> bool:
    """Whether a glance lies in ``[start_frame - near, end_frame + near]`` of ``event``."""
    return any(event.start_frame - near <= g <= event.end_frame + near for g in glances)


def unglanced(peaks: Sequence[Event], glances: Iterable[int], *, near: int = NEAR_FRAMES) -> list[Event]:
    """The peaks with no glance near them, in the order given."""
    frames = list(glances)
    return [p for p in peaks if not is_near(p, frames, near=near)]


def jump_target(peak_frames: Sequence[int], current: int, direction: int) -> int | None:
    """The first peak frame after (``direction`` > 0) or before (< 0) ``current``; ``None`` when there is none.

    >>> jump_target([10, 50, 90], 50, 1), jump_target([10, 50, 90], 50, -1), jump_target([10], 10, 1)
    (90, 10, None)
    """
    if direction > 0:
        return next((f for f in sorted(peak_frames) if f > current), None)
    return next((f for f in sorted(peak_frames, reverse=True) if f < current), None)


def unglanced_priority(peaks: Sequence[Event], glances: Iterable[int], *, near: int = NEAR_FRAMES) -> float:
    """How likely a video still holds an unglanced anomaly: its highest unglanced peak score (0 when none).

    Orders the page's video list "most likely unglanced anomaly first".
    """
    return max((p.peak_score for p in unglanced(peaks, glances, near=near)), default=0.0)
