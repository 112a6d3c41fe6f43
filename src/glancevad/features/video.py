"""Reading videos with PyAV: probing, and frame-by-frame decoding into fixed-length snippets.

Memory is bounded by one snippet of resized frames whatever the video's length: frames are
decoded one at a time, resized at once, and kept only until the snippet they belong to is full.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from glancevad.constants import FRAMES_PER_SNIPPET
from glancevad.errors import DataError

SHORT_SIDE = 256


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video's first video stream."""

    path: Path
    width: int
    height: int
    fps: float
    frames: int
    duration: float
    codec: str = ""

    def snippets(self, stack: int, step: int, fps: float | None = None) -> int:
        """Number of whole snippets of ``stack`` frames taken every ``step`` frames (an estimate for VFR)."""
        frames = self.frames if fps is None else int(self.duration * fps)
        return 0 if frames < stack else (frames - stack) // step + 1


def open_video(path: str | os.PathLike):
    """An open PyAV container of ``path`` with at least one video stream (the caller closes it).

    Every reader of a video file opens it here, so a folder, a missing file, an unreadable file and
    a file without video are each one :class:`DataError` naming the path.
    """
    import av

    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a video file")
    if not path.is_file():
        raise DataError(f"{path}: video not found")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable video ({exc})") from None
    if not container.streams.video:
        container.close()
        raise DataError(f"{path}: has no video stream")
    return container


def nominal_rate(stream) -> float:
    """The frame rate a PyAV video stream states (average, else guessed, else base rate); 0.0 if none."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


def probe(path: str | os.PathLike, *, count: bool = False) -> VideoInfo:
    """Size, frame rate, frame count and duration of ``path``.

    The container's frame count is used when it states one; otherwise (or with ``count=True``) the
    packets are counted, which reads the file but decodes nothing.
    """
    import av

    path = Path(path)
    container = open_video(path)
    try:
        stream = container.streams.video[0]
        fps = nominal_rate(stream)
        frames = int(stream.frames or 0)
        if count or frames <= 0:
            try:
                frames = sum(1 for packet in container.demux(stream) if packet.size > 0)
            except av.FFmpegError as exc:
                raise DataError(f"{path}: cannot be read to the end ({exc})") from None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        else:
            duration = frames / fps if fps else 0.0
        if fps <= 0 and duration > 0:
            fps = frames / duration
        width, height = stream.codec_context.width, stream.codec_context.height
        codec = stream.codec_context.name
    finally:
        container.close()
    if fps <= 0:
        raise DataError(f"{path}: frame rate unknown")
    return VideoInfo(path, width, height, fps, frames, duration, codec)


def resized_size(width: int, height: int, short_side: int = SHORT_SIDE) -> tuple[int, int]:
    """(width, height) with the shorter side scaled to ``short_side`` and the aspect ratio kept."""
    if width <= height:
        return short_side, max(short_side, round(height * short_side / width))
    return max(short_side, round(width * short_side / height)), short_side


def resize_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of one ``(H, W, 3)`` uint8 frame to ``size`` = (width, height).

    Half-pixel centres without antialiasing, as OpenCV's ``INTER_LINEAR`` with which the field's
    features were made.
    """
    import torch  # here: probing, decoding and encoding (the annotation tool) need no torch
    import torch.nn.functional as F

    width, height = size
    if frame.shape[1] == width and frame.shape[0] == height:
        return frame
    x = torch.from_numpy(frame).permute(2, 0, 1)[None].float()
    y = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=False)
    return y[0].permute(1, 2, 0).round_().clamp_(0, 255).to(torch.uint8).numpy()


def iter_frames(
    path: str | os.PathLike, *, fps: float | None = None, short_side: int | None = SHORT_SIDE
) -> Iterator[np.ndarray]:
    """RGB frames ``(H, W, 3)`` uint8 in display order, short side resized to ``short_side``.

    ``fps=None`` keeps every decoded frame (the native rate, as the field does); otherwise frames are
    picked by their timestamps to approximate ``fps`` (also right for variable-frame-rate video).
    A file that breaks off mid-stream raises :class:`DataError` naming it.
    """
    import av

    path = Path(path)
    container = open_video(path)
    try:
        yield from decode_frames(container, fps=fps, short_side=short_side)
    except av.FFmpegError as exc:
        raise DataError(f"{path}: decoding failed ({exc})") from None
    finally:
        container.close()


def decode_frames(container, *, fps: float | None = None, short_side: int | None = SHORT_SIDE) -> Iterator[np.ndarray]:
    """The frames of an open PyAV container's first video stream, as :func:`iter_frames` gives them.

    Decoding errors (``av.FFmpegError``) propagate; the caller owns the container.
    """
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    next_slot = 0
    size: tuple[int, int] | None = None
    for frame in container.decode(stream):
        if fps is not None:
            time = frame.time if frame.time is not None else 0.0
            slot = math.floor(time * fps + 1e-6)
            if slot < next_slot:
                continue
            next_slot = slot + 1
        rgb = frame.to_ndarray(format="rgb24")
        if short_side is not None:
            size = size or resized_size(rgb.shape[1], rgb.shape[0], short_side)
            rgb = resize_frame(rgb, size)
        yield rgb


def iter_snippets(
    frames: Iterator[np.ndarray], *, stack: int = FRAMES_PER_SNIPPET, step: int = FRAMES_PER_SNIPPET
) -> Iterator[tuple[int, np.ndarray]]:
    """``(first frame index, (stack, H, W, 3) array)`` for every whole window; trailing frames are dropped."""
    if stack < 1 or step < 1:
        raise ValueError("stack and step must be positive")
    window: deque[np.ndarray] = deque(maxlen=stack)
    for index, frame in enumerate(frames):
        window.append(frame)
        first = index - stack + 1
        if first >= 0 and first % step == 0:
            yield first, np.stack(window)


def frame_rate_fraction(fps: float) -> Fraction:
    """A frame rate as a small fraction (29.97 → 30000/1001) for encoders."""
    return Fraction(fps).limit_denominator(1001)


def encode_mp4(path: str | os.PathLike, frames: Iterable[np.ndarray], *, fps: float, keyframe_every: int = 0) -> int:
    """Encode RGB frames into an H.264 MP4 (MPEG-4 if the FFmpeg build lacks H.264), atomically.

    Frame ``i`` is shown at ``i / fps`` (constant frame rate), so a frame's index survives the
    re-encoding. Odd sizes are padded by one black row/column (yuv420p needs even sizes);
    ``keyframe_every`` > 0 bounds the keyframe interval (cheap seeking). Returns the frame count.
    """
    import av

    from glancevad.fileio import atomic_write

    codec = next(c for c in ("libx264", "h264", "mpeg4") if c in av.codec.codecs_available)
    count = 0
    with atomic_write(path, "wb") as handle:
        container = av.open(handle, mode="w", format="mp4")
        stream = None
        for rgb in frames:
            if stream is None:
                stream = container.add_stream(codec, rate=frame_rate_fraction(fps))
                stream.width, stream.height = rgb.shape[1] + rgb.shape[1] % 2, rgb.shape[0] + rgb.shape[0] % 2
                stream.pix_fmt = "yuv420p"
                if keyframe_every > 0:
                    stream.codec_context.gop_size = keyframe_every
            if rgb.shape[:2] != (stream.height, stream.width):
                rgb = np.pad(rgb, ((0, stream.height - rgb.shape[0]), (0, stream.width - rgb.shape[1]), (0, 0)))
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
                container.mux(packet)
            count += 1
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
        container.close()
    if count == 0:
        Path(path).unlink(missing_ok=True)
        raise DataError(f"{path}: no frames to write")
    return count
