"""Read and write the official glance CSV (header ``video-id,glance``; glance = frame index)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from glancevad.fileio import atomic_write
from glancevad.parsing import parse_int, read_table

#: Video id -> sorted, distinct glance frame indices.
Glances = dict[str, tuple[int, ...]]


def read_glances(path: str | os.PathLike) -> Glances:
    """Read a glance CSV in file order of first appearance.

    A glance at frame 0 is a valid glance (the released loader drops such videos: a defect).
    Repeated rows for the same frame collapse into one glance.
    """
    rows = read_table(path, required=["video-id", "glance"], what="glance CSV")
    frames: dict[str, set[int]] = {}
    for line, row in rows:
        frame = parse_int(row["glance"], path=path, line=line, field="glance")
        frames.setdefault(row["video-id"], set()).add(frame)
    return {vid: tuple(sorted(values)) for vid, values in frames.items()}


def format_glances(glances: Mapping[str, Sequence[int]]) -> str:
    """The official CSV text of ``glances``: videos in the given order, each frame once, sorted."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["video-id", "glance"])
    for vid, values in glances.items():
        writer.writerows([vid, frame] for frame in sorted({int(v) for v in values}))
    return buffer.getvalue()


def write_glances(path: str | os.PathLike, glances: Mapping[str, Sequence[int]]) -> Path:
    """Write glances as the official CSV (see :func:`format_glances`) atomically."""
    with atomic_write(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(format_glances(glances))
    return Path(path)
