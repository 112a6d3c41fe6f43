"""Grids of training runs that reproduce the paper's tables and figures on any dataset."""

from glancevad.experiments.grids import GRIDS, Cell, grid_cells
from glancevad.experiments.runner import run_grid

__all__ = ["GRIDS", "Cell", "grid_cells", "run_grid"]
