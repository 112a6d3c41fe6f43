"""Glance annotations: one frame index inside each abnormal event.

A glance set maps a video id to its sorted, distinct glance frames.
"""

from glancevad.glance.io import Glances, format_glances, read_glances, write_glances
from glancevad.glance.simulate import perturb_glances, simulate_glances
from glancevad.glance.stats import GlanceStats, glance_stats

__all__ = [
    "GlanceStats",
    "Glances",
    "glance_stats",
    "perturb_glances",
    "format_glances",
    "read_glances",
    "simulate_glances",
    "write_glances",
]
