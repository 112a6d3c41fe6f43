"""Where a training step's time goes: data, forward, targets, backward, optimiser (``summary.json``'s ``timing``)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class StepTimer:
    """Wall time of a step's parts: data (sampling, cache reads), forward (with the base loss),
    targets (mining, splatting, ``L_abn``), backward and the optimiser update; and the first step of
    the process alone (its warm-up: allocations, and compiling under ``compile: true``)."""

    data: float = 0.0
    forward: float = 0.0
    targets: float = 0.0
    backward: float = 0.0
    optimiser: float = 0.0
    steps: int = 0
    first_step_seconds: float = math.nan

    PARTS = ("data", "forward", "targets", "backward", "optimiser")

    def as_dict(self) -> dict[str, float]:
        total = sum(getattr(self, part) for part in self.PARTS)
        share = {f"{part}_fraction": getattr(self, part) / total if total else math.nan for part in self.PARTS}
        return {
            "steps_timed": self.steps,
            "seconds_per_step": total / max(self.steps, 1),
            **share,
            "overhead_fraction": (self.data + self.targets) / total if total else math.nan,
            "first_step_seconds": self.first_step_seconds,
        }
