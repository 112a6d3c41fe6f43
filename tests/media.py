"""Synthetic test videos written with PyAV: a bright square moving over a gradient."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def moving_square_frames(count: int, width: int, height: int) -> list[np.ndarray]:
    """``count`` RGB frames in which a square crosses the picture from left to right."""
    ys, xs = np.mgrid[0:height, 0:width]
    background = np.stack([xs * 255 // max(width - 1, 1), ys * 255 // max(height - 1, 1),
                           np.full_like(xs, 60)], axis=-1).astype(np.uint8)
    side = max(4, min(width, height) // 5)
    frames = []
    for i in range(count):
        frame = background.copy()
        x = int((width - side) * i / max(count - 1, 1))
        y = (height - side) // 2
        frame[y : y + side, x : x + side] = (250, 250, 250)
        frames.append(frame)
    return frames


def write_video(path: Path, count: int, *, width: int = 320, height: int = 240, fps: int = 25,
                codec: str = "mpeg4", times: list[float] | None = None) -> Path:
    """Encode a moving-square video; ``times`` (seconds per frame) makes its frame rate variable."""
    container = av.open(str(path), mode="w")
    stream = container.add_stream(codec, rate=fps)
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p" if codec != "ffv1" else "yuv444p"
    if times is not None:
        stream.codec_context.time_base = Fraction(1, 1000)
    for i, rgb in enumerate(moving_square_frames(count, width, height)):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        if times is not None:
            frame.pts = int(round(times[i] * 1000))
            frame.time_base = Fraction(1, 1000)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def event_frames(count: int, event: tuple[int, int], *, width: int = 320, height: int = 240,
                 seed: int = 0) -> list[np.ndarray]:
    """A still gradient, with a white square jumping about during frames ``event[0] <= i < event[1]``."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    background = np.stack([xs * 200 // max(width - 1, 1), ys * 200 // max(height - 1, 1),
                           np.full_like(xs, 60)], axis=-1).astype(np.uint8)
    side = min(width, height) // 3
    frames = []
    for i in range(count):
        frame = background.copy()
        if event[0] <= i < event[1]:
            y, x = rng.integers(0, height - side), rng.integers(0, width - side)
            frame[y : y + side, x : x + side] = 255
        frames.append(frame)
    return frames


def encode_frames(frames: list[np.ndarray], handle, *, fps: int = 25, format: str = "mpegts",
                  codec: str = "mpeg4") -> None:
    """Mux RGB frames into ``handle`` (a path or a binary file object); MPEG-TS can be read while written."""
    container = av.open(handle, mode="w", format=format)
    stream = container.add_stream(codec, rate=fps)
    stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
    stream.pix_fmt = "yuv420p"
    for rgb in frames:
        for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
