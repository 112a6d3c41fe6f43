"""Sources: a stream's frames as they arrive, with stalls, drops and reconnects handled.

:class:`Source` is what the scoring loop needs of a stream; :class:`AVSource` is the one kind
glancevad has, through PyAV: a file, a file that is still growing (``follow``), a URL (rtsp, http,
udp ...) or a capture device (``/dev/video0``). Sources that stall (no data for ``stall_timeout``
seconds) or drop (a read error) are reported and retried with exponential backoff; ``retries``
failed attempts in a row end the stream. Media time is the count of decoded frames over the
stream's frame rate, so it keeps counting across reconnects.
"""

from __future__ import annotations

import io
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from glancevad.errors import GlanceVADError
from glancevad.events import DEFAULTS
from glancevad.watch.settings import StreamSpec, WatchSettings

MAX_BACKOFF_S = 30.0


class Source(Protocol):
    """A stream's frames; ``frames()`` runs in the stream's own decoding thread."""

    name: str
    fps: float | None        # known once the stream is open
    frames_read: int
    stalls: int
    reconnects: int

    def frames(self) -> Iterator[tuple[int, np.ndarray, float]]:
        """``(frame index, RGB frame (H, W, 3), arrival wall time)`` until the end (or :class:`SourceLost`)."""
        ...


class SourceLost(Exception):
    """The source stalled or dropped and did not come back within the retries."""


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


class AVSource:
    """A :class:`Source` through PyAV, reconnecting after stalls and drops; media time counted in frames.

    ``frames()`` yields frames with the short side resized to 256, at the stream's pace (a file as
    fast as it decodes, or at its frame rate with ``realtime``), each with its arrival time
    (``time.time()``): when it was decoded, or for ``realtime`` files when it was due (its media
    time after the first frame). ``on_status(kind, message)`` hears open, stall, drop, reconnected, lost.
    """

    def __init__(self, spec: StreamSpec, settings: WatchSettings, on_status: Callable[[str, str], None],
                 stop: threading.Event | None = None):
        self.name, self.path, self.on_status = spec.name, spec.source, on_status
        self.follow = settings.follow if spec.follow is None else spec.follow
        self.realtime = settings.realtime if spec.realtime is None else spec.realtime
        self.input_format = spec.input_format or settings.input_format
        self.settings = settings
        self.stop = stop or threading.Event()   # set by Ctrl+C: frames() raises KeyboardInterrupt
        self.kind = "url" if is_url(self.path) else "device" if is_device(self.path) else "file"
        if self.kind == "file" and not Path(self.path).is_file():
            raise GlanceVADError(f"{self.path}: no such file, URL or capture device")
        self.live = self.kind != "file" or self.follow
        self.fps: float | None = None
        self.frames_read = 0
        self.stalls = 0
        self.reconnects = 0

    def _open(self):
        import av

        s = self.settings
        fmt = self.input_format or ("v4l2" if self.kind == "device" else None)
        if self.kind == "file" and self.follow:
            def stalled(attempt: int, wait: float) -> None:
                self.stalls += 1
                self.on_status("stall", f"no new data for {s.stall_timeout:g} s; waiting {wait:g} s "
                                        f"(attempt {attempt} of {s.retries})")

            handle = FollowedFile(Path(self.path), stall_timeout=s.stall_timeout, retries=s.retries,
                                  backoff=s.backoff, on_stall=stalled, stop=self.stop)
            try:
                return av.open(handle, format=fmt)
            except BaseException:
                handle.close()
                raise
        options = {"timeout": (s.stall_timeout, s.stall_timeout)} if self.kind != "file" else {}
        return av.open(self.path, format=fmt, **options)

    def _frame_rate(self, container) -> float:
        from glancevad.features.video import nominal_rate

        rate = nominal_rate(container.streams.video[0])
        if rate > 0:
            return rate
        self.on_status("warning", f"{self.name}: frame rate unknown; media time assumes {DEFAULTS.fps:g} fps")
        return DEFAULTS.fps

    def frames(self) -> Iterator[tuple[int, np.ndarray, float]]:
        """Frames until the source ends (or is lost: :class:`SourceLost`); see :class:`Source`."""
        import av

        from glancevad.features.video import decode_frames

        s = self.settings
        failures = 0
        started: float | None = None
        while True:
            try:
                container = self._open()
            except (av.FFmpegError, OSError) as exc:
                if self.kind == "file" and not self.follow:
                    raise GlanceVADError(f"{self.path}: not a readable video ({exc})") from None
                failures += 1
                self._retry_or_give_up(failures, f"cannot open ({exc})")
                continue
            try:
                if not container.streams.video:
                    raise GlanceVADError(f"{self.path}: has no video stream")
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
                    if self.realtime and self.kind == "file":  # the frame is due at its media time, late or not
                        arrival = started + self.frames_read / self.fps
                        if arrival > time.time():
                            self.stop.wait(arrival - time.time())
                            self._check_stop()
                    self.frames_read += 1
                    yield self.frames_read - 1, rgb, arrival
            except av.FFmpegError as exc:
                if not self.live:
                    raise GlanceVADError(f"{self.path}: decoding failed ({exc})") from None
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
            if self.kind == "file" or not self.follow:
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
