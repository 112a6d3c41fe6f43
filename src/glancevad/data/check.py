"""``glancevad data check``: validate every file of a dataset root, one video at a time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from glancevad.data.dataset import VADDataset, Video
from glancevad.errors import DataError


@dataclass
class SplitSummary:
    """What one split holds: class counts, snippet counts T and crop/dimension tallies."""

    normal: int = 0
    abnormal: int = 0
    lengths: list[int] = field(default_factory=list)
    crops: Counter = field(default_factory=Counter)
    dims: Counter = field(default_factory=Counter)
    glances_per_video: list[int] = field(default_factory=list)


@dataclass
class CheckReport:
    """The result of checking a dataset: per-split summaries and every problem found."""

    dataset: VADDataset
    splits: dict[str, SplitSummary]
    errors: list[str]

    @property
    def ok(self) -> bool:
        return not self.errors


def _videos(dataset: VADDataset) -> Iterable[Video]:
    yield from dataset.train
    yield from dataset.test


def check_dataset(
    dataset: VADDataset,
    *,
    expected_dim: int | None = None,
    max_errors: int = 50,
    on_video: Callable[[Video], None] | None = None,
) -> CheckReport:
    """Load and validate each video's features in turn (never all at once).

    Checks per video: crop files present and consistent, dimension (``expected_dim`` or the
    the majority's), finite values, T > 0, glances within ``frames_per_snippet * T`` and ground-truth
    length equal to ``frames_per_snippet * T``; across videos: one crop count and one dimension.
    """
    splits = {name: SplitSummary() for name in ("train", "test")}
    errors: list[str] = []
    shape_of: dict[str, tuple[int, int]] = {}
    for video in _videos(dataset):
        summary = splits[video.split]
        if video.label:
            summary.abnormal += 1
        else:
            summary.normal += 1
        if video.label and video.split == "train":
            summary.glances_per_video.append(len(video.glances))
        try:
            features = dataset.load_features(video, expected_dim=expected_dim)
            num_snippets, crops, dim = features.shape
            del features
            shape_of[video.id] = (crops, dim)
            summary.lengths.append(num_snippets)
            summary.crops[crops] += 1
            summary.dims[dim] += 1
            gt = dataset.ground_truth.get(video.id) if dataset.ground_truth else None
            expected = dataset.frames_per_snippet * num_snippets
            if gt is not None and len(gt) != expected:
                raise DataError(
                    f"{dataset.root}: video {video.id}: ground truth has {len(gt)} frame labels, "
                    f"features cover {expected} ({dataset.frames_per_snippet} x T={num_snippets})"
                )
        except DataError as exc:
            if len(errors) < max_errors:
                errors.append(str(exc))
            elif len(errors) == max_errors:
                errors.append("... (further errors not shown)")
        if on_video is not None:
            on_video(video)
    for axis, what in ((0, "crop count"), (1, "feature dimension")):
        errors.extend(_minority_errors(dataset, {v: s[axis] for v, s in shape_of.items()}, what))
    return CheckReport(dataset=dataset, splits=splits, errors=errors)


def _minority_errors(dataset: VADDataset, values: dict[str, int], what: str) -> list[str]:
    """One error naming the videos whose ``what`` differs from the majority's, if any do."""
    tally = Counter(values.values())
    if len(tally) < 2:
        return []
    majority = tally.most_common(1)[0][0]
    odd = [vid for vid, value in values.items() if value != majority]
    hint = " (crop files missing?)" if what == "crop count" else ""
    return [
        f"{dataset.root}: video {odd[0]} has {what} {values[odd[0]]}, most videos have "
        f"{majority}{hint}; {len(odd)} video(s) differ: {', '.join(odd[:5])}"
    ]


def describe(values: list[int]) -> str:
    """``min / median / mean / max`` of a list of counts, or ``-`` when empty."""
    if not values:
        return "-"
    arr = np.asarray(values)
    return f"{arr.min()} / {np.median(arr):g} / {arr.mean():.2f} / {arr.max()}"
