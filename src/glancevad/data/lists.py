"""Video lists: ``<dataset>.training.csv`` / ``.testing.csv`` with a ``video-id`` column.

An optional ``label`` column (``0``/``1`` or ``normal``/``abnormal``) states each video's class;
without it the class is derived from the glances and the ids (see ``glancevad.data.dataset``).
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

from glancevad.errors import DataError
from glancevad.fileio import atomic_write
from glancevad.parsing import read_table

_LABEL_WORDS = {"0": 0, "1": 1, "normal": 0, "abnormal": 1}

_VIDEO_SUFFIX = re.compile(r"\.(mp4|avi|mkv|mov|webm|mpg|mpeg|m4v)$", re.IGNORECASE)


def normalise_video_name(name: str) -> str:
    """Drop a class folder and a video-file suffix: ``Arson/Arson022_x264.mp4`` -> ``Arson022_x264``."""
    return _VIDEO_SUFFIX.sub("", name.replace("\\", "/").rsplit("/", 1)[-1])


@dataclass(frozen=True)
class VideoList:
    """The ids of one split in file order, with explicit labels where the file gives them."""

    path: Path
    ids: tuple[str, ...]
    labels: dict[str, int] | None = None


def read_video_list(path: str | os.PathLike) -> VideoList:
    """Read a list CSV; duplicate ids and unknown label values are errors naming the line."""
    path = Path(path)
    rows = read_table(path, required=["video-id"], optional=["label"], what="video list")
    ids: list[str] = []
    labels: dict[str, int] = {}
    seen: dict[str, int] = {}
    for line, row in rows:
        vid = row["video-id"]
        if vid in seen:
            raise DataError(f"{path}: line {line}: video {vid} already listed on line {seen[vid]}")
        seen[vid] = line
        ids.append(vid)
        if "label" in row:
            word = row["label"].lower()
            if word not in _LABEL_WORDS:
                raise DataError(
                    f"{path}: line {line}: video {vid}: label {row['label']!r} is not one of "
                    "0, 1, normal, abnormal"
                )
            labels[vid] = _LABEL_WORDS[word]
    if not ids:
        raise DataError(f"{path}: video list has no videos")
    return VideoList(path=path, ids=tuple(ids), labels=labels or None)


def write_video_list(path: str | os.PathLike, ids: list[str]) -> Path:
    """Write a list CSV in the official form (header ``video-id``) atomically."""
    with atomic_write(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["video-id"])
        writer.writerows([vid] for vid in ids)
    return Path(path)
