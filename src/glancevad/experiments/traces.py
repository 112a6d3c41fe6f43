"""Values computed from finished runs' logs and data for the reports: the seed-mean mined share
over training and the share a perfect miner would reach. Pure reads; ``glancevad.report`` renders them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from glancevad.data.dataset import load_dataset
from glancevad.errors import GlanceVADError
from glancevad.fileio import read_jsonl


def grid_runs(grid_dir: Path, info: dict[str, Any]) -> dict[str, list[Path]]:
    """Each cell's run folders, one per seed (``grid.json``'s ``runs``; older grids: ``runs/<key>/seed<k>``)."""
    if info.get("runs"):
        return {key: [Path(p) for p in paths] for key, paths in info["runs"].items()}
    return {c["key"]: sorted((grid_dir / "runs" / c["key"]).glob("seed*")) for c in info["cells"]}


def grid_roots(info: dict[str, Any]) -> list[str]:
    """The data roots of a ``grid.json``: its one root, or every root of a grid that ``glancevad
    paper`` pooled over several (in order: each cell's first run is on the first root)."""
    data = info.get("data")
    return [] if not data else [str(root) for root in data] if isinstance(data, list) else [str(data)]


def logged_values(run: Path, key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, values)`` of one training value in a run's ``metrics.jsonl`` (empty when not logged)."""
    log = run / "metrics.jsonl"
    records = read_jsonl(log) if log.exists() else []
    pairs = [(r["step"], r[key]) for r in records if key in r]
    return np.array([s for s, _ in pairs], dtype=int), np.array([v for _, v in pairs], dtype=float)


def mined_share_traces(grid_dir: Path, info: dict[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per cell label: the logged steps and the seed mean of ``mined_share`` (steps all seeds logged;
    a batch without glance items, logged NaN, is left out of that step's mean)."""
    labels = {c["key"]: c["label"] for c in info["cells"]}
    traces = {}
    for key, runs in grid_runs(grid_dir, info).items():
        logs = [logged_values(run, "mined_share") for run in runs]
        logs = [(steps, values) for steps, values in logs if len(steps)]
        if not logs:
            continue
        by_step = [dict(zip(steps.tolist(), values, strict=True)) for steps, values in logs]
        common = sorted(set.intersection(*(set(seed) for seed in by_step)))
        stacked = np.array([[seed[s] for s in common] for seed in by_step])
        logged = np.sum(~np.isnan(stacked), axis=0)  # 0 at a step where no seed had a glance item: NaN
        mean = np.divide(np.nansum(stacked, axis=0), logged, out=np.full(len(common), np.nan), where=logged > 0)
        traces[labels.get(key, key)] = (np.array(common), mean)
    return traces


def true_anomalous_share(data: str | os.PathLike) -> float | None:
    """The mean share of anomalous frames in the abnormal training videos of ``data``, from its
    training ground truth (``<name>_train_ground_truth.json``, which ``glancevad synth`` writes);
    ``None`` when the dataset has none or cannot be read from here."""
    from glancevad.data.groundtruth import read_ground_truth

    try:
        dataset = load_dataset(data)
        path = dataset.root / f"{dataset.name}_train_ground_truth.json"
        if not path.is_file():
            return None
        shares = [labels.mean() for labels in read_ground_truth(path).values() if labels.any()]
    except GlanceVADError:
        return None
    return float(np.mean(shares)) if shares else None
