"""Score files: JSON mapping video id -> list of snippet scores (one per 16-frame snippet)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from glancevad.errors import DataError
from glancevad.fileio import write_json
from glancevad.parsing import read_json_object


def read_scores(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a scores JSON; every value must be a non-empty list of finite numbers."""
    path = Path(path)
    data = read_json_object(path, what="scores JSON", shape="video-id -> list of scores")
    out = {}
    for vid, values in data.items():
        if (
            not isinstance(values, list)
            or not values
            or not all(
                type(v) in (int, float) and math.isfinite(v) for v in values
            )
        ):
            raise DataError(f"{path}: video {vid}: scores must be a non-empty list of numbers")
        out[vid] = np.asarray(values, dtype=np.float64)
    return out


def write_scores(path: str | os.PathLike, scores: Mapping[str, Sequence[float]]) -> Path:
    """Write per-video snippet scores as JSON atomically."""
    return write_json(
        path, {vid: [float(v) for v in values] for vid, values in scores.items()}, indent=None
    )
