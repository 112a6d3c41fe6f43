"""Side by side: the metrics and score curves of several ``glancevad test`` outputs (paper Fig. 5)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from glancevad.data.dataset import VADDataset
from glancevad.data.scores import read_scores
from glancevad.errors import GlanceVADError
from glancevad.plots import plot_score_curves


def read_test_results(folders: list[Path], names: list[str] | None = None) -> dict[str, dict]:
    """``{name: {"metrics": {...}, "scores": {...}}}`` for each test output folder.

    A folder holding ``last/`` (a run's best.pt tested with its last.pt) gives two entries,
    ``"<name> (best.pt)"`` and ``"<name> (last.pt)"``.
    """
    names = names or [folder.parent.name if folder.name.startswith("test") else folder.name for folder in folders]
    if len(names) != len(folders):
        raise GlanceVADError(f"{len(names)} names for {len(folders)} folders")
    out = {}
    for name, folder in zip(names, folders, strict=True):
        metrics_path = folder / "metrics.json"
        if not metrics_path.exists():
            raise GlanceVADError(f"{folder}: no metrics.json (run glancevad test --out {folder} first)")
        metrics = json.loads(metrics_path.read_text())
        last = folder / "last"
        if not (last / "metrics.json").exists():
            out[name] = {"metrics": metrics, "scores": read_scores(folder / "scores.json")}
            continue
        # a run's best.pt was tested with its last.pt beside it (glancevad test): show both
        out[f"{name} (best.pt)"] = {"metrics": metrics, "scores": read_scores(folder / "scores.json")}
        out[f"{name} (last.pt)"] = {"metrics": json.loads((last / "metrics.json").read_text()),
                                    "scores": read_scores(last / "scores.json")}
    return out


def plot_comparison(
    out_dir: str | os.PathLike, results: dict[str, dict], dataset: VADDataset, *, count: int = 4
) -> list[Path]:
    """One PNG per chosen test video: every result's scores over the ground truth."""
    gt = dataset.ground_truth or {}
    paths = []
    for vid in dataset.example_test_videos(max(count - 1, 1)):
        curves = {name: np.asarray(r["scores"][vid]) for name, r in results.items() if vid in r["scores"]}
        paths.append(plot_score_curves(Path(out_dir) / f"{vid}.png", vid, curves, labels=gt.get(vid)))
    return paths
