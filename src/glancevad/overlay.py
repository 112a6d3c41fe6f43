"""A copy of a video with its anomaly score drawn on every frame (``glancevad detect --overlay``).

Frames are decoded, drawn on and encoded one at a time with PyAV (see
:func:`~glancevad.features.video.encode_mp4`), so memory does not grow with the video; the file
appears under its name only once complete.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from glancevad.features.video import encode_mp4, iter_frames

_STRIP = 36  # height of the score strip below the picture, in pixels


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


def write_overlay(video: str | os.PathLike, out: str | os.PathLike, scores: np.ndarray, *, threshold: float,
                  fps: float) -> Path:
    """Write ``out`` (MP4): ``video`` at ``fps`` (its own rate) with ``scores`` (one per frame) drawn on."""
    frames = iter_frames(video, short_side=None)
    drawn = (_draw(rgb, index, scores, threshold) for index, rgb in zip(range(len(scores)), frames, strict=False))
    encode_mp4(out, drawn, fps=fps)
    return Path(out)
