"""``glancevad detect``: where in a new video are the anomalies? (The offline orchestrator.)

A video (or its features) is scored by a checkpoint, offline or causally; the snippet scores become
events by :mod:`glancevad.events` (frame scores, threshold, merge gap, minimum length), which are
written as JSON, CSV and a PNG, with an optional scored copy of the video.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from glancevad.constants import FRAMES_PER_SNIPPET
from glancevad.data.feature_files import write_features
from glancevad.errors import DataError, GlanceVADError
from glancevad.events import DEFAULTS, Event, EventSettings
from glancevad.fileio import atomic_write, check_output, save_figure, write_json


def write_events(out_dir: str | os.PathLike, video_id: str, events: list[Event], summary: dict) -> tuple[Path, Path]:
    """``<id>.events.json`` (summary + events) and ``<id>.events.csv``."""
    out_dir = Path(out_dir)
    json_path = write_json(out_dir / f"{video_id}.events.json", {**summary, "events": [asdict(e) for e in events]})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(Event.__dataclass_fields__))
    for event in events:
        writer.writerow(list(asdict(event).values()))
    csv_path = out_dir / f"{video_id}.events.csv"
    with atomic_write(csv_path, "w", encoding="utf-8") as handle:
        handle.write(buffer.getvalue())
    return json_path, csv_path


def plot_detection(path: str | os.PathLike, video_id: str, scores: np.ndarray, fps: float, events: list[Event],
                   threshold: float) -> Path:
    """PNG of the per-frame score over time with the events shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 2.8))
    seconds = np.arange(len(scores)) / fps
    for i, event in enumerate(events):
        ax.axvspan(event.start_s, event.end_s, color="tab:red", alpha=0.2, lw=0, label="event" if i == 0 else None)
    ax.plot(seconds, scores, lw=1.3, label="anomaly score")
    ax.axhline(threshold, color="grey", lw=0.7, ls="--", label=f"threshold {threshold:g}")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(0, max(seconds[-1], 1e-3))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("score")
    ax.set_title(f"{video_id}: {len(events)} event(s)", fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def load_feature_file(path: str | os.PathLike) -> np.ndarray:
    """``[T, crops, D]`` (or ``[T, D]``, one crop) features from one ``.npy`` file."""
    from glancevad.data.feature_files import read_npy_header

    shape, _ = read_npy_header(Path(path))
    if len(shape) not in (2, 3) or shape[0] == 0:
        raise DataError(f"{path}: expected features of shape [T, crops, D] or [T, D], found {list(shape)}")
    features = np.load(path, allow_pickle=False).astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(features).reshape(len(features), -1).all(axis=1))
    if len(bad):
        raise DataError(f"{path}: snippet {bad[0]} holds NaN or infinite values ({len(bad)} such snippet(s))")
    return features[:, None] if features.ndim == 2 else features


def run_detection(
    video: str | os.PathLike | None,
    checkpoint: str | os.PathLike,
    *,
    features: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    threshold: float = DEFAULTS.threshold,
    min_event: float = DEFAULTS.min_event,
    merge_gap: float = DEFAULTS.merge_gap,
    overlay: str | os.PathLike | None = None,
    fps: float | None = None,
    crops: int | None = None,
    weights: str = "rgb_scratch",
    device: str = "auto",
    precision: str = "fp32",
    batch: int = 1,
    window: int | None = None,
    lookahead: int = 0,
    on_start: Callable[[int], None] | None = None,
    on_snippet: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Extract (unless ``features`` is given), score, find events, and write them; see ``glancevad detect``.

    With ``window`` the snippets are scored causally, as ``glancevad watch`` scores them
    (:func:`glancevad.causal.causal_scores`: the last ``window`` snippets, ``lookahead`` snippets late).

    Returns ``{"events": [Event], "frame_scores": array, "paths": [written files]}``.
    """
    from glancevad.causal import check_window
    from glancevad.features.video import probe
    from glancevad.inference import Inferencer

    if overlay is not None and video is None:
        raise GlanceVADError("--overlay needs the VIDEO")
    # checks the values, naming the option (an fps of 0 is an error, not 'the default')
    settings = EventSettings(threshold, min_event, merge_gap, DEFAULTS.fps if fps is None else fps)
    video_id = Path(video if video is not None else features).stem.removesuffix(".features")
    out_dir = Path(out) if out is not None else Path("runs") / "detect" / video_id
    check_output(out_dir, kind="folder")
    if overlay is not None:
        check_output(overlay, kind="file")
    if window is not None:
        check_window(window, lookahead)
    inferencer = Inferencer.load(checkpoint, device=device, precision=precision, crops=crops, weights=weights,
                                 events=settings)
    info = probe(video) if video is not None else None
    paths: list[Path] = []
    if features is not None:
        x = load_feature_file(features)
        inferencer.check_dim(x.shape[2], features)
        num_frames = info.frames if info is not None else x.shape[0] * FRAMES_PER_SNIPPET
    else:
        extractor = inferencer.extractor(batch=batch)
        if on_start is not None:
            on_start(info.snippets(extractor.settings.stack, extractor.settings.step))
        x = extractor.video(video, on_snippet)
        num_frames = extractor.frames_read
        # the stacked layout in a features/ folder: what `detect --features`, `annotate --features`
        # and a dataset's feature folder all read
        paths.extend(write_features(out_dir / "features", video_id, x, "stacked"))
    if window is None:
        snippet_scores = inferencer.score(x)
    else:
        snippet_scores = inferencer.score_causally(x, window=window, lookahead=lookahead)
    if fps is None:
        fps = info.fps if info is not None and info.fps else DEFAULTS.fps
    per_frame, events = inferencer.find_events(snippet_scores, num_frames, fps)
    summary = {
        "video": str(video) if video is not None else None, "features": str(features) if features else None,
        "checkpoint": str(checkpoint), "model": inferencer.name, "frames": int(num_frames), "fps": fps,
        "snippets": int(x.shape[0]), "crops": int(x.shape[1]), "frames_per_snippet": FRAMES_PER_SNIPPET,
        "threshold": threshold, "min_event_s": min_event, "merge_gap_s": merge_gap,
        "precision": inferencer.resolved_precision,
        "scoring": "offline" if window is None else {"causal_window": window, "lookahead": lookahead},
    }
    paths.extend(write_events(out_dir, video_id, events, summary))
    paths.append(write_frame_scores(out_dir / f"{video_id}.frame_scores.csv", per_frame, fps))
    paths.append(plot_detection(out_dir / f"{video_id}.scores.png", video_id, per_frame, fps, events, threshold))
    if overlay is not None:
        from glancevad.overlay import write_overlay

        paths.append(write_overlay(video, overlay, per_frame, threshold=threshold, fps=info.fps))
    return {"events": events, "frame_scores": per_frame, "paths": paths}


def write_frame_scores(path: str | os.PathLike, scores: np.ndarray, fps: float) -> Path:
    """CSV ``frame,seconds,score`` with one row per frame."""
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write("frame,seconds,score\n")
        for frame, score in enumerate(scores):
            handle.write(f"{frame},{frame / fps:.3f},{score:.6f}\n")
    return Path(path)
