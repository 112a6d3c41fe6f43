"""The watch loop: N sources → one batched I3D and causal scorer → per-stream events → sinks.

Each stream decodes in its own thread (:class:`~glancevad.watch.sources.Source`), cuts its frames
into 16-frame snippets with their crops, and queues them (at most ``queue_snippets``; a full queue
makes that stream's decoder wait, nobody else). The main thread takes the snippets that are ready,
one per stream, runs them through I3D as one batch and through the causal scorer as one batch
(:func:`~glancevad.causal.push_together`), and feeds each stream's scores to its own
:class:`~glancevad.events.EventTracker`. An event that reaches ``min_event`` raises a *start*
alarm; when no later run can join it, an *end* alarm follows. A stream that stalls, is lost or
fails ends alone (its summary is sent); the others go on.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from glancevad.constants import FRAMES_PER_SNIPPET
from glancevad.errors import GlanceVADError
from glancevad.events import DEFAULTS, Event, EventTracker
from glancevad.watch.settings import StreamSpec, WatchSettings
from glancevad.watch.sinks import SinkSet
from glancevad.watch.sources import AVSource, Source, SourceLost
from glancevad.watch.summary import StreamSummary, WatchSummary, alarm_record

BEHIND_WARNING_S = 5.0  # a live source this far ahead of the scoring is reported once
IDLE_WAIT_S = 0.05      # the scorer's wait for a snippet when none is ready

Status = Callable[[str, str], None]


class Stream:
    """One stream of a watch: its decoding thread and, in the scoring thread, its scorer and events."""

    def __init__(self, spec: StreamSpec, source: Source, settings: WatchSettings, *, crops: int,
                 stop: threading.Event, ready: threading.Event):
        self.spec, self.source, self.settings, self.crops = spec, source, settings, crops
        self.name = spec.name
        self.stop, self.ready = stop, ready
        self.queue: queue.Queue[tuple] = queue.Queue(maxsize=settings.queue_snippets)
        self.thread = threading.Thread(target=self._decode, name=f"glancevad-decode {self.name}", daemon=True)
        self.summary = StreamSummary(self.name, spec.source)
        self.scorer: Any = None                   # a CausalScorer, set by the loop
        self.tracker: EventTracker | None = None
        self.numbers: dict[int, int] = {}         # event start frame -> event number
        self.arrivals: dict[int, float] = {}      # frame -> arrival wall time, of frames still held by the tracker
        self.latencies: list[float] = []
        self.lag_s = 0.0                           # of the last snippet scored
        self.snippets_in = 0
        self.last_score = 0.0
        self.started: float | None = None         # perf_counter when the first snippet arrived
        self.finished_at: float | None = None
        self.done = False
        self.warned = False

    # -- the decoding thread ---------------------------------------------------------------------

    def _decode(self) -> None:
        from glancevad.features.preprocess import snippet_crops

        frames: list[np.ndarray] = []
        arrivals: list[float] = []
        ended, error = "end of stream", None
        try:
            for _, rgb, arrival in self.source.frames():
                frames.append(rgb)
                arrivals.append(arrival)
                if len(frames) == FRAMES_PER_SNIPPET:
                    self._put(("snippet", snippet_crops(np.stack(frames), self.crops), arrivals))
                    frames, arrivals = [], []
        except SourceLost:
            ended = "source lost"
        except KeyboardInterrupt:
            ended = "interrupted (Ctrl+C)"
        except GlanceVADError as exc:
            ended, error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - one stream's fault ends that stream, not the watch
            ended, error = "failed", f"{self.name}: {type(exc).__name__}: {exc}"
        self._put(("end", ended, error))

    def _put(self, item: tuple) -> None:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
            except queue.Full:
                continue
            self.ready.set()
            return

    # -- the scoring thread ----------------------------------------------------------------------

    def received(self, arrivals: list[float]) -> None:
        """A snippet came in: remember when its frames arrived."""
        if self.started is None:
            self.started = time.perf_counter()
        first = self.snippets_in * FRAMES_PER_SNIPPET
        for i, arrival in enumerate(arrivals):
            self.arrivals[first + i] = arrival
        self.snippets_in += 1

    def scored(self, scores: list[float], emit: Callable[[dict], None]) -> None:
        """Final snippet scores in: events and alarms out."""
        for score in scores:
            if self.tracker is None:
                self.tracker = EventTracker.from_settings(self.fps, self.settings.events)
            self._publish(*self.tracker.push(np.full(FRAMES_PER_SNIPPET, score)), emit)
            self.last_score = score
        if self.tracker is not None:  # arrival times before the tracker's open run chain are no longer needed
            for frame in [f for f in self.arrivals if f < self.tracker.first_frame]:
                del self.arrivals[frame]

    @property
    def fps(self) -> float:
        """The stream's frame rate (the default where it states none)."""
        return self.source.fps or DEFAULTS.fps

    def _publish(self, opened: list[Event], closed: list[Event], emit: Callable[[dict], None]) -> None:
        for phase, events in (("start", opened), ("end", closed)):
            for event in events:
                latency = None
                if phase == "start":
                    self.numbers[event.start_frame] = len(self.numbers) + 1
                    arrived = self.arrivals.get(event.start_frame)
                    if arrived is not None:
                        latency = time.time() - arrived
                        self.latencies.append(latency)
                    self.summary.alarms += 1
                else:
                    self.summary.events.append({"event": self.numbers[event.start_frame], **asdict(event)})
                emit(alarm_record(phase, event, self.numbers[event.start_frame], self.fps, self.name,
                                  self.spec.source, latency))

    def finish(self, ended: str, error: str | None, emit: Callable[[dict], None]) -> StreamSummary:
        """The stream ended: the scores still waiting, trailing frames, open events closed; its summary sent."""
        self.done = True
        self.finished_at = time.perf_counter()
        with contextlib.suppress(KeyboardInterrupt):
            if self.scorer is not None:
                self.scored(self.scorer.finish(), emit)
            if self.tracker is not None:
                trailing = self.source.frames_read - self.tracker.frames
                if trailing > 0 and ended == "end of stream":
                    self._publish(*self.tracker.push(np.full(trailing, self.last_score)), emit)
                self._publish(*self.tracker.finish(), emit)
        s = self.summary
        s.frames, s.snippets, s.fps = self.source.frames_read, self.snippets_in, self.source.fps
        s.media_s = round(s.frames / s.fps, 3) if s.fps else 0.0
        s.wall_s = round(self.finished_at - self.started, 3) if self.started is not None else 0.0
        s.realtime_factor = round(s.media_s / s.wall_s, 3) if s.wall_s > 0 else None
        s.max_latency_s = round(max(self.latencies), 3) if self.latencies else None
        s.stalls, s.reconnects = self.source.stalls, self.source.reconnects
        s.ended, s.error = ended, error
        emit({"kind": "stream_summary", **asdict(s)})
        return s


def _stop_on_sigint(stop: threading.Event) -> Callable[[], None]:
    """Ctrl+C sets ``stop`` rather than raising wherever the main thread is: inside PyAV a raised
    KeyboardInterrupt can be swallowed. A second Ctrl+C raises at once. Returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, handler)
    return lambda: signal.signal(signal.SIGINT, previous)


def watch(
    specs: Sequence[StreamSpec],
    checkpoint: str | os.PathLike,
    settings: WatchSettings | None = None,
    *,
    sinks: SinkSet,
    on_status: Status = lambda kind, message: None,
    on_start: Callable[[list[Stream]], None] | None = None,
    heartbeat: Callable[[], None] | None = None,
) -> WatchSummary:
    """Watch every stream until each ends, is lost, fails, or Ctrl+C (SIGINT); see the module docstring.

    ``on_status(kind, message)`` reports the streams (open, stall, drop, reconnected, lost, failed,
    warning); ``on_start(streams)`` is called once the networks are loaded (the metrics endpoint
    reads the streams from there); ``heartbeat()`` at every round of the scoring loop. Open events
    are closed (end alarms) on the way out.
    """
    from glancevad.causal import push_together
    from glancevad.features.preprocess import snippet_crops
    from glancevad.features.video import SHORT_SIDE
    from glancevad.inference import Inferencer

    if not specs:
        raise GlanceVADError("no sources to watch (give SOURCE arguments or --sources FILE)")
    settings = settings or WatchSettings()
    stop, ready = threading.Event(), threading.Event()
    sources = [AVSource(spec, settings, on_status, stop) for spec in specs]  # a missing file: an error before loading
    inferencer = Inferencer.load(checkpoint, device=settings.device, precision=settings.precision, crops=settings.crops,
                                 weights=settings.weights, events=settings.events)
    extractor = inferencer.extractor()
    crops = inferencer.crops
    # blank snippets through both networks, at every batch size, before the streams open: first-call
    # set-up is not latency
    blank = snippet_crops(np.zeros((FRAMES_PER_SNIPPET, SHORT_SIDE, SHORT_SIDE, 3), np.uint8), crops)
    for size in range(1, len(specs) + 1):
        warm = [inferencer.causal_scorer(window=1) for _ in range(size)]
        push_together(warm, list(extractor.features([blank] * size)))
    streams = [Stream(spec, source, settings, crops=crops, stop=stop, ready=ready)
               for spec, source in zip(specs, sources, strict=True)]
    for stream in streams:
        stream.scorer = inferencer.causal_scorer(window=settings.window, lookahead=settings.lookahead)
    summary = WatchSummary(str(checkpoint), inferencer.name,
                           settings={**asdict(settings), "crops": crops, "frames_per_snippet": FRAMES_PER_SNIPPET})
    if on_start is not None:
        on_start(streams)
    interrupted = False
    restore = _stop_on_sigint(stop)
    began = time.perf_counter()
    try:
        for stream in streams:
            stream.thread.start()
        active = list(streams)
        while active:
            if stop.is_set():
                raise KeyboardInterrupt
            if heartbeat is not None:
                heartbeat()
            ready.clear()
            batch: list[tuple[Stream, list[float]]] = []
            clips = []
            for stream in active:
                try:
                    item = stream.queue.get_nowait()
                except queue.Empty:
                    continue
                if item[0] == "end":
                    _, ended, error = item
                    if error is not None:
                        on_status("failed", error)
                    stream.finish(ended, error, sinks.emit)
                else:
                    _, clip, arrivals = item
                    stream.received(arrivals)
                    batch.append((stream, arrivals))
                    clips.append(clip)
            active = [s for s in active if not s.done]
            if not batch:
                ready.wait(IDLE_WAIT_S)
                continue
            features = extractor.features(clips)
            scores = push_together([s.scorer for s, _ in batch], list(features))
            now = time.time()
            for (stream, arrivals), final in zip(batch, scores, strict=True):
                stream.scored(final, sinks.emit)
                stream.lag_s = now - arrivals[-1]
                stream.summary.max_lag_s = round(max(stream.summary.max_lag_s or 0.0, stream.lag_s), 3)
                if stream.lag_s > BEHIND_WARNING_S and not stream.warned and stream.source.fps:
                    stream.warned = True
                    on_status("warning", f"{stream.name}: scoring is {stream.lag_s:.1f} s behind the stream "
                                         "(slower than real time): alarms will lag; try --crops 1, "
                                         "--precision auto (bf16 on a CPU with AMX) or a GPU")
    except KeyboardInterrupt:
        interrupted = True
    finally:
        stop.set()
        with contextlib.suppress(KeyboardInterrupt):
            for stream in streams:
                if not stream.done:
                    stream.finish("interrupted (Ctrl+C)", None, sinks.emit)
            for stream in streams:
                stream.thread.join(timeout=1.0)
            _total(summary, streams, time.perf_counter() - began, interrupted, sinks)
            sinks.emit({"kind": "summary", **asdict(summary)})
            sinks.close()
        restore()
    if all(s.summary.ended == "failed" and s.source.fps is None for s in streams):
        raise GlanceVADError(streams[0].summary.error or "no stream could be opened")
    return summary


def _total(summary: WatchSummary, streams: list[Stream], wall_s: float, interrupted: bool, sinks: SinkSet) -> None:
    parts = [s.summary for s in streams]
    summary.streams = parts
    summary.frames = sum(p.frames for p in parts)
    summary.snippets = sum(p.snippets for p in parts)
    summary.media_s = round(sum(p.media_s for p in parts), 3)
    summary.wall_s = round(wall_s, 3)
    summary.realtime_factor = round(summary.media_s / wall_s, 3) if wall_s > 0 else None
    summary.alarms = sum(p.alarms for p in parts)
    latencies = [p.max_latency_s for p in parts if p.max_latency_s is not None]
    summary.max_latency_s = max(latencies) if latencies else None
    summary.stalls = sum(p.stalls for p in parts)
    summary.reconnects = sum(p.reconnects for p in parts)
    summary.sinks = sinks.stats()
    summary.sink_failures = sinks.failures()
    if interrupted:
        summary.ended = "interrupted (Ctrl+C)"
    elif any(p.ended != "end of stream" for p in parts):
        summary.ended = "source lost"
    else:
        summary.ended = "end of stream"
