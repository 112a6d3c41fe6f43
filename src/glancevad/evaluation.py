"""``glancevad test``: a checkpoint scored on a dataset's test split, offline or causally, with its metrics.

Scoring goes through :class:`~glancevad.inference.Inferencer` as in every other command; this
module writes what ``test`` leaves in its folder (``scores.json``, ``metrics.json``, plots) and the
offline-against-causal comparison of ``test --window``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from glancevad.causal import check_window
from glancevad.data.dataset import VADDataset, load_dataset
from glancevad.data.feature_files import feature_shape
from glancevad.data.scores import write_scores
from glancevad.fileio import atomic_write, write_json
from glancevad.inference import Inferencer
from glancevad.metrics import METRIC_NAMES, evaluate_scores
from glancevad.plots import plot_score_curves


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    data_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    device: torch.device | str = "auto",
    precision: str = "fp32",
    plots: int = 4,
    window: int | None = None,
    lookahead: int = 0,
    on_start: Callable[[int], None] | None = None,
    on_video: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score every test video (all crops, averaged) and write ``scores.json``, ``metrics.json`` and plots.

    Offline by default; with ``window`` causally, as ``glancevad watch`` scores a stream (the
    window and ``lookahead`` are recorded in ``metrics.json``). ``on_start(number_of_videos)`` is
    called once the dataset is read, ``on_video(id)`` after each. Returns the metrics (empty when
    the dataset has no ground truth).
    """
    out_dir = Path(out_dir)
    inferencer = Inferencer.load(checkpoint, device=device, precision=precision)
    dataset = load_dataset(data_root)
    inferencer.check_dim(feature_shape(dataset.feature_index("test").locate(dataset.test[0].id))[2], data_root)
    if on_start is not None:
        on_start(len(dataset.test))
    # one video at a time, memory-mapped: the resident size does not grow with the test set
    videos = ((v.id, dataset.load_features(v, expected_dim=inferencer.in_dim, mmap=True)) for v in dataset.test)
    scores = inferencer.score_videos(videos, window=window, lookahead=lookahead, on_video=on_video)
    write_scores(out_dir / "scores.json", scores)
    metrics: dict[str, Any] = {}
    if dataset.ground_truth is not None:
        metrics = evaluate_scores(scores, dataset.ground_truth, frames_per_snippet=dataset.frames_per_snippet)
        scoring = {} if window is None else {"causal_window": window, "lookahead": lookahead}
        write_json(out_dir / "metrics.json", {**metrics, "checkpoint": str(checkpoint), "step": inferencer.loaded.step,
                                              "videos": len(scores), "precision": inferencer.resolved_precision,
                                              **scoring})
    _plot_examples(out_dir / "plots", dataset, scores, plots)
    return metrics


def companion_last(checkpoint: str | os.PathLike) -> Path | None:
    """The run's ``last.pt`` when ``checkpoint`` is the ``best.pt`` of a run folder, else ``None``."""
    checkpoint = Path(checkpoint)
    last = checkpoint.with_name("last.pt")
    return last if checkpoint.name == "best.pt" and last.is_file() else None


def evaluate_best_and_last(
    checkpoint: str | os.PathLike, data_root: str | os.PathLike, out_dir: str | os.PathLike, **options: Any
) -> dict[str, dict[str, Any]]:
    """Test ``checkpoint`` into ``out_dir`` and, for a run's ``best.pt``, its ``last.pt`` into ``out_dir/last``.

    So that a reader sees what selection did. Returns ``{"best.pt": metrics, "last.pt": metrics}``
    (keys by file name; only the given one for any other checkpoint). ``options`` as for
    :func:`evaluate_checkpoint`.
    """
    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    results = {checkpoint.name: evaluate_checkpoint(checkpoint, data_root, out_dir, **options)}
    last = companion_last(checkpoint)
    if last is not None:
        results[last.name] = evaluate_checkpoint(last, data_root, out_dir / "last", **options)
    return results


def _plot_examples(folder: Path, dataset: VADDataset, scores: dict[str, np.ndarray], count: int) -> None:
    """Curves of the ``count - 1`` test videos with most anomalous frames, plus one normal video."""
    if count <= 0:
        return
    gt = dataset.ground_truth or {}
    for vid in dataset.example_test_videos(max(count - 1, 1)):
        plot_score_curves(folder / f"{vid}.png", vid, {"score": scores[vid]}, labels=gt.get(vid))


def causal_comparison(checkpoint: str | os.PathLike, data_root: str | os.PathLike, out: str | os.PathLike,
                      windows: Sequence[int], *, lookahead: int = 0, device: torch.device, precision: str = "fp32",
                      on_window: Callable[[str], None] | None = None) -> dict[str, dict[str, float]]:
    """Test metrics of ``checkpoint`` scored offline and causally with each window: ``{"offline": m, "W=8": m, ...}``.

    Each scoring goes to its own folder under ``out`` (``offline/``, ``causal-w8/`` ...: scores.json,
    metrics.json); the comparison to ``out/causal.json`` and ``out/causal.md``.
    """
    for window in windows:
        check_window(window, lookahead)
    out = Path(out)
    rows = {"offline": evaluate_checkpoint(checkpoint, data_root, out / "offline", device=device,
                                           precision=precision, plots=0)}
    if on_window is not None:
        on_window("offline")
    for window in windows:
        rows[f"W={window}"] = evaluate_checkpoint(checkpoint, data_root, out / f"causal-w{window}", device=device,
                                                  precision=precision, plots=0, window=window, lookahead=lookahead)
        if on_window is not None:
            on_window(f"W={window}")
    write_json(out / "causal.json", {"checkpoint": str(checkpoint), "lookahead": lookahead, "metrics": rows})
    lines = ["| scoring | " + " | ".join(METRIC_NAMES) + " |", "|" + " --- |" * (len(METRIC_NAMES) + 1)]
    lines += [f"| {name} | " + " | ".join(f"{100 * m[k]:.2f}" for k in METRIC_NAMES) + " |" for name, m in rows.items()]
    with atomic_write(out / "causal.md", "w", encoding="utf-8") as handle:
        handle.write(f"{checkpoint}, lookahead {lookahead}\n\n" + "\n".join(lines) + "\n")
    return rows
