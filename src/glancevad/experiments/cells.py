"""One row of an experiment grid: a cell (its key, label, config overrides, glance shift, sweep points).

Apart from :mod:`glancevad.experiments.grids` so that the grids' analyses
(:mod:`glancevad.experiments.grid_analysis`) can read cells while the grids declare them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Cell:
    """One row of a grid: a key (folder name), a label, config overrides, and a glance shift."""

    key: str
    label: str
    overrides: dict[str, Any] = field(default_factory=dict)
    glance_shift: int = 0           # frames; > 0: train on perturbed glances (Table 4)
    sweeps: tuple[tuple[str, float], ...] = ()   # (parameter, value) points of the sensitivity plot
