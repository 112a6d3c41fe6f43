"""Grids of training runs that reproduce the paper's tables and figures on any dataset.

The grids themselves are data (``grids``) and load no torch; the runner is imported on first use.
"""

from glancevad.experiments.grids import GRIDS, STUDIES, Cell, grid_cells

__all__ = ["GRIDS", "STUDIES", "Cell", "grid_cells", "run_experiment", "run_grid"]


def __getattr__(name: str):
    if name in ("run_grid", "run_experiment"):
        from glancevad.experiments import runner

        return getattr(runner, name)
    raise AttributeError(name)
