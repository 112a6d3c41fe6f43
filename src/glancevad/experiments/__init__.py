"""Grids of training runs that reproduce the paper's tables and figures on any dataset.

The grids themselves are data (``grids``) and load no torch; the runner is imported on first use.
"""

from glancevad.experiments.grids import GRIDS, Cell, grid_cells
from glancevad.experiments.registry import EXPERIMENTS, list_experiments, register_experiment, run_experiment

__all__ = ["EXPERIMENTS", "GRIDS", "Cell", "grid_cells", "list_experiments", "register_experiment", "run_experiment",
           "run_grid"]


def __getattr__(name: str):
    if name == "run_grid":
        from glancevad.experiments import runner

        return runner.run_grid
    raise AttributeError(name)
