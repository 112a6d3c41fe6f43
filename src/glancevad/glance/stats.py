"""Glance statistics: glances per video and where in the video they fall (the paper's Fig. 2)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glancevad.errors import GlanceVADError
from glancevad.fileio import save_figure
from glancevad.glance.io import Glances


@dataclass(frozen=True)
class GlanceStats:
    """Counts per video, and relative positions (glance / frames) where frame counts are known."""

    videos: int
    glances: int
    per_video: np.ndarray
    positions: np.ndarray | None

    @property
    def mean(self) -> float:
        return float(self.per_video.mean()) if self.videos else float("nan")

    @property
    def median(self) -> float:
        return float(np.median(self.per_video)) if self.videos else float("nan")

    @property
    def max(self) -> int:
        return int(self.per_video.max()) if self.videos else 0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "videos": self.videos,
            "glances": self.glances,
            "mean_per_video": self.mean,
            "median_per_video": self.median,
            "max_per_video": self.max,
        }


def glance_stats(
    glances: Glances, *, num_frames: Mapping[str, int] | None = None
) -> GlanceStats:
    """Summarise a glance set; ``num_frames`` (per video) enables relative positions in [0, 1)."""
    per_video = np.array([len(frames) for frames in glances.values()], dtype=np.int64)
    positions = None
    if num_frames is not None:
        missing = [vid for vid in glances if vid not in num_frames]
        if missing:
            raise GlanceVADError(f"video {missing[0]} has glances but no frame count")
        beyond = [(vid, f) for vid, fs in glances.items() for f in fs if f >= num_frames[vid]]
        if beyond:
            vid, frame = beyond[0]
            raise GlanceVADError(
                f"video {vid}: glance frame {frame} is beyond its {num_frames[vid]} frames"
            )
        positions = np.array(
            [f / num_frames[vid] for vid, fs in glances.items() for f in fs], dtype=np.float64
        )
    return GlanceStats(len(glances), int(per_video.sum()), per_video, positions)


def plot_glance_stats(stats: GlanceStats, path: str | os.PathLike, *, title: str) -> Path:
    """PNG: histogram of glances per video, and of relative glance positions when known."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 if stats.positions is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4), squeeze=False)
    ax = axes[0, 0]
    counts = np.bincount(stats.per_video) if stats.videos else np.zeros(1, dtype=int)
    ax.bar(np.arange(len(counts))[1:], counts[1:], color="tab:blue")
    ax.set_xlabel("glances per video")
    ax.set_ylabel("videos")
    ax.set_title(f"{stats.glances} glances on {stats.videos} videos (mean {stats.mean:.2f})")
    if stats.positions is not None:
        ax = axes[0, 1]
        ax.hist(stats.positions, bins=10, range=(0, 1), color="tab:orange", edgecolor="white")
        ax.set_xlabel("relative position in the video (glance frame / frames)")
        ax.set_ylabel("glances")
        ax.set_title("temporal position of glances")
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)
