"""The video folder the annotation tool serves: probed with PyAV, known by id, never by path.

Browsers play few formats (H.264, VP8/VP9, AV1 in MP4 or WebM). Any other video gets a *proxy*:
an H.264 MP4 beside the database with every frame of the original at a constant rate and a
keyframe every second, so that frame ``i`` of the proxy is frame ``i`` of the original (checked
after encoding) and seeking stays fast. Glances always refer to the original's frames.

The page maps the browser's media time to a frame through the presentation times of the file it
plays (probed here, packet by packet), so variable frame rates and non-zero start times are exact.
A symbolic link is served when it resolves inside the folder and refused otherwise; ids a URL
cannot carry (empty, ``.``, ``..``) are refused. Both are reported at start-up.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

from glancevad.annotate.store import GlanceStore, NotFound, VideoRecord
from glancevad.constants import VIDEO_SUFFIXES
from glancevad.errors import DataError, GlanceVADError
from glancevad.features.video import VideoInfo, encode_mp4, iter_frames, nominal_rate, open_video, probe

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


def frame_times(path: str | os.PathLike) -> tuple[list[float], list[float | None]]:
    """Presentation time (s) of every frame of ``path`` in display order, and where to seek to show it.

    Packets are read, not decoded. Timestamps are the container's, as browsers' media time reports
    them (a first frame stamped at 2.0 s stays at 2.0 s); a file whose first timestamp is negative
    is shifted to start at 0, as players do. Frame ``f``'s seek target is the middle of its own
    display interval, from its timestamp to the next frame's: Chromium shows it after a plain seek
    there at any rate, variable ones too (measured: every frame of the variable-rate test video,
    whose frames' nominal durations overlap the next frames, is reached this way). ``None``: two
    frames share one timestamp, so no seek can tell the second from the first.
    """
    import av

    path = Path(path)
    container = open_video(path)
    try:
        stream = container.streams.video[0]
        packets = [(packet.pts, packet.duration) for packet in container.demux(stream) if packet.size > 0]
        rate = nominal_rate(stream) or 25.0
        base = stream.time_base
    except av.FFmpegError as exc:
        raise DataError(f"{path}: cannot be read to the end ({exc})") from None
    finally:
        container.close()
    if not packets:
        raise DataError(f"{path}: no frames")
    if any(pts is None for pts, _ in packets) or base is None:  # no timestamps (some AVI): a constant rate
        times = [i / rate for i in range(len(packets))]
        return [round(t, 6) for t in times], [round(t + 0.5 / rate, 6) for t in times]
    stamped = sorted((float(pts * base), float((duration or 0) * base)) for pts, duration in packets)
    shift = min(stamped[0][0], 0.0)
    times = [t - shift for t, _ in stamped]
    seeks: list[float | None] = []
    for f, (start, (_, duration)) in enumerate(zip(times, stamped, strict=True)):
        following = times[f + 1] if f + 1 < len(times) else start + (duration or 1 / rate)
        seeks.append(round((start + following) / 2, 6) if start < following else None)
    return [round(t, 6) for t in times], seeks


def unservable_id(video_id: str) -> str | None:
    """Why ``video_id`` cannot be served (``None``: it can): URLs normalise ``.`` and ``..`` away."""
    if not video_id.strip():
        return "its id is empty"
    if video_id in (".", ".."):
        return f"its id {video_id!r} cannot appear in a URL"
    return None


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
    ``None``). Unreadable files, links leading out of the folder and ids no URL can carry are
    reported and left out. ``on_video(id, what)`` reports progress.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise GlanceVADError(f"{folder}: {'not a folder' if folder.exists() else 'video folder not found'}")
    root = folder.resolve()
    seen: dict[str, Path] = {}
    problems: list[str] = []
    unreadable = 0
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()):
        video_id = path.stem
        if not path.resolve().is_relative_to(root):
            problems.append(f"{path}: a link to {path.resolve()}, outside the video folder (copy the file in)")
            continue
        if reason := unservable_id(video_id):
            problems.append(f"{path}: {reason} (rename the file)")
            continue
        if video_id in seen:
            raise GlanceVADError(f"two videos share the id {video_id!r}: {seen[video_id]} and {path}")
        seen[video_id] = path
        stat = path.stat()
        relative = path.relative_to(folder).as_posix()
        known = store.video_stat(video_id)
        if known == (relative, stat.st_size, stat.st_mtime_ns) and _proxy_ready(store, video_id, proxies):
            continue
        try:
            times, seeks = frame_times(path)
            info = dataclasses.replace(probe(path), frames=len(times))
            proxy = None
            if proxies is not None and not browser_playable(info.codec, path):
                if on_video is not None:
                    on_video(video_id, f"making a browser copy of {info.codec} video")
                proxy = make_proxy(info, Path(proxies) / f"{video_id}.mp4").name
                times, seeks = frame_times(Path(proxies) / proxy)
        except DataError as exc:
            problems.append(str(exc))
            unreadable += 1
            continue
        store.upsert_video(VideoRecord(video_id, relative, info.frames, info.fps, info.duration, info.width,
                                       info.height, info.codec, proxy), stat.st_size, stat.st_mtime_ns, times, seeks)
        if on_video is not None:
            on_video(video_id, "probed")
    return len(seen) - unreadable, problems


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
