"""A dataset root in the official GlanceVAD layout (section 1 of the reference notes).

```
<root>/<name>.training.csv        <root>/<name>.testing.csv
<root>/<name>_ground_truth.json   <root>/<...glance...>.csv
<root>/i3d/train/<vid>[__<c>].npy <root>/i3d/test/<vid>[__<c>].npy
```

Normal/abnormal is derived from the data, never from positions in a list: an explicit ``label``
column wins; otherwise a training video with glances is abnormal and one whose id matches the
normal-id pattern is normal; a test video is abnormal when its ground truth has an anomalous frame.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glancevad.constants import FRAMES_PER_SNIPPET, NORMAL_ID_PATTERN
from glancevad.data.feature_files import FeatureIndex, feature_shape, load_features
from glancevad.data.groundtruth import GroundTruth, read_ground_truth
from glancevad.data.lengths import read_frame_counts
from glancevad.data.lists import VideoList, read_video_list
from glancevad.errors import DataError
from glancevad.glance.io import Glances, read_glances

_LIST_SUFFIX = {"train": ".training.csv", "test": ".testing.csv"}


@dataclass(frozen=True)
class Video:
    """One video of a split: its id, class (1 = abnormal) and glance frames (training only)."""

    id: str
    split: str
    label: int
    glances: tuple[int, ...] = ()


@dataclass
class VADDataset:
    """The videos of both splits with their labels, glances and ground truth; features on demand."""

    root: Path
    name: str
    videos: dict[str, list[Video]]
    ground_truth: GroundTruth | None
    glance_csv: Path | None
    feature_root: Path
    frames_per_snippet: int = FRAMES_PER_SNIPPET
    _indexes: dict[str, FeatureIndex] = field(default_factory=dict, repr=False)

    @property
    def train(self) -> list[Video]:
        return self.videos["train"]

    @property
    def test(self) -> list[Video]:
        return self.videos["test"]

    def feature_index(self, split: str) -> FeatureIndex:
        """The (cached) index of ``<feature_root>/<split>``, its file names read against the split's ids."""
        if split not in self._indexes:
            self._indexes[split] = FeatureIndex(self.feature_root / split, ids=(v.id for v in self.videos[split]))
        return self._indexes[split]

    def example_test_videos(self, abnormal: int) -> list[str]:
        """Ids of the ``abnormal`` test videos with the most anomalous frames, then the first normal one.

        The videos every score figure shows (``test``'s plots, ``compare``, ``report``); a video
        without ground truth counts as having no anomalous frame.
        """
        gt = self.ground_truth or {}
        ranked = sorted((v for v in self.test if v.label), key=lambda v: -int(gt[v.id].sum()) if v.id in gt else 0)
        return [v.id for v in ranked[:abnormal]] + [v.id for v in self.test if not v.label][:1]

    def load_features(
        self, video: Video, *, expected_dim: int | None = None, mmap: bool = False
    ) -> np.ndarray:
        """``float32 [T, crops, D]`` features of a video, validated (see ``load_features``)."""
        files = self.feature_index(video.split).locate(video.id)
        features = load_features(files, expected_dim=expected_dim, mmap=mmap)
        check_glances_in_range(video, features.shape[0], self.frames_per_snippet, files.paths[0])
        return features


def check_glances_in_range(video: Video, num_snippets: int, frames_per_snippet: int, where) -> None:
    """A glance must fall inside the ``frames_per_snippet * T`` frames the features cover."""
    limit = frames_per_snippet * num_snippets
    beyond = [g for g in video.glances if g >= limit]
    if beyond:
        raise DataError(
            f"{where}: video {video.id}: glance frame {beyond[0]} is beyond the video's "
            f"{limit} frames ({frames_per_snippet} x T={num_snippets})"
        )


def _one(root: Path, pattern: str, what: str, required: bool = True) -> Path | None:
    found = sorted(root.glob(pattern))
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise DataError(f"{root}: several {what} files ({names}); name one explicitly")
    if not found and required:
        raise DataError(f"{root}: no {what} file ({pattern})")
    return found[0] if found else None


def _training_labels(
    listing: VideoList, glances: Glances, normal_pattern: re.Pattern, glance_csv: Path | None
) -> dict[str, int]:
    labels = {}
    for vid in listing.ids:
        looks_normal = bool(normal_pattern.search(vid))
        if listing.labels is not None:
            labels[vid] = listing.labels[vid]
            if labels[vid] == 0 and vid in glances:
                raise DataError(f"{glance_csv}: video {vid} has glances but is labelled normal")
        elif vid in glances:
            if looks_normal:
                raise DataError(
                    f"{glance_csv}: video {vid} has glances but its id marks a normal video"
                )
            labels[vid] = 1
        elif looks_normal:
            labels[vid] = 0
        elif glances:
            # A dataset with glances: an unglanced, non-normal id is an abnormal video whose
            # glances are missing; say so rather than guess.
            raise DataError(
                f"{listing.path}: video {vid} has no glance and its id is not a normal id "
                f"(pattern {normal_pattern.pattern!r}); add a glance or a 'label' column"
            )
        else:
            labels[vid] = 1
    return labels


def load_dataset(
    root: str | os.PathLike,
    *,
    glance_csv: str | os.PathLike | None = None,
    features: str = "i3d",
    normal_pattern: str = NORMAL_ID_PATTERN,
    frames_per_snippet: int = FRAMES_PER_SNIPPET,
) -> VADDataset:
    """Read lists, glances and ground truth of a dataset root and cross-check them.

    Features are not read here (see ``VADDataset.load_features``). Errors: a glance on a video
    that is not in the training list, a ground-truth entry for an unlisted video, a test video
    without ground truth, and any malformed file.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found")
    train_list = _one(root, "*.training.csv", "training list")
    name = train_list.name[: -len(_LIST_SUFFIX["train"])]
    lists = {
        "train": read_video_list(train_list),
        "test": read_video_list(root / f"{name}{_LIST_SUFFIX['test']}"),
    }
    glance_path = Path(glance_csv) if glance_csv else _one(root, "*glance*.csv", "glance CSV", False)
    glances = read_glances(glance_path) if glance_path else {}
    unknown = [vid for vid in glances if vid not in set(lists["train"].ids)]
    if unknown:
        raise DataError(
            f"{glance_path}: video {unknown[0]} has glances but is not in {train_list.name}"
            + (f" ({len(unknown) - 1} more)" if len(unknown) > 1 else "")
        )
    gt_path = root / f"{name}_ground_truth.json"
    ground_truth = read_ground_truth(gt_path) if gt_path.exists() else None
    pattern = re.compile(normal_pattern)
    train_labels = _training_labels(lists["train"], glances, pattern, glance_path)
    videos = {
        "train": [Video(v, "train", train_labels[v], glances.get(v, ())) for v in lists["train"].ids]
    }
    test_ids = lists["test"].ids
    if ground_truth is not None:
        extra = [vid for vid in ground_truth if vid not in set(test_ids)]
        if extra:
            raise DataError(f"{gt_path}: video {extra[0]} is not in {name}.testing.csv")
        missing = [vid for vid in test_ids if vid not in ground_truth]
        if missing:
            raise DataError(f"{gt_path}: test video {missing[0]} has no ground truth")
        test_labels = {vid: int(ground_truth[vid].any()) for vid in test_ids}
    elif lists["test"].labels is not None:
        test_labels = lists["test"].labels
    else:
        test_labels = {vid: int(not pattern.search(vid)) for vid in test_ids}
    videos["test"] = [Video(v, "test", test_labels[v]) for v in test_ids]
    return VADDataset(
        root=root,
        name=name,
        videos=videos,
        ground_truth=ground_truth,
        glance_csv=glance_path,
        feature_root=root / features,
        frames_per_snippet=frames_per_snippet,
    )


def training_key(dataset: VADDataset) -> str:
    """What makes two dataset roots the same training set wherever they lie: each training video's
    id, label, glances and feature shape ``(T, crops, D)`` (file headers only). A moved or copied
    dataset keeps its key; a resumed run compares it with the one it recorded."""
    digest = hashlib.sha256()
    index = dataset.feature_index("train")
    for video in dataset.train:
        digest.update(f"{video.id}|{video.label}|{video.glances}|{feature_shape(index.locate(video.id))}".encode())
    return digest.hexdigest()[:16]


def frame_counts(
    *, data: str | os.PathLike | None = None, lengths: str | os.PathLike | None = None,
    frames_per_snippet: int = FRAMES_PER_SNIPPET, split: str = "train",
) -> dict[str, int] | None:
    """Frame counts per video from a lengths file, else from a dataset root (``16 T`` of each
    video's feature file in ``split``), else ``None``."""
    if lengths is not None:
        return read_frame_counts(lengths, frames_per_snippet=frames_per_snippet)
    if data is None:
        return None
    dataset = load_dataset(data, frames_per_snippet=frames_per_snippet)
    index = dataset.feature_index(split)
    return {video.id: frames_per_snippet * feature_shape(index.locate(video.id))[0] for video in dataset.videos[split]}
