"""Frame-level ground truth: the official ``<dataset>_ground_truth.json`` and its construction.

Labels cover ``frames_per_snippet * T`` frames (the frames the snippet features see); intervals
from temporal annotations are end-exclusive and clipped to that length.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glancevad.constants import FRAMES_PER_SNIPPET
from glancevad.data.feature_files import FeatureIndex, feature_shape
from glancevad.data.lengths import read_snippet_counts
from glancevad.data.lists import normalise_video_name, read_video_list
from glancevad.errors import DataError
from glancevad.fileio import atomic_write
from glancevad.intervals import Interval
from glancevad.parsing import parse_int, read_json_object, read_text

#: Video id -> uint8 array of 0/1 frame labels.
GroundTruth = dict[str, np.ndarray]

def read_ground_truth(path: str | os.PathLike) -> GroundTruth:
    """Read ``{video-id: {"labels": [0/1 ...], "num_frames": n?}}``; validate every entry."""
    path = Path(path)
    data = read_json_object(path, what="ground-truth JSON", shape="video-id -> entry")
    out: GroundTruth = {}
    for vid, entry in data.items():
        labels = entry.get("labels") if isinstance(entry, dict) else None
        if not isinstance(labels, list):
            raise DataError(f'{path}: video {vid}: entry must be an object with a "labels" list')
        if not labels:
            raise DataError(f"{path}: video {vid}: labels are empty")
        if not all(type(v) in (int, float, bool) and v in (0, 1) for v in labels):
            raise DataError(f"{path}: video {vid}: labels must all be 0 or 1")
        num_frames = entry.get("num_frames")
        if num_frames is not None and (type(num_frames) is not int or num_frames < 0):
            raise DataError(f"{path}: video {vid}: num_frames {num_frames!r} is not a count")
        out[vid] = np.asarray(labels, dtype=np.uint8)
    return out


def write_ground_truth(path: str | os.PathLike, ground_truth: Mapping[str, np.ndarray]) -> Path:
    """Write the official ground-truth JSON atomically (``num_frames`` = label length)."""
    payload = {
        vid: {"labels": np.asarray(labels, dtype=np.uint8).tolist(), "num_frames": int(len(labels))}
        for vid, labels in ground_truth.items()
    }
    with atomic_write(path, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, separators=(",", ":"))
        handle.write("\n")
    return Path(path)


@dataclass(frozen=True)
class TemporalAnnotation:
    """One line of a temporal annotation file: a name as written there and its intervals."""

    name: str
    intervals: tuple[Interval, ...]
    num_frames: int | None = None
    line: int = 0


def _is_int(token: str) -> bool:
    return re.fullmatch(r"-?\d+", token) is not None


def _ucf_fields(tokens: list[str], path: Path, number: int) -> tuple[int | None, list[str]]:
    if len(tokens) < 2:
        raise DataError(f"{path}: line {number}: expected 'name n_frames Class s1 e1 ...'")
    return parse_int(tokens[0], path=path, line=number, field="n_frames"), tokens[2:]


def _xd_fields(tokens: list[str], path: Path, number: int) -> tuple[int | None, list[str]]:
    return None, tokens


@dataclass(frozen=True)
class AnnotationFormat:
    """A temporal annotation format: what it is, a line of it, how to recognise its first line and
    how to split a line's fields.

    ``fields(tokens after the name, path, line)`` returns ``(n_frames or None, interval tokens)``;
    the interval tokens are pairs ``start end`` (``-1 -1``: none), parsed the same for every format.
    """

    name: str
    description: str
    example: str
    looks_like: Callable[[list[str]], bool]
    fields: Callable[[list[str], Path, int], tuple[int | None, list[str]]]


#: The temporal annotation formats, in the order ``auto`` tries them (the last one accepts any
#: line). The one place a format is added; ``glancevad gt build --format`` reads the names here.
ANNOTATION_FORMATS: dict[str, AnnotationFormat] = {
    "ucf": AnnotationFormat("ucf", "UCF-Crime's temporal annotations of the test videos",
                            "Class/Name.mp4 n_frames Class s1 e1 s2 e2",
                            lambda t: len(t) >= 3 and _is_int(t[1]) and not _is_int(t[2]), _ucf_fields),
    "xd": AnnotationFormat("xd", "XD-Violence's annotations.txt of the test videos", "name s1 e1 [s2 e2 ...]",
                           lambda t: True, _xd_fields),
}


def detect_annotation_format(path: str | os.PathLike) -> str:
    """The name of the first format of ``ANNOTATION_FORMATS`` whose pattern the first line fits."""
    for raw in read_text(path, what="temporal annotation file").splitlines():
        tokens = raw.split()
        if tokens:
            return next(name for name, fmt in ANNOTATION_FORMATS.items() if fmt.looks_like(tokens))
    raise DataError(f"{path}: temporal annotation file is empty")


def read_temporal_annotations(
    path: str | os.PathLike, fmt: str = "auto"
) -> list[TemporalAnnotation]:
    """Parse a temporal annotation file in one of ``ANNOTATION_FORMATS`` (``auto``: detect it).

    UCF: ``Class/Name.mp4 n_frames Class s1 e1 s2 e2`` with ``-1 -1`` for "no interval".
    XD: ``name s1 e1 [s2 e2 ...]``. Frame indices; intervals are end-exclusive.
    """
    path = Path(path)
    if fmt == "auto":
        fmt = detect_annotation_format(path)
    if fmt not in ANNOTATION_FORMATS:
        raise DataError(f"annotation format {fmt!r} is not one of auto, {', '.join(ANNOTATION_FORMATS)}")
    split_fields = ANNOTATION_FORMATS[fmt].fields
    out = []
    for number, raw in enumerate(read_text(path, what="temporal annotation file").splitlines(), 1):
        tokens = raw.split()
        if not tokens:
            continue
        name = tokens[0]
        num_frames, rest = split_fields(tokens[1:], path, number)
        if len(rest) % 2:
            raise DataError(f"{path}: line {number}: video {name}: odd number of interval bounds")
        intervals = []
        for start_tok, end_tok in zip(rest[0::2], rest[1::2], strict=True):
            start = parse_int(start_tok, path=path, line=number, field="start", minimum=-1)
            end = parse_int(end_tok, path=path, line=number, field="end", minimum=-1)
            if start == -1 and end == -1:
                continue
            if start < 0 or end < 0 or end < start:
                raise DataError(
                    f"{path}: line {number}: video {name}: bad interval ({start}, {end})"
                )
            intervals.append((start, end))
        out.append(TemporalAnnotation(name, tuple(intervals), num_frames, number))
    if not out:
        raise DataError(f"{path}: temporal annotation file is empty")
    return out


def match_annotations(
    annotations: Iterable[TemporalAnnotation], ids: Iterable[str]
) -> tuple[dict[str, TemporalAnnotation], list[str]]:
    """Map list ids to annotations by normalised name; return ``(matched, unmatched names)``."""
    known = set(ids)
    matched: dict[str, TemporalAnnotation] = {}
    unmatched = []
    for ann in annotations:
        vid = normalise_video_name(ann.name)
        if vid not in known:
            unmatched.append(ann.name)
        elif vid in matched:
            raise DataError(f"video {vid} is annotated twice (lines {matched[vid].line} and {ann.line})")
        else:
            matched[vid] = ann
    return matched, unmatched


def interval_labels(
    intervals: Iterable[Interval], num_snippets: int, *, frames_per_snippet: int = FRAMES_PER_SNIPPET
) -> np.ndarray:
    """Frame labels of length ``frames_per_snippet * num_snippets``: 1 inside ``[s, e)``, clipped."""
    labels = np.zeros(frames_per_snippet * num_snippets, dtype=np.uint8)
    for start, end in intervals:
        labels[start:end] = 1
    return labels


def build_ground_truth(
    ids: Iterable[str],
    annotations: Mapping[str, TemporalAnnotation],
    lengths: Mapping[str, int],
    *,
    frames_per_snippet: int = FRAMES_PER_SNIPPET,
) -> GroundTruth:
    """Ground truth for every listed id; a video without annotation is normal (all zeros)."""
    out: GroundTruth = {}
    for vid in ids:
        if vid not in lengths:
            raise DataError(f"video {vid}: no snippet count T (not in the lengths source)")
        ann = annotations.get(vid)
        intervals = ann.intervals if ann else ()
        out[vid] = interval_labels(intervals, lengths[vid], frames_per_snippet=frames_per_snippet)
    return out


def ground_truth_from_annotations(
    annotations: str | os.PathLike, video_list: str | os.PathLike, *, fmt: str = "auto",
    lengths: str | os.PathLike | None = None, features: str | os.PathLike | None = None,
    frames_per_snippet: int = FRAMES_PER_SNIPPET,
) -> tuple[GroundTruth, list[str]]:
    """``glancevad gt build``: frame labels of every listed video from temporal annotations.

    The snippet counts T come from a lengths CSV (``lengths``) or from the feature files in the
    folder ``features`` (exactly one of them). Returns the ground truth and the annotation names
    that match no listed video.
    """
    if (lengths is None) == (features is None):
        raise DataError("give exactly one of --lengths and --features")
    ids = read_video_list(video_list).ids
    matched, unmatched = match_annotations(read_temporal_annotations(annotations, fmt), ids)
    if lengths is not None:
        counts = read_snippet_counts(lengths)
    else:
        index = FeatureIndex(features, ids=ids)
        counts = {vid: feature_shape(index.locate(vid))[0] for vid in ids}
    return build_ground_truth(ids, matched, counts, frames_per_snippet=frames_per_snippet), unmatched


def read_events(path: str | os.PathLike) -> dict[str, list[Interval]]:
    """``{video id: end-exclusive event intervals}`` from a ground-truth JSON or a temporal annotation file.

    A ``.json`` file is the official ground truth (events are its runs of 1s); any other file is
    read as a temporal annotation file (:data:`ANNOTATION_FORMATS`, detected), its names normalised
    to video ids. A video listed with no event is normal (``[]``).
    """
    from glancevad.intervals import label_intervals

    path = Path(path)
    if path.suffix.lower() == ".json":
        return {vid: label_intervals(labels) for vid, labels in read_ground_truth(path).items()}
    out: dict[str, list[Interval]] = {}
    for annotation in read_temporal_annotations(path):
        vid = normalise_video_name(annotation.name)
        if vid in out:
            raise DataError(f"{path}: line {annotation.line}: video {vid} is annotated twice")
        out[vid] = list(annotation.intervals)
    return out
