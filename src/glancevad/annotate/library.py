"""The video folder the annotation tool serves: probed with PyAV, known by id, never by path."""

from __future__ import annotations

import os
from pathlib import Path

from glancevad.annotate.store import GlanceStore, NotFound, VideoRecord
from glancevad.errors import DataError, GlanceVADError
from glancevad.features.extract import VIDEO_SUFFIXES
from glancevad.features.video import probe


def scan_videos(folder: str | os.PathLike, store: GlanceStore) -> tuple[int, list[str]]:
    """Probe every video under ``folder`` whose size or mtime changed; returns (videos, problems).

    A video's id is its file name without the suffix, as in the official glance CSVs; two files
    with one id are an error. Frame counts are exact (packets counted), since glances are frame
    numbers. Unreadable files are reported and left out.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise GlanceVADError(f"{folder}: video folder not found")
    seen: dict[str, Path] = {}
    problems: list[str] = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()):
        video_id = path.stem
        if video_id in seen:
            raise GlanceVADError(f"two videos share the id {video_id!r}: {seen[video_id]} and {path}")
        seen[video_id] = path
        stat = path.stat()
        relative = path.relative_to(folder).as_posix()
        if store.video_stat(video_id) == (relative, stat.st_size, stat.st_mtime_ns):
            continue
        try:
            info = probe(path, count=True)
        except DataError as exc:
            problems.append(str(exc))
            continue
        if info.frames <= 0:
            problems.append(f"{path}: no frames")
            continue
        store.upsert_video(VideoRecord(video_id, relative, info.frames, info.fps, info.duration, info.width,
                                       info.height), stat.st_size, stat.st_mtime_ns)
    return len(seen) - len(problems), problems


def video_file(folder: str | os.PathLike, store: GlanceStore, video_id: str) -> Path:
    """The file of ``video_id``, guaranteed to lie inside ``folder`` (else :class:`NotFound`)."""
    root = Path(folder).resolve()
    path = (root / store.video(video_id).path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFound(f"unknown video {video_id!r}")
    return path
