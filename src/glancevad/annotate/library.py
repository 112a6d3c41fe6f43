"""The video folder the annotation tool serves: probed with PyAV, known by id, never by path.

Browsers play few formats (H.264, VP8/VP9, AV1 in MP4 or WebM). Any other video gets a *proxy*:
an H.264 MP4 beside the database with every frame of the original at a constant rate and a
keyframe every second, so that frame ``i`` of the proxy is frame ``i`` of the original (checked
after encoding) and seeking stays fast. Glances always refer to the original's frames.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from glancevad.annotate.store import GlanceStore, NotFound, VideoRecord
from glancevad.constants import VIDEO_SUFFIXES
from glancevad.errors import DataError, GlanceVADError
from glancevad.features.video import VideoInfo, encode_mp4, iter_frames, probe

BROWSER_CODECS = {"h264", "vp8", "vp9", "av1"}
BROWSER_CONTAINERS = {".mp4", ".m4v", ".webm", ".mov"}


def browser_playable(codec: str, path: str | os.PathLike) -> bool:
    """Whether Chromium-class browsers play a file of ``codec`` with the suffix of ``path`` as it is."""
    return codec in BROWSER_CODECS and Path(path).suffix.lower() in BROWSER_CONTAINERS


def make_proxy(info: VideoInfo, target: Path) -> Path:
    """Re-encode ``info.path`` to ``target`` frame for frame; a frame-count mismatch is an error."""
    encode_mp4(target, iter_frames(info.path, short_side=None), fps=info.fps,
               keyframe_every=max(1, round(info.fps)))
    frames = probe(target, count=True).frames
    if frames != info.frames:
        target.unlink(missing_ok=True)
        raise DataError(f"{info.path}: the browser copy has {frames} frames, the original {info.frames}")
    return target


def scan_videos(
    folder: str | os.PathLike,
    store: GlanceStore,
    *,
    proxies: str | os.PathLike | None = None,
    on_video: Callable[[str, str], None] | None = None,
) -> tuple[int, list[str]]:
    """Probe every video under ``folder`` whose size or mtime changed; returns (videos, problems).

    A video's id is its file name without the suffix, as in the official glance CSVs; two files
    with one id are an error. Frame counts are exact (packets counted), since glances are frame
    numbers. Videos a browser cannot play get a proxy in ``proxies`` (none made when it is
    ``None``). Unreadable files are reported and left out. ``on_video(id, what)`` reports progress.
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
        known = store.video_stat(video_id)
        if known == (relative, stat.st_size, stat.st_mtime_ns) and _proxy_ready(store, video_id, proxies):
            continue
        try:
            info = probe(path, count=True)
            if info.frames <= 0:
                raise DataError(f"{path}: no frames")
            proxy = None
            if proxies is not None and not browser_playable(info.codec, path):
                if on_video is not None:
                    on_video(video_id, f"making a browser copy of {info.codec} video")
                proxy = make_proxy(info, Path(proxies) / f"{video_id}.mp4").name
        except DataError as exc:
            problems.append(str(exc))
            continue
        store.upsert_video(VideoRecord(video_id, relative, info.frames, info.fps, info.duration, info.width,
                                       info.height, info.codec, proxy), stat.st_size, stat.st_mtime_ns)
        if on_video is not None:
            on_video(video_id, "probed")
    return len(seen) - len(problems), problems


def _proxy_ready(store: GlanceStore, video_id: str, proxies: str | os.PathLike | None) -> bool:
    """A known video needs no work unless it should have a proxy that is missing."""
    record = store.video(video_id)
    if proxies is None or browser_playable(record.codec, record.path):
        return True
    return record.proxy is not None and (Path(proxies) / record.proxy).is_file()


def video_file(
    folder: str | os.PathLike, store: GlanceStore, video_id: str, proxies: str | os.PathLike | None = None
) -> Path:
    """The file to stream for ``video_id``: its proxy (inside ``proxies``) or the original (inside ``folder``)."""
    record = store.video(video_id)
    if record.proxy is not None and proxies is not None:
        root, name = Path(proxies).resolve(), record.proxy
    else:
        root, name = Path(folder).resolve(), record.path
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFound(f"unknown video {video_id!r}")
    return path
