"""A checkpoint's snippet scores on a dataset split or a feature folder, and what ``propose`` / ``select`` make of them.

The thin I/O layer over :mod:`glancevad.assist.peaks` and :mod:`glancevad.assist.ranking`: it loads
the network, checks that its input dimension matches the features (one error naming both before
any video is scored) and scores every video at its own length.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from glancevad.assist.peaks import MERGE_GAP_S, MIN_EVENT_S, THRESHOLD, find_peaks
from glancevad.constants import FRAMES_PER_SNIPPET
from glancevad.errors import GlanceVADError
from glancevad.events import frame_scores
from glancevad.glance.io import Glances

#: Frame rate assumed for feature files whose video is not at hand (detect's default).
DEFAULT_FPS = 30.0


def snippet_count_problem(snippets: int, frames: int, *, frames_per_snippet: int = FRAMES_PER_SNIPPET) -> str | None:
    """Why ``snippets`` feature rows do not belong to a video of ``frames`` frames (``None``: they do).

    A video of ``frames`` frames makes ``frames // frames_per_snippet`` whole snippets; one more is
    accepted too (extractors that keep the last, partial snippet). Anything else is features of
    another video or of another frame rate or snippet length, whose scores would land on the wrong
    frames if stretched over the video.

    >>> snippet_count_problem(25, 400) is None, snippet_count_problem(26, 401) is None
    (True, True)
    >>> snippet_count_problem(17, 400)
    '17 snippets of features, but the video has 400 frames (25 snippets of 16 frames)'
    """
    whole = frames // frames_per_snippet
    if snippets in (whole, -(-frames // frames_per_snippet)):
        return None
    return (f"{snippets} snippets of features, but the video has {frames} frames"
            f" ({whole} snippets of {frames_per_snippet} frames)")


def score_features(
    checkpoint: str | os.PathLike, *, data: str | os.PathLike | None = None, features: str | os.PathLike | None = None,
    split: str = "train", abnormal_only: bool = False, device: str = "auto", precision: str = "fp32",
    on_start: Callable[[int], None] | None = None, on_video: Callable[[str], None] | None = None,
) -> dict[str, np.ndarray]:
    """``{video id: snippet scores (T,)}`` of the videos of ``data``'s ``split`` or of the ``features`` folder.

    Exactly one of ``data`` (a dataset root in the official layout) and ``features`` (a folder of
    ``<id>.npy`` / ``<id>__<crop>.npy`` files) is given; ``abnormal_only`` keeps the dataset's
    abnormal videos.
    """
    from glancevad.data.dataset import load_dataset
    from glancevad.data.feature_files import FeatureIndex, feature_shape, load_features
    from glancevad.inference import Inferencer

    if (data is None) == (features is None):
        raise GlanceVADError("give either --data ROOT or --features DIR")
    inferencer = Inferencer.load(checkpoint, device=device, precision=precision)
    if data is not None:
        dataset = load_dataset(data)
        if split not in ("train", "test"):
            raise GlanceVADError(f"split must be train or test, got {split!r}")
        videos = [v for v in dataset.videos[split] if v.label or not abnormal_only]
        index = dataset.feature_index(split)
        ids = [v.id for v in videos]
        where: Path = index.directory
    else:
        index = FeatureIndex(features)
        ids = index.video_ids()
        where = Path(features)
    if not ids:
        raise GlanceVADError(f"{where}: no videos to score")
    inferencer.check_dim(feature_shape(index.locate(ids[0]))[2], where)
    if on_start is not None:
        on_start(len(ids))
    stream = ((vid, load_features(index.locate(vid), expected_dim=inferencer.in_dim)) for vid in ids)
    return inferencer.score_videos(stream, on_video=on_video)


def propose_glances(
    scores: Mapping[str, np.ndarray], *, fps: float = DEFAULT_FPS, threshold: float = THRESHOLD,
    min_event: float = MIN_EVENT_S, merge_gap: float = MERGE_GAP_S, frames_per_snippet: int = FRAMES_PER_SNIPPET,
) -> Glances:
    """One glance per predicted event at its peak frame, per video (videos without events are left out).

    ``scores`` are snippet scores ``(T,)``; each covers ``frames_per_snippet`` frames.
    """
    out: Glances = {}
    for vid, snippet in scores.items():
        per_frame = frame_scores(snippet, len(snippet) * frames_per_snippet, frames_per_snippet=frames_per_snippet)
        peaks = find_peaks(per_frame, fps, threshold=threshold, min_event=min_event, merge_gap=merge_gap)
        if peaks:
            out[vid] = tuple(p.peak_frame for p in peaks)
    return out
