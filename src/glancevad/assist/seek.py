"""Seek cost: how many frames a simulated annotator watches to place one glance per event (pure functions).

The annotator knows the ground truth: it glances an event as soon as it sees one of its frames, and
stops once every event of the video has a glance.

* **Linear playback**: it plays the video from frame 0, so it watches frames ``0 … s`` where ``s``
  is the first frame of the last event (the frames after it are not counted: this is the cheapest
  linear playback can be).
* **Jump to peaks**: it visits the model's peaks in decreasing score and watches ``window`` frames
  on each side of each (frames watched twice count once); every event that overlaps a watched
  window is glanced. When the peaks run out with events left (the model *missed* them), it falls
  back to linear playback from frame 0 up to the first frame of the last missed event; the cost is
  the number of distinct frames watched in all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from glancevad.constants import FRAMES_PER_SNIPPET
from glancevad.intervals import Interval

#: Frames watched on each side of a peak: two snippets (about a second at 30 fps).
WINDOW_FRAMES = 2 * FRAMES_PER_SNIPPET


@dataclass(frozen=True)
class SeekCost:
    """Frames watched on one video, and how its events were found."""

    frames: int
    events: int
    found_at_peaks: int = 0
    missed: int = 0     # events no peak window reached (found by the linear fallback)


def linear_cost(events: Sequence[Interval]) -> SeekCost:
    """Frames watched playing from frame 0 until the last event (end-exclusive intervals) begins.

    >>> linear_cost([(100, 150), (40, 60)]).frames
    101
    """
    if not events:
        return SeekCost(0, 0)
    return SeekCost(max(start for start, _ in events) + 1, len(events))


def peak_cost(events: Sequence[Interval], peaks: Sequence[tuple[int, float]], num_frames: int, *,
              window: int = WINDOW_FRAMES) -> SeekCost:
    """Frames watched jumping to ``peaks`` (``(frame, score)``, visited by decreasing score), then the fallback.

    >>> peak_cost([(100, 150)], [(20, 0.6), (120, 0.9)], 300, window=10).frames   # 120 first: done
    21
    >>> peak_cost([(100, 150)], [(20, 0.9)], 300, window=10)  # missed: 0..20 + 21..30 seen, then 0..100
    SeekCost(frames=101, events=1, found_at_peaks=0, missed=1)
    """
    if window < 0:
        raise ValueError(f"window must be >= 0, got {window}")
    watched = np.zeros(max(num_frames, max((e for _, e in events), default=0)), dtype=bool)
    pending = list(events)
    for frame, _ in sorted(peaks, key=lambda p: (-p[1], p[0])):
        if not pending:
            break
        lo, hi = max(0, frame - window), min(len(watched), frame + window + 1)
        watched[lo:hi] = True
        pending = [(s, e) for s, e in pending if not (s < hi and e > lo)]
    found = len(events) - len(pending)
    if pending:
        watched[: max(s for s, _ in pending) + 1] = True
    return SeekCost(int(watched.sum()), len(events), found, len(pending))


def total(costs: Sequence[SeekCost]) -> SeekCost:
    """The sum over videos."""
    return SeekCost(sum(c.frames for c in costs), sum(c.events for c in costs),
                    sum(c.found_at_peaks for c in costs), sum(c.missed for c in costs))
