"""Loading a trained network from a checkpoint, and ``glancevad test``: score the test split."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from glancevad.data.dataset import load_dataset
from glancevad.data.features import feature_shape
from glancevad.data.scores import write_scores
from glancevad.engine.checkpoint import read_checkpoint
from glancevad.engine.evaluator import score_videos
from glancevad.errors import GlanceVADError
from glancevad.fileio import write_json
from glancevad.metrics import evaluate_scores
from glancevad.models import build, from_release, infer_from_state_dict, load_weights
from glancevad.plots import plot_score_curves
from glancevad.runtime import resolve_precision


@dataclass
class LoadedModel:
    """A network in eval mode with what is known about how it was trained."""

    model: nn.Module
    name: str
    in_dim: int
    crops: int | None
    config: dict[str, Any] | None
    step: int | None = None


def load_model(path: str | os.PathLike, *, device: torch.device | str = "cpu") -> LoadedModel:
    """Build the network of a glancevad checkpoint or of a bare state dict: the authors' UR-DMU, or
    a release whose key names a network maps (RTFM's)."""
    state = read_checkpoint(path)
    if "model_name" in state:
        name, kwargs = state["model_name"], dict(state["model_kwargs"])
    else:
        state["model_state"] = from_release(state["model_state"])
        try:
            name, kwargs = infer_from_state_dict(state["model_state"])
        except GlanceVADError as exc:
            raise GlanceVADError(f"{path}: {exc}") from None
    model = build(name, **kwargs)
    load_weights(model, state["model_state"], source=str(path))
    model.to(device).eval()
    return LoadedModel(model, name, int(kwargs.get("in_dim", 1024)), state.get("crops"), state.get("config"),
                       state.get("step"))


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    data_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    device: torch.device,
    precision: str = "fp32",
    plots: int = 4,
    score: Callable[..., dict[str, np.ndarray]] = score_videos,
    scoring: Mapping[str, Any] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_video: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score every test video (all crops, averaged) and write ``scores.json``, ``metrics.json`` and plots.

    ``score(model, videos, *, device, precision, on_video)`` scores the ``(id, [T, crops, D])``
    pairs: offline by default; :func:`glancevad.causal.causal_comparison` passes the causal scoring
    of ``glancevad watch``, and ``scoring`` (its window and lookahead) is recorded in ``metrics.json``.

    ``on_start(number_of_videos)`` is called once the dataset is read, ``on_video(id)`` after each.
    Returns the metrics (empty when the dataset has no ground truth).
    """
    out_dir = Path(out_dir)
    loaded = load_model(checkpoint, device=device)
    dataset = load_dataset(data_root)
    dim = feature_shape(dataset.feature_index("test").locate(dataset.test[0].id))[2]
    if dim != loaded.in_dim:
        raise GlanceVADError(f"{checkpoint}: the network expects {loaded.in_dim}-d features, {data_root} has {dim}-d")
    if on_start is not None:
        on_start(len(dataset.test))
    # one video at a time, memory-mapped: the resident size does not grow with the test set
    videos = ((v.id, dataset.load_features(v, expected_dim=loaded.in_dim, mmap=True)) for v in dataset.test)
    scores = score(loaded.model, videos, device=device, precision=precision, on_video=on_video)
    write_scores(out_dir / "scores.json", scores)
    metrics: dict[str, Any] = {}
    if dataset.ground_truth is not None:
        metrics = evaluate_scores(scores, dataset.ground_truth, frames_per_snippet=dataset.frames_per_snippet)
        write_json(out_dir / "metrics.json", {**metrics, "checkpoint": str(checkpoint), "step": loaded.step,
                                              "videos": len(scores), "precision": resolve_precision(precision, device),
                                              **(scoring or {})})
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


def _plot_examples(folder: Path, dataset, scores: dict[str, np.ndarray], count: int) -> None:
    """Curves of the ``count`` test videos with most anomalous frames, plus one normal video."""
    if count <= 0:
        return
    gt = dataset.ground_truth or {}
    abnormal = sorted((v for v in dataset.test if v.label), key=lambda v: -int(gt.get(v.id, np.zeros(1)).sum()))
    normal = [v for v in dataset.test if not v.label]
    for video in abnormal[: max(count - 1, 1)] + normal[:1]:
        plot_score_curves(folder / f"{video.id}.png", video.id, {"score": scores[video.id]}, labels=gt.get(video.id))
