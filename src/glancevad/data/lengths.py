"""Per-video lengths from side files: snippet counts T and frame counts.

Accepted sources:

* a CSV with ``video-id`` and ``num_snippets_T`` and/or ``num_frames``
  (like ``shared/data/*/test_lengths.csv``);
* a whitespace-separated ``name n_frames`` text file (UCF-Crime's ``Train_Annotation.txt``);
  names may carry a class folder and a ``.mp4`` suffix.
"""

from __future__ import annotations

import os
from pathlib import Path

from glancevad.constants import FRAMES_PER_SNIPPET
from glancevad.data.lists import normalise_video_name
from glancevad.errors import DataError
from glancevad.parsing import parse_int, read_table, read_text


def read_snippet_counts(path: str | os.PathLike) -> dict[str, int]:
    """Snippet counts T from a CSV with ``video-id`` and ``num_snippets_T`` (T >= 1)."""
    rows = read_table(path, required=["video-id", "num_snippets_T"], what="lengths CSV")
    return {
        row["video-id"]: parse_int(
            row["num_snippets_T"], path=path, line=line, field="num_snippets_T", minimum=1
        )
        for line, row in rows
    }


def read_frame_counts(
    path: str | os.PathLike, *, frames_per_snippet: int = FRAMES_PER_SNIPPET
) -> dict[str, int]:
    """Frame counts per video id from a lengths CSV or a ``name n_frames`` text file.

    A CSV with only ``num_snippets_T`` gives ``frames_per_snippet * T`` frames.
    """
    path = Path(path)
    text = read_text(path, what="lengths file")
    first = next((line for line in text.splitlines() if line.strip()), "")
    if "video-id" in first:
        rows = read_table(
            path, required=["video-id"], optional=["num_frames", "num_snippets_T"],
            what="lengths CSV",
        )
        out = {}
        for line, row in rows:
            if row.get("num_frames"):
                out[row["video-id"]] = parse_int(
                    row["num_frames"], path=path, line=line, field="num_frames", minimum=1
                )
            elif row.get("num_snippets_T"):
                out[row["video-id"]] = frames_per_snippet * parse_int(
                    row["num_snippets_T"], path=path, line=line, field="num_snippets_T", minimum=1
                )
            else:
                raise DataError(f"{path}: line {line}: neither num_frames nor num_snippets_T")
        return out
    out = {}
    for number, line in enumerate(text.splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) < 2:
            raise DataError(f"{path}: line {number}: expected 'name n_frames'")
        out[normalise_video_name(tokens[0])] = parse_int(
            tokens[1], path=path, line=number, field="n_frames", minimum=1
        )
    if not out:
        raise DataError(f"{path}: lengths file is empty")
    return out
