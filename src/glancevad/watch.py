"""``glancevad watch``: score a stream as it arrives and raise alarms with bounded latency.

A source (a file, a file that is still growing, a URL PyAV opens, a capture device) is decoded
frame by frame; frames are resized and cut into 16-frame snippets as they arrive (the extraction
path of ``glancevad extract``), each snippet's I3D features go to a :class:`~glancevad.causal.CausalScorer`
(a window of the last ``W`` snippets), its score to every frame of the snippet, and the frame
scores to an :class:`~glancevad.detect.EventTracker` (the hysteresis of ``glancevad detect``). An
event that reaches ``min_event`` raises a *start* alarm; when no later run can join it, an *end*
alarm follows. Alarms are JSON lines to every sink (stdout, a file, a webhook).

Sources that stall (no data for ``stall_timeout`` seconds) or drop (a read error) are reported and
retried with exponential backoff; ``retries`` failed attempts in a row end the watch. Media time is
the count of decoded frames over the stream's frame rate, so it keeps counting across reconnects.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import signal
import stat
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import numpy as np

from glancevad.constants import FRAMES_PER_SNIPPET
from glancevad.errors import GlanceVADError

MAX_BACKOFF_S = 30.0
DEFAULT_FPS = 25.0
BEHIND_WARNING_S = 5.0  # a live source this far ahead of the scoring is reported once


@dataclass(frozen=True)
class WatchSettings:
    """Everything ``glancevad watch`` takes besides the source and the checkpoint."""

    window: int = 32
    lookahead: int = 0
    threshold: float = 0.5
    min_event: float = 1.0
    merge_gap: float = 2.0
    crops: int | None = None
    precision: str = "fp32"
    device: str = "auto"
    weights: str = "rgb_scratch"
    realtime: bool = False
    follow: bool = False
    stall_timeout: float = 5.0
    retries: int = 5
    backoff: float = 1.0
    input_format: str | None = None

    def __post_init__(self) -> None:
        from glancevad.causal import check_window

        check_window(self.window, self.lookahead)
        if self.stall_timeout <= 0 or self.backoff <= 0:
            raise GlanceVADError("--stall-timeout and --backoff must be positive")
        if self.retries < 0:
            raise GlanceVADError("--retries must not be negative")


class SourceLost(Exception):
    """The source stalled or dropped and did not come back within the retries."""


def utc_now() -> str:
    """The wall clock as ISO 8601 UTC with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_url(source: str) -> bool:
    """``scheme://...`` (rtsp, http, udp, ...), which PyAV opens through its network protocols."""
    scheme, sep, _ = source.partition("://")
    return bool(sep) and scheme.isalnum() and scheme.lower() != "file"


def is_device(source: str) -> bool:
    """A character device such as ``/dev/video0``."""
    try:
        return stat.S_ISCHR(os.stat(source).st_mode)
    except OSError:
        return False


class FollowedFile(io.RawIOBase):
    """A file that may still be growing: at its end, ``read`` waits for more instead of returning EOF.

    No growth for ``stall_timeout`` seconds is reported through ``on_stall(attempt, wait)`` and
    waited out with backoff (``backoff``, doubled up to 30 s); after ``retries`` such waits the
    file is taken as finished (EOF).
    """

    def __init__(self, path: Path, *, stall_timeout: float, retries: int, backoff: float,
                 on_stall: Callable[[int, float], None], stop: threading.Event, poll: float = 0.05):
        super().__init__()
        self.stop = stop
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self.stall_timeout, self.retries, self.backoff, self.poll = stall_timeout, retries, backoff, poll
        self.on_stall = on_stall
        self.stalls = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        attempt, waited, limit = 0, 0.0, self.stall_timeout
        while True:
            count = self._file.readinto(buffer)
            if count:
                return count
            if self.stop.is_set():
                return 0
            if waited >= limit:
                if attempt >= self.retries:
                    return 0
                attempt += 1
                self.stalls += 1
                wait = min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF_S)
                self.on_stall(attempt, wait)
                waited, limit = 0.0, wait
            self.stop.wait(self.poll)
            waited += self.poll

    def close(self) -> None:
        self._file.close()
        super().close()


class Source:
    """Frames of a live source, reconnecting after stalls and drops; media time counted in frames.

    ``frames()`` yields ``(frame index, RGB frame (H, W, 3))`` with the short side resized to 256,
    at the stream's pace (a file as fast as it decodes, or at its frame rate with ``realtime``).
    ``arrivals`` maps recent frame indices to the wall time (``time.time()``) each arrived: when it
    was decoded, or for ``realtime`` files when it was due (its media time after the first frame).
    """

    def __init__(self, source: str, settings: WatchSettings, on_status: Callable[[str, str], None],
                 stop: threading.Event | None = None):
        self.name, self.settings, self.on_status = source, settings, on_status
        self.stop = stop or threading.Event()   # set by Ctrl+C: frames() raises KeyboardInterrupt
        self.kind = "url" if is_url(source) else "device" if is_device(source) else "file"
        if self.kind == "file" and not Path(source).is_file():
            raise GlanceVADError(f"{source}: no such file, URL or capture device")
        self.live = self.kind != "file" or settings.follow
        self.fps: float | None = None
        self.frames_read = 0
        self.stalls = 0
        self.reconnects = 0
        self.arrivals: dict[int, float] = {}

    def _open(self):
        import av

        s = self.settings
        fmt = s.input_format or ("v4l2" if self.kind == "device" else None)
        if self.kind == "file" and s.follow:
            def stalled(attempt: int, wait: float) -> None:
                self.stalls += 1
                self.on_status("stall", f"no new data for {s.stall_timeout:g} s; waiting {wait:g} s "
                                        f"(attempt {attempt} of {s.retries})")

            handle = FollowedFile(Path(self.name), stall_timeout=s.stall_timeout, retries=s.retries,
                                  backoff=s.backoff, on_stall=stalled, stop=self.stop)
            try:
                return av.open(handle, format=fmt)
            except BaseException:
                handle.close()
                raise
        options = {"timeout": (s.stall_timeout, s.stall_timeout)} if self.kind != "file" else {}
        return av.open(self.name, format=fmt, **options)

    def _frame_rate(self, container) -> float:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if rate and float(rate) > 0:
            return float(rate)
        self.on_status("warning", f"frame rate unknown; media time assumes {DEFAULT_FPS:g} fps")
        return DEFAULT_FPS

    def frames(self) -> Iterator[tuple[int, np.ndarray]]:
        """Frames until the source ends (or is lost: :class:`SourceLost`)."""
        import av

        from glancevad.features.video import decode_frames

        s = self.settings
        failures = 0
        started: float | None = None
        while True:
            try:
                container = self._open()
            except (av.FFmpegError, OSError) as exc:
                if self.kind == "file" and not s.follow:
                    raise GlanceVADError(f"{self.name}: not a readable video ({exc})") from None
                failures += 1
                self._retry_or_give_up(failures, f"cannot open ({exc})")
                continue
            try:
                if not container.streams.video:
                    raise GlanceVADError(f"{self.name}: has no video stream")
                if self.fps is None:
                    self.fps = self._frame_rate(container)
                    self.on_status("open", f"{self.name}: {self.kind}, {self.fps:g} fps")
                elif failures:
                    self.reconnects += 1
                    self.on_status("reconnected", f"{self.name}: reading again at frame {self.frames_read}")
                for rgb in decode_frames(container):
                    self._check_stop()
                    failures = 0
                    if started is None:
                        started = time.time()
                    arrival = time.time()
                    if s.realtime and self.kind == "file":  # the frame is due at its media time, late or not
                        arrival = started + self.frames_read / self.fps
                        if arrival > time.time():
                            self.stop.wait(arrival - time.time())
                            self._check_stop()
                    self.arrivals[self.frames_read] = arrival
                    self.frames_read += 1
                    yield self.frames_read - 1, rgb
            except av.FFmpegError as exc:
                if not self.live:
                    raise GlanceVADError(f"{self.name}: decoding failed ({exc})") from None
                failures += 1
                kind = "stall" if isinstance(exc, av.error.ExitError) else "drop"
                if kind == "stall":
                    self.stalls += 1
                self._retry_or_give_up(failures, "no data for "
                                       f"{s.stall_timeout:g} s" if kind == "stall" else f"read error ({exc})", kind)
                continue
            finally:
                container.close()
            self._check_stop()
            if self.kind == "file" or not s.follow:
                return  # the end of the file, or a stream that ended cleanly
            failures += 1
            self._retry_or_give_up(failures, "the stream ended", "drop")

    def _retry_or_give_up(self, failures: int, why: str, kind: str = "drop") -> None:
        s = self.settings
        if failures > s.retries:
            message = f"{self.name}: {why}; gave up after {s.retries} retries"
            if self.fps is None:  # never opened: nothing was watched
                raise GlanceVADError(message)
            self.on_status("lost", message)
            raise SourceLost(message)
        wait = min(s.backoff * 2 ** (failures - 1), MAX_BACKOFF_S)
        self.on_status(kind, f"{self.name}: {why}; retrying in {wait:g} s (attempt {failures} of {s.retries})")
        self.stop.wait(wait)
        self._check_stop()

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise KeyboardInterrupt


class AlarmSinks:
    """Where alarms go: a text stream (stdout), an appended JSON-lines file, a webhook (POST, in a thread)."""

    def __init__(self, stream: IO[str] | None = None, path: str | os.PathLike | None = None,
                 webhook: str | None = None, on_status: Callable[[str, str], None] | None = None,
                 timeout: float = 5.0):
        self.stream = stream
        self.path = Path(path) if path is not None else None
        self.webhook, self.timeout = webhook, timeout
        self.on_status = on_status or (lambda kind, message: None)
        self.webhook_failures = 0
        self._file = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._queue: queue.Queue[dict | None] = queue.Queue()
        self._thread = None
        if webhook is not None:
            if not webhook.startswith(("http://", "https://")):
                raise GlanceVADError(f"--webhook must be an http:// or https:// URL, not {webhook!r}")
            self._thread = threading.Thread(target=self._post_loop, name="glancevad-webhook", daemon=True)
            self._thread.start()

    def emit(self, record: dict[str, Any]) -> None:
        """Write one record as a JSON line to every sink."""
        line = json.dumps(record, sort_keys=False)
        if self.stream is not None:
            self.stream.write(line + "\n")
            self.stream.flush()
        if self._file is not None:
            self._file.write(line + "\n")
            self._file.flush()
        if self._thread is not None:
            self._queue.put(record)

    def _post_loop(self) -> None:
        while (record := self._queue.get()) is not None:
            request = urllib.request.Request(self.webhook, data=json.dumps(record).encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    response.read()
            except OSError as exc:
                self.webhook_failures += 1
                self.on_status("webhook", f"POST to {self.webhook} failed: {exc}")

    def close(self) -> None:
        """Flush the webhook queue (bounded wait) and close the file."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=self.timeout * 2)
        if self._file is not None:
            self._file.close()


@dataclass
class WatchSummary:
    """What a watch did, printed at its end and written as the last JSON line of the sinks."""

    source: str
    checkpoint: str
    model: str
    frames: int = 0
    snippets: int = 0
    fps: float | None = None
    media_s: float = 0.0
    wall_s: float = 0.0
    realtime_factor: float | None = None
    alarms: int = 0
    events: list[dict] = field(default_factory=list)
    max_latency_s: float | None = None
    stalls: int = 0
    reconnects: int = 0
    webhook_failures: int = 0
    ended: str = "end of stream"
    settings: dict[str, Any] = field(default_factory=dict)


def alarm_record(phase: str, event, number: int, fps: float, source: str, latency_s: float | None) -> dict:
    """The JSON of one alarm: event times in media seconds and frames, the wall clock of emission."""
    record = {"kind": "alarm", "phase": phase, "event": number, "source": source, "wall_time": utc_now(),
              **asdict(event), "peak_s": round(event.peak_frame / fps, 3)}
    if latency_s is not None:
        record["latency_s"] = round(latency_s, 3)
    return record


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
    source: str,
    checkpoint: str | os.PathLike,
    settings: WatchSettings = WatchSettings(),
    *,
    sinks: AlarmSinks,
    on_status: Callable[[str, str], None] = lambda kind, message: None,
    on_snippet: Callable[[int, float], None] | None = None,
) -> WatchSummary:
    """Watch ``source`` until it ends, is lost, or Ctrl+C (SIGINT); see the module docstring.

    ``on_status(kind, message)`` reports the source (open, stall, drop, reconnected, lost);
    ``on_snippet(index, score)`` each causal score. Open events are closed (end alarms) on the way out.
    """
    from glancevad.causal import CausalScorer
    from glancevad.detect import EventTracker
    from glancevad.engine.inference import load_model
    from glancevad.features.extract import ExtractionSettings, SnippetExtractor
    from glancevad.features.i3d import FEATURE_DIM
    from glancevad.features.video import SHORT_SIDE
    from glancevad.features.weights import load_i3d
    from glancevad.runtime import resolve_device

    stop = threading.Event()
    stream = Source(source, settings, on_status, stop)   # a missing file is an error before any loading
    device = resolve_device(settings.device)
    loaded = load_model(checkpoint, device=device)
    if loaded.in_dim != FEATURE_DIM:
        raise GlanceVADError(f"{checkpoint}: the network takes {loaded.in_dim}-d features but I3D gives "
                             f"{FEATURE_DIM}-d; watch needs a checkpoint trained on I3D features")
    crops = settings.crops or loaded.crops or 10
    extractor = SnippetExtractor(load_i3d(settings.weights), ExtractionSettings(crops=crops, weights=settings.weights),
                                 device=device, precision=settings.precision)
    scorer = CausalScorer(loaded.model, window=settings.window, lookahead=settings.lookahead, device=device,
                          precision=settings.precision)
    # one blank snippet through both networks before the stream opens: first-call set-up is not latency
    blank = np.zeros((FRAMES_PER_SNIPPET, SHORT_SIDE, SHORT_SIDE, 3), np.uint8)
    for features in extractor.snippets(iter(blank)):
        CausalScorer(loaded.model, window=1, device=device, precision=settings.precision).push(features)
    summary = WatchSummary(source, str(checkpoint), loaded.name,
                           settings={**asdict(settings), "crops": crops, "frames_per_snippet": FRAMES_PER_SNIPPET})
    tracker: EventTracker | None = None
    numbers: dict[int, int] = {}          # event start frame -> event number
    latencies: list[float] = []
    last_score = 0.0
    warned = False
    began = time.perf_counter()

    def publish(opened, closed) -> None:
        for phase, events in (("start", opened), ("end", closed)):
            for event in events:
                if phase == "start":
                    numbers[event.start_frame] = len(numbers) + 1
                    arrived = stream.arrivals.get(event.start_frame)
                    latency = time.time() - arrived if arrived is not None else None
                    if latency is not None:
                        latencies.append(latency)
                    summary.alarms += 1
                else:
                    latency = None
                    summary.events.append({"event": numbers[event.start_frame], **asdict(event)})
                sinks.emit(alarm_record(phase, event, numbers[event.start_frame], stream.fps or DEFAULT_FPS,
                                        source, latency))

    def scored(scores: list[float]) -> None:
        nonlocal tracker, last_score
        for score in scores:
            if tracker is None:
                tracker = EventTracker(stream.fps or DEFAULT_FPS, threshold=settings.threshold,
                                       min_event=settings.min_event, merge_gap=settings.merge_gap)
            publish(*tracker.push(np.full(FRAMES_PER_SNIPPET, score)))
            last_score = score
        if tracker is not None:  # arrival times before the tracker's open run chain are no longer needed
            for frame in [f for f in stream.arrivals if f < tracker.first_frame]:
                del stream.arrivals[frame]

    frames = (rgb for _, rgb in stream.frames())
    restore = _stop_on_sigint(stop)
    try:
        try:
            for features in extractor.snippets(frames):
                scores = scorer.push(features)
                scored(scores)
                lag = time.time() - stream.arrivals.get(stream.frames_read - 1, time.time())
                if lag > BEHIND_WARNING_S and not warned:
                    warned = True
                    on_status("warning", f"scoring is {lag:.1f} s behind the stream (slower than real time): "
                                         "alarms will lag; try --crops 1, --precision bf16 or a GPU")
                if on_snippet is not None:
                    on_snippet(scorer.pushed - 1, scores[-1] if scores else float("nan"))
        except SourceLost:
            summary.ended = "source lost"
        scored(scorer.finish())
    except KeyboardInterrupt:
        summary.ended = "interrupted (Ctrl+C)"
    finally:
        with contextlib.suppress(KeyboardInterrupt):
            if tracker is not None:
                trailing = stream.frames_read - tracker.frames
                if trailing > 0 and summary.ended == "end of stream":
                    publish(*tracker.push(np.full(trailing, last_score)))
                publish(*tracker.finish())
            summary.frames = stream.frames_read
            summary.snippets = scorer.pushed
            summary.fps = stream.fps
            summary.media_s = round(stream.frames_read / stream.fps, 3) if stream.fps else 0.0
            summary.wall_s = round(time.perf_counter() - began, 3)
            summary.realtime_factor = round(summary.media_s / summary.wall_s, 3) if summary.wall_s > 0 else None
            summary.max_latency_s = round(max(latencies), 3) if latencies else None
            summary.stalls, summary.reconnects = stream.stalls, stream.reconnects
            summary.webhook_failures = sinks.webhook_failures
            sinks.emit({"kind": "summary", **asdict(summary)})
            sinks.close()
        restore()
    return summary
