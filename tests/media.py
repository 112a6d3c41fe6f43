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


def _encode(path: Path, codec: str, rate: Fraction | int, pix_fmt: str, frames: list[np.ndarray],
            seconds: list[float] | None, time_base: Fraction = Fraction(1, 1000)) -> Path:
    """Encode RGB ``frames`` shown at ``seconds`` (``None``: every ``1/rate``) into ``path``."""
    container = av.open(str(path), mode="w")
    stream = container.add_stream(codec, rate=rate)
    stream.height, stream.width = frames[0].shape[:2]
    stream.pix_fmt = pix_fmt
    if seconds is not None:
        stream.codec_context.time_base = time_base
    for i, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        if seconds is not None:
            frame.pts, frame.time_base = round(seconds[i] / time_base), time_base
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def write_video(path: Path, count: int, *, width: int = 320, height: int = 240, fps: int = 25,
                codec: str = "mpeg4", times: list[float] | None = None) -> Path:
    """Encode a moving-square video; ``times`` (seconds per frame) makes its frame rate variable."""
    return _encode(path, codec, fps, "yuv420p" if codec != "ffv1" else "yuv444p",
                   moving_square_frames(count, width, height), times)


BARCODE_BITS, BARCODE_BLOCK = 10, 16


def barcode_frame(number: int, *, width: int = 192, height: int = 48) -> np.ndarray:
    """An RGB frame showing ``number`` as a row of big black (0) / white (1) blocks, least bit first.

    The blocks are :data:`BARCODE_BLOCK` pixels wide, so they survive lossy compression; pages read
    them back from the centre of each block (x = 8 + 16·i + 8, y = height / 2).
    """
    frame = np.full((height, width, 3), 128, np.uint8)
    for bit in range(BARCODE_BITS):
        x = 8 + BARCODE_BLOCK * bit
        frame[8 : height - 8, x : x + BARCODE_BLOCK] = 255 if number >> bit & 1 else 0
    return frame


def write_numbered_video(path: Path, rate: Fraction, count: int, *, start: float = 0.0,
                         times: list[float] | None = None) -> Path:
    """An H.264 MP4 whose frame ``i`` shows ``i`` as a bar code (:func:`barcode_frame`).

    Frames are ``1/rate`` apart from ``start`` seconds on, or at ``times`` (variable frame rate).
    """
    frames = [barcode_frame(i) for i in range(count)]
    if times is not None:
        return _encode(path, "libx264", rate, "yuv420p", frames, times)
    return _encode(path, "libx264", rate, "yuv420p", frames, [start + i / rate for i in range(count)], 1 / rate)


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
