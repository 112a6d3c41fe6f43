"""The annotation page's model scores: from feature files when present, else from I3D in a background worker.

One worker thread extracts the videos without feature files, one at a time, the videos pages
opened first. Opening a video (:meth:`ScoreProvider.request`, once per opening) puts it before the
rest; the page then polls its scores (:meth:`ScoreProvider.video`), and each poll keeps the video
*wanted* for :data:`WANTED_S` seconds. An extraction is interrupted (to start again later) only when
no page wants it and a page wants another video: a background extraction gives way at once, one a page
is waiting for never does, so two pages waiting on two videos get both, one after the other.
Features go to a cache folder beside the database (``<db>-features/<id>.npy``, ``[T, crops, D]``),
so a restart scores them at once.
Nothing here blocks a request: a video being extracted answers with its progress, a video that
failed answers with the reason. Features whose snippet count does not fit the video's frame
count are refused with the reason, never stretched over the video.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from glancevad.assist.peaks import MERGE_GAP_S, MIN_EVENT_S, NEAR_FRAMES, THRESHOLD, unglanced_priority
from glancevad.assist.scoring import snippet_count_problem
from glancevad.constants import FRAMES_PER_SNIPPET
from glancevad.errors import DataError, GlanceVADError
from glancevad.events import Event

#: Seconds a page's last open or poll of a video keeps it wanted (the page polls every second while it waits).
WANTED_S = 5.0

#: ``extract(video path, on_progress(done, total)) -> features [T, crops, D]``
Extractor = Callable[[Path, Callable[[int, int], None]], np.ndarray]


class _Interrupted(Exception):
    """Raised in the progress callback: the server stops, or a page wants another video and none this one."""


def i3d_extractor(crops: int, *, device: Any = "cpu", weights: str = "rgb_scratch") -> Extractor:
    """An :data:`Extractor` running glancevad's I3D (the network is loaded at the first video)."""
    state: dict[str, Any] = {}

    def extract(path: Path, on_progress: Callable[[int, int], None]) -> np.ndarray:
        from glancevad.features.extract import ExtractionSettings, SnippetExtractor
        from glancevad.features.video import probe
        from glancevad.features.weights import load_i3d

        settings = ExtractionSettings(crops=crops, weights=weights)
        info = probe(path)
        total = info.snippets(settings.stack, settings.step)
        if total == 0:  # said before the network is loaded
            raise DataError(f"{path}: {info.frames} frames, fewer than one snippet of {settings.stack} frames")
        if "extractor" not in state:
            state["extractor"] = SnippetExtractor(load_i3d(weights), settings, device=device)
        done = [0]

        def tick() -> None:
            done[0] += 1
            on_progress(done[0], total)

        return state["extractor"].video(path, tick)

    return extract


class ScoreProvider:
    """Per-video snippet scores of one checkpoint, for the page (see the module docstring).

    ``features``: a folder of feature files named by video id (optional); ``cache``: where
    extracted features go; ``video_path(id)``: the file of a video; ``extract``: how a video
    becomes features (default: I3D with the checkpoint's crops, as ``glancevad detect`` does).
    The dimension check happens here, at start-up, against the features the network will get:
    a checkpoint that does not fit the feature files is one error naming both; one that does not
    take I3D's features is an error only without ``features`` (with them, videos lacking a file
    fail with the reason). Extraction uses :func:`~glancevad.features.preprocess.extraction_crops`
    of the checkpoint's crops (``extraction_crops``). ``wanted_s``: how long an open or a poll keeps a
    video wanted (:data:`WANTED_S`).
    """

    def __init__(self, checkpoint: str | os.PathLike, *, video_path: Callable[[str], Path], cache: str | os.PathLike,
                 features: str | os.PathLike | None = None, extract: Extractor | None = None,
                 threshold: float = THRESHOLD, min_event: float = MIN_EVENT_S, merge_gap: float = MERGE_GAP_S,
                 near: int = NEAR_FRAMES, device: str = "cpu", wanted_s: float = WANTED_S):
        from glancevad.data.feature_files import FeatureIndex, feature_shape
        from glancevad.events import EventSettings
        from glancevad.inference import Inferencer

        self.checkpoint = Path(checkpoint)
        self.inferencer = Inferencer.load(checkpoint, device=device,
                                          events=EventSettings(threshold=threshold, min_event=min_event,
                                                               merge_gap=merge_gap))
        self.near = near
        self.video_path = video_path
        self.cache = Path(cache)
        self.features = FeatureIndex(features) if features is not None else None
        if self.features is not None and self.features.video_ids():
            first = self.features.video_ids()[0]
            self.inferencer.check_dim(feature_shape(self.features.locate(first))[2], self.features.directory)
        #: Why videos without a feature file cannot be extracted (``None``: they can).
        self.cannot_extract: str | None = None
        self.extraction_crops: int | None = None
        if extract is None:
            self.cannot_extract = self.inferencer.cannot_extract
            if self.cannot_extract is not None and self.features is None:
                raise GlanceVADError(f"{self.cannot_extract}; pass --features DIR with features of its kind")
            if self.cannot_extract is None:
                self.extraction_crops = self.inferencer.crops
                extract = i3d_extractor(self.extraction_crops, device=self.inferencer.device)
        self.extract = extract
        self._lock = threading.Lock()          # guards the fields below
        self._model_lock = threading.Lock()    # one forward pass at a time
        self._wake = threading.Condition(self._lock)
        self._queue: list[str] = []
        self._status: dict[str, dict[str, Any]] = {}
        self._scores: dict[str, np.ndarray] = {}
        self._events: dict[tuple[str, int, float], list[Event]] = {}  # (video, frames, fps) -> its events
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.wanted_s = wanted_s
        self._asked: dict[str, float] = {}     # video -> when a page last opened or polled it (monotonic)
        self._opened: list[str] = []           # queued videos pages opened, in the order they were opened

    # -- the worker ------------------------------------------------------------------------------

    def start(self, video_ids: list[str]) -> None:
        """Queue every video (in this order: scored from its features, else extracted) and start the worker."""
        with self._lock:
            for vid in video_ids:
                if vid not in self._queue:
                    self._queue.append(vid)
                    self._status[vid] = {"state": "queued"}
        self._thread = threading.Thread(target=self._work, name="glancevad-scores", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the worker: the extraction in progress is interrupted at its next snippet (waits up to 60 s)."""
        with self._lock:
            self._stopped = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def request(self, video_id: str) -> None:
        """A page opened ``video_id``: extract it before the videos no page opened (once per opening; polls
        call :meth:`video`, which only keeps it wanted)."""
        with self._lock:
            self._asked[video_id] = time.monotonic()
            if video_id in self._queue and video_id not in self._opened:
                self._opened.append(video_id)
                self._wake.notify_all()

    def _wanted(self, video_id: str, now: float) -> bool:
        """Whether a page opened or polled ``video_id`` in the last ``wanted_s`` seconds (under the lock)."""
        asked = self._asked.get(video_id)
        return asked is not None and now - asked <= self.wanted_s

    def _next_wanted(self, now: float) -> str | None:
        """The first opened video still queued and wanted; opened videos no page wants any more go back
        to the queue's order (under the lock)."""
        self._opened = [vid for vid in self._opened if vid in self._queue and self._wanted(vid, now)]
        return self._opened[0] if self._opened else None

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._stopped:
                    self._wake.wait()
                if self._stopped:
                    return
                vid = self._next_wanted(time.monotonic()) or self._queue[0]
                self._queue.remove(vid)
                if vid in self._opened:
                    self._opened.remove(vid)
                if vid in self._scores:
                    continue
            try:
                if self._features_file(vid) is not None:
                    self.snippet_scores(vid)
                    continue
            except GlanceVADError:
                self.snippet_scores(vid)  # records the reason
                continue
            if self.extract is None:
                where = f"in {self.features.directory}" if self.features is not None else "given"
                with self._lock:
                    self._status[vid] = {"state": "failed",
                                         "message": f"{vid}: no feature file {where}, and {self.cannot_extract}"}
                continue
            with self._lock:
                self._status[vid] = {"state": "extracting", "done": 0, "total": None}

            def progress(done: int, total: int, vid: str = vid) -> None:
                with self._lock:
                    if self._stopped:
                        raise _Interrupted(vid)
                    now = time.monotonic()
                    if not self._wanted(vid, now) and self._next_wanted(now) is not None:
                        self._queue.insert(0, vid)  # no page waits for it: first of the rest, from the start
                        self._status[vid] = {"state": "queued"}
                        raise _Interrupted(vid)
                    self._status[vid] = {"state": "extracting", "done": done, "total": total}

            try:
                features = self.extract(self.video_path(vid), progress)
                from glancevad.fileio import write_npy

                write_npy(self.cache / f"{vid}.npy", features)
                scores = self._score(features, self.cache / f"{vid}.npy")
                with self._lock:
                    self._scores[vid] = scores
                    self._status[vid] = {"state": "ready"}
            except _Interrupted:
                continue
            except Exception as exc:  # any failure of one video: the page says why, the others go on
                message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                with self._lock:
                    self._status[vid] = {"state": "failed", "message": message}

    # -- scores ----------------------------------------------------------------------------------

    def _features_file(self, video_id: str):
        from glancevad.data.feature_files import FeatureIndex

        if self.features is not None and video_id in self.features:
            return self.features.locate(video_id)
        if (self.cache / f"{video_id}.npy").is_file():
            return FeatureIndex(self.cache).locate(video_id)
        return None

    def _score(self, features: np.ndarray, where: Path) -> np.ndarray:
        self.inferencer.check_dim(features.shape[-1], where)
        with self._model_lock:
            return self.inferencer.score(features)

    def snippet_scores(self, video_id: str) -> tuple[np.ndarray | None, dict[str, Any]]:
        """``(snippet scores or None, status)``; status ``state`` is ready, queued, extracting or failed."""
        from glancevad.data.feature_files import load_features

        with self._lock:
            if video_id in self._scores:
                return self._scores[video_id], {"state": "ready"}
            status = self._status.get(video_id)
        try:
            files = self._features_file(video_id)
            if files is None:
                return None, dict(status or {"state": "failed", "message": f"no features for {video_id}"})
            scores = self._score(load_features(files), files.paths[0])
        except GlanceVADError as exc:
            failed = {"state": "failed", "message": str(exc)}
            with self._lock:
                self._status[video_id] = failed
            return None, dict(failed)
        with self._lock:
            self._scores[video_id] = scores
            self._status[video_id] = {"state": "ready"}
        return scores, {"state": "ready"}

    def scored_count(self) -> int:
        """How many videos have scores so far (the video list's "unglanced" order changes with it)."""
        with self._lock:
            return len(self._scores)

    def events(self, video_id: str, scores: np.ndarray, frames: int, fps: float) -> list[Event]:
        """The events (peaks: :data:`~glancevad.assist.peaks.PEAKS` by default) of ``frames`` frames at ``fps``.

        Kept per video: a video's scores never change while the server runs, and the video list
        asks for every video's events on each request.
        """
        key = (video_id, frames, fps)
        with self._lock:
            found = self._events.get(key)
        if found is None:
            found = self.inferencer.find_events(scores, frames, fps)[1]
            with self._lock:
                self._events[key] = found
        return found

    def video(self, video_id: str, frames: int, fps: float, *, opened: bool = False) -> dict[str, Any]:
        """What ``GET /api/videos/{id}/scores`` answers: status, snippet scores and peaks.

        ``opened``: the page has just opened the video (:meth:`request`); otherwise it polls, which keeps
        the video wanted and never reorders or interrupts an extraction.
        """
        if opened:
            self.request(video_id)
        else:
            with self._lock:
                self._asked[video_id] = time.monotonic()
        scores, status = self.snippet_scores(video_id)
        if scores is not None and (problem := self.length_problem(video_id, len(scores), frames)):
            scores, status = None, {"state": "failed", "message": problem}
        if scores is None:
            return {**status, "scores": None, "peaks": []}
        peaks = [{"frame": e.peak_frame, "score": e.peak_score, "start": e.start_frame, "end": e.end_frame}
                 for e in self.events(video_id, scores, frames, fps)]
        return {**status, "scores": [round(float(s), 5) for s in scores], "frames_per_snippet": FRAMES_PER_SNIPPET,
                "peaks": peaks}

    def priority(self, video_id: str, frames: int, fps: float, glances: list[int]) -> float | None:
        """The highest score of a peak with no glance near it (0: none); ``None`` while not scored."""
        with self._lock:
            scores = self._scores.get(video_id)
        if scores is None or self.length_problem(video_id, len(scores), frames):
            return None
        return unglanced_priority(self.events(video_id, scores, frames, fps), glances, near=self.near)

    # -- what the user is told at start-up ------------------------------------------------------

    def length_problem(self, video_id: str, snippets: int, frames: int) -> str | None:
        """Why ``snippets`` feature rows do not fit the ``frames`` frames of ``video_id``, naming the file."""
        problem = snippet_count_problem(snippets, frames)
        if problem is None:
            return None
        files = self._features_file(video_id)
        where = files.paths[0] if files is not None else video_id
        return f"{where}: {problem}; not scored (features of another video, frame rate or snippet length?)"

    def check_videos(self, frames: dict[str, int]) -> list[str]:
        """Problems to tell the user before serving, one line each, for videos of ``{id: frame count}``.

        Feature files whose snippet count does not fit their video (read from the files' headers),
        and, when the network cannot take I3D's features, how many videos have no feature file.
        """
        from glancevad.data.feature_files import feature_shape

        problems = []
        missing = []
        for vid, count in sorted(frames.items()):
            files = self._features_file(vid)
            if files is None:
                missing.append(vid)
                continue
            try:
                snippets = feature_shape(files)[0]
            except GlanceVADError as exc:
                problems.append(str(exc))
                continue
            if problem := self.length_problem(vid, snippets, count):
                problems.append(problem)
        if missing and self.cannot_extract is not None:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            problems.append(f"{len(missing)} video(s) have no feature file and will not be scored ({shown}):"
                            f" {self.cannot_extract}")
        return problems

    def settings(self) -> dict[str, Any]:
        """What the page needs to know about the model."""
        return {"checkpoint": self.checkpoint.name, "model": self.inferencer.name,
                "threshold": self.inferencer.events.threshold,
                "near": self.near}
