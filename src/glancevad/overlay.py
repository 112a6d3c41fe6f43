"""A copy of a video with its anomaly score drawn on every frame (``glancevad detect --overlay``).

Frames are decoded, drawn on and encoded one at a time with PyAV (H.264 when the FFmpeg build has
it, else MPEG-4), so memory does not grow with the video; the file appears under its name only
once complete.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from glancevad.errors import DataError
from glancevad.features.video import frame_rate_fraction, probe
from glancevad.fileio import atomic_write

_STRIP = 36  # height of the score strip below the picture, in pixels


def _codec() -> str:
    import av

    return next(c for c in ("libx264", "h264", "mpeg4") if c in av.codec.codecs_available)


def _draw(frame: np.ndarray, index: int, scores: np.ndarray, threshold: float) -> np.ndarray:
    """The frame with a strip under it: the score curve so far, a cursor, and the current value."""
    from PIL import Image, ImageDraw

    height, width = frame.shape[:2]
    canvas = Image.new("RGB", (width, height + _STRIP), (20, 20, 20))
    canvas.paste(Image.fromarray(frame), (0, 0))
    draw = ImageDraw.Draw(canvas)
    alarm = scores[index] >= threshold
    if alarm:
        draw.rectangle([0, 0, width - 1, height - 1], outline=(230, 30, 30), width=4)
    xs = np.linspace(0, width - 1, len(scores))
    ys = height + _STRIP - 4 - scores * (_STRIP - 8)
    draw.line([(float(xs[0]), float(height + _STRIP - 4 - threshold * (_STRIP - 8))),
               (float(xs[-1]), float(height + _STRIP - 4 - threshold * (_STRIP - 8)))], fill=(110, 110, 110))
    points = list(zip(xs[: index + 1].tolist(), ys[: index + 1].tolist(), strict=True))
    if len(points) > 1:
        draw.line(points, fill=(240, 200, 40), width=2)
    draw.line([(float(xs[index]), height), (float(xs[index]), height + _STRIP)], fill=(255, 255, 255))
    label = f"frame {index}  score {scores[index]:.2f}" + ("  ANOMALY" if alarm else "")
    draw.text((6, 4), label, fill=(230, 30, 30) if alarm else (255, 255, 255))
    return np.asarray(canvas)


def write_overlay(video: str | os.PathLike, out: str | os.PathLike, scores: np.ndarray, *, threshold: float) -> Path:
    """Write ``out`` (MP4): ``video`` at its own frame rate with ``scores`` (one per frame) drawn on."""
    import av

    from glancevad.features.video import iter_frames

    info = probe(video)
    out = Path(out)
    with atomic_write(out, "wb") as handle:
        container = av.open(handle, mode="w", format="mp4")
        stream = container.add_stream(_codec(), rate=frame_rate_fraction(info.fps))
        stream.width, stream.height = info.width + info.width % 2, info.height + _STRIP + (info.height % 2)
        stream.pix_fmt = "yuv420p"
        for index, rgb in enumerate(iter_frames(video, short_side=None)):
            if index >= len(scores):
                break
            picture = _draw(rgb, index, scores, threshold)
            picture = np.pad(picture, ((0, stream.height - picture.shape[0]), (0, stream.width - picture.shape[1]),
                                       (0, 0)))
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        container.close()
    if out.stat().st_size == 0:
        raise DataError(f"{out}: no frames written")
    return out
