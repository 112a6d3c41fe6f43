"""Score curves: snippet scores over frames with ground truth shaded and glances marked (Fig. 5)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from glancevad.constants import FRAMES_PER_SNIPPET
from glancevad.fileio import save_figure
from glancevad.intervals import label_intervals


def plot_score_curves(
    path: str | os.PathLike,
    title: str,
    curves: Mapping[str, np.ndarray],
    *,
    labels: np.ndarray | None = None,
    glances: Sequence[int] = (),
    threshold: float | None = 0.5,
    frames_per_snippet: int = FRAMES_PER_SNIPPET,
) -> Path:
    """PNG of one video: each named snippet-score curve as a step over frames."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 2.8))
    if labels is not None:
        for start, end in label_intervals(labels):
            ax.axvspan(start, end, color="tab:red", alpha=0.15, lw=0)
    for name, scores in curves.items():
        frames = np.arange(len(scores) + 1) * frames_per_snippet
        ax.stairs(scores, frames, label=name, lw=1.5, baseline=None)
    for i, frame in enumerate(glances):
        ax.axvline(frame, color="black", ls=":", lw=1, label="glance" if i == 0 else None)
    if threshold is not None:
        ax.axhline(threshold, color="grey", lw=0.6, ls="--")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("frame")
    ax.set_ylabel("anomaly score")
    ax.set_title(title + ("  (shaded: ground truth)" if labels is not None else ""), fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def plot_mined_share(
    path: str | os.PathLike, title: str, traces: Mapping[str, tuple[np.ndarray, np.ndarray]], *,
    reference: float | None = None,
) -> Path:
    """PNG of the logged ``mined_share`` against the training step, one line per setting.

    ``traces`` maps a setting's label to ``(steps, shares)``. A share that climbs towards 1 is a
    mining runaway: the pseudo-labels spread over whole abnormal videos. ``reference``, when the
    data's training ground truth gives it, is the true anomalous share, drawn dashed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.2))
    for label, (steps, shares) in traces.items():
        ax.plot(steps, shares, lw=1.3, label=label)
    if reference is not None:
        ax.axhline(reference, color="black", ls="--", lw=1, label=f"true anomalous share ({reference:.2f})")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("training step")
    ax.set_ylabel("share of snippets")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=7, ncol=2)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def distance_range(distances_s: Sequence[float], within_s: float) -> tuple[float, float]:
    """The histogram range of matched glances' distances: ``(0, within_s)``, widened to the largest distance.

    Glances are matched within ``round(within_s * fps)`` frames, which can be a little more than
    ``within_s`` (2 s at 29.97 fps: 60 frames, 2.002 s); a range of ``(0, within_s)`` dropped those.

    >>> distance_range([0.5, 2.002], 2.0)
    (0.0, 2.002)
    """
    return 0.0, float(max(within_s, max(distances_s, default=0.0), 1e-9))


def plot_agreement(
    path: str | os.PathLike, annotators: Sequence[str], rates: Mapping[tuple[str, str], float],
    distances_s: Sequence[float], *, measure: str, within_s: float,
) -> Path:
    """PNG of a team's agreement: the pairwise ``rates`` as a matrix, and the matched glances' distances.

    ``rates[(a, b)]`` (``a < b``) is the pair's agreement in [0, 1] (nan: nothing compared), named
    ``measure``; ``distances_s`` are the distances of the matched glance pairs in seconds.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(annotators)
    matrix = np.full((n, n), np.nan)
    for i, a in enumerate(annotators):
        for j, b in enumerate(annotators):
            if (a, b) in rates:
                matrix[i, j] = matrix[j, i] = rates[(a, b)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [1.1, 1]})
    image = left.imshow(np.ma.masked_invalid(matrix), vmin=0, vmax=1, cmap="viridis")
    for i in range(n):
        for j in range(n):
            if np.isfinite(matrix[i, j]):
                left.text(j, i, f"{100 * matrix[i, j]:.0f}", ha="center", va="center", fontsize=8,
                          color="white" if matrix[i, j] < 0.6 else "black")
    left.set_xticks(range(n), annotators, rotation=45, ha="right", fontsize=8)
    left.set_yticks(range(n), annotators, fontsize=8)
    left.set_title(f"{measure} (%) per annotator pair", fontsize=10)
    fig.colorbar(image, ax=left, fraction=0.046, pad=0.04)
    if len(distances_s):
        right.hist(distances_s, bins=min(30, max(5, len(distances_s) // 3)),
                   range=distance_range(distances_s, within_s), color="tab:blue")
    right.set_xlabel("distance between matched glances (s)")
    right.set_ylabel("glance pairs")
    right.set_title(f"{len(distances_s)} matched pairs (within {within_s:g} s)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)
