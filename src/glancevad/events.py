"""Events: per-frame anomaly scores → runs of anomalous frames, offline and as a stream arrives.

The one home of the event logic and its settings (``glancevad detect``, ``glancevad watch`` and the
assisted annotation all import it; it imports nothing of theirs). Snippet scores are expanded to one
score per frame (frames after the last whole snippet take its score), thresholded, and turned into
events: runs of frames at or above ``threshold``, runs closer than ``merge_gap`` seconds joined,
events shorter than ``min_event`` seconds dropped. Every default is a field of :class:`EventSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glancevad.constants import FRAMES_PER_SNIPPET
from glancevad.constraints import Interval, check_fields, constrained


@dataclass(frozen=True)
class EventSettings:
    """How frame scores become events; the defaults of every command that finds events.

    ``fps`` is the frame rate assumed where a source does not state one (features without a video,
    a stream whose rate is unknown); UCF-Crime's rate.
    """

    threshold: float = constrained(0.5, Interval(0, 1))
    min_event: float = constrained(1.0, Interval(low=0))             # seconds
    merge_gap: float = constrained(2.0, Interval(low=0))             # seconds
    fps: float = constrained(30.0, Interval(low=0, closed="neither"))

    def __post_init__(self) -> None:
        check_fields(self)


#: The defaults, for signatures and CLI options (each written once, above).
DEFAULTS = EventSettings()


@dataclass(frozen=True)
class Event:
    """One detected anomaly: frames ``start_frame`` … ``end_frame`` (inclusive)."""

    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    peak_score: float
    peak_frame: int
    mean_score: float


def frame_scores(snippet_scores: np.ndarray, num_frames: int, *, frames_per_snippet: int = FRAMES_PER_SNIPPET,
                 step: int | None = None) -> np.ndarray:
    """One score per frame ``(num_frames,)`` from snippet scores ``(T,)`` taken every ``step`` frames.

    Frame ``f`` takes the score of snippet ``f // step`` (the last snippet for trailing frames).

    >>> frame_scores(np.array([0.1, 0.9]), 5, frames_per_snippet=2).tolist()
    [0.1, 0.1, 0.9, 0.9, 0.9]
    """
    step = step or frames_per_snippet
    scores = np.asarray(snippet_scores, dtype=np.float64).reshape(-1)
    if scores.size == 0:
        raise ValueError("no snippet scores")
    index = np.minimum(np.arange(num_frames) // step, scores.size - 1)
    return scores[index]


def merged_runs(scores: np.ndarray, fps: float, *, threshold: float = DEFAULTS.threshold,
                merge_gap: float = DEFAULTS.merge_gap) -> list[list[int]]:
    """Runs ``[start, end)`` of frames at or above ``threshold``, runs closer than ``merge_gap`` s joined."""
    above = np.asarray(scores) >= threshold
    edges = np.diff(np.r_[0, above.astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # ends exclusive
    runs: list[list[int]] = []
    gap = merge_gap * fps
    for start, end in zip(starts, ends, strict=True):
        if runs and start - runs[-1][1] <= gap:
            runs[-1][1] = int(end)
        else:
            runs.append([int(start), int(end)])
    return runs


def make_event(scores: np.ndarray, start: int, end: int, fps: float, *, first_frame: int = 0) -> Event:
    """The :class:`Event` of frames ``[start, end)`` of ``scores``, whose frame 0 is video frame ``first_frame``."""
    window = np.asarray(scores)[start:end]
    peak = int(np.argmax(window))
    start, end = start + first_frame, end + first_frame
    return Event(start, end - 1, round(start / fps, 3), round(end / fps, 3), float(window[peak]), start + peak,
                 float(window.mean()))


def find_events(scores: np.ndarray, fps: float, *, threshold: float = DEFAULTS.threshold,
                min_event: float = DEFAULTS.min_event, merge_gap: float = DEFAULTS.merge_gap) -> list[Event]:
    """Events of per-frame ``scores`` ``(F,)`` (see the module docstring); times in seconds at ``fps``.

    >>> [(e.start_frame, e.end_frame) for e in find_events(np.array([0, .9, .9, 0, .8, 0]), 1.0, min_event=2,
    ...                                                    merge_gap=1)]
    [(1, 4)]
    """
    runs = merged_runs(scores, fps, threshold=threshold, merge_gap=merge_gap)
    return [make_event(scores, start, end, fps) for start, end in runs if (end - start) / fps >= min_event]


class EventTracker:
    """:func:`find_events` on a score stream that arrives a few frames at a time.

    ``push(scores)`` appends per-frame scores and returns ``(opened, closed)``: events that just
    reached ``min_event`` (the alarm; its end and peak so far) and events that can no longer grow
    (no later run can come within ``merge_gap`` of them). After ``finish()`` the closed events are
    exactly ``find_events`` of the whole stream. Memory: the frames of the run chain still open.
    """

    def __init__(self, fps: float, *, threshold: float = DEFAULTS.threshold, min_event: float = DEFAULTS.min_event,
                 merge_gap: float = DEFAULTS.merge_gap):
        self.fps, self.threshold, self.min_event, self.merge_gap = fps, threshold, min_event, merge_gap
        self._scores = np.zeros(0)
        self._first = 0                 # stream frame of self._scores[0]
        self._open: set[int] = set()    # start frames of events alarmed but not closed

    @classmethod
    def from_settings(cls, fps: float, settings: EventSettings) -> EventTracker:
        """A tracker of ``settings`` for a stream at ``fps``."""
        return cls(fps, threshold=settings.threshold, min_event=settings.min_event, merge_gap=settings.merge_gap)

    @property
    def frames(self) -> int:
        """Frames received so far."""
        return self._first + len(self._scores)

    @property
    def first_frame(self) -> int:
        """The first frame still held: every event not yet closed starts at or after it."""
        return self._first

    def push(self, scores: np.ndarray) -> tuple[list[Event], list[Event]]:
        """Append per-frame ``scores``; the events opened and closed by them."""
        self._scores = np.concatenate([self._scores, np.asarray(scores, dtype=np.float64).reshape(-1)])
        return self._update(final=False)

    def finish(self) -> tuple[list[Event], list[Event]]:
        """The stream ended: every event is closed."""
        return self._update(final=True)

    def _update(self, *, final: bool) -> tuple[list[Event], list[Event]]:
        opened: list[Event] = []
        closed: list[Event] = []
        length = len(self._scores)
        keep = length
        runs = merged_runs(self._scores, self.fps, threshold=self.threshold, merge_gap=self.merge_gap)
        for start, end in runs:
            done = final or length - end > self.merge_gap * self.fps
            if not done:
                keep = min(keep, start)
            if (end - start) / self.fps < self.min_event:
                continue
            event = make_event(self._scores, start, end, self.fps, first_frame=self._first)
            if event.start_frame not in self._open:
                opened.append(event)
                self._open.add(event.start_frame)
            if done:
                closed.append(event)
                self._open.discard(event.start_frame)
        self._scores = self._scores[keep:]
        self._first += keep
        return opened, closed
