"""Every experiment ``glancevad experiment NAME`` runs, grids and studies alike, in one registry.

An experiment is a function ``run(data, out, *, preset, seeds, budget, parallel, overrides, on_plan,
on_run) -> (table CSV, table markdown, figure PNG)`` registered with :func:`register_experiment`
under its name and a one-line description (the CLI's help and the unknown-name error read both).
The grids of :data:`glancevad.experiments.grids.GRIDS` are registered here with the grid runner;
each study module is imported only when its experiment runs (the CLI's help loads no torch).
Adding an experiment: one ``@register_experiment`` function (here, or in a module imported here).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glancevad.errors import GlanceVADError
from glancevad.experiments.grids import GRIDS

Outputs = tuple[Path, Path, Path]


@dataclass(frozen=True)
class Experiment:
    """A named experiment: what it reproduces, and the function that runs it."""

    name: str
    description: str
    run: Callable[..., Outputs]
    #: ``(data, out, *, preset, seeds, budget, parallel, overrides) -> planning.Estimate``, if it has one
    estimate: Callable[..., Any] | None = None


EXPERIMENTS: dict[str, Experiment] = {}


def register_experiment(
    name: str, description: str, *, estimate: Callable[..., Any] | None = None,
) -> Callable[[Callable[..., Outputs]], Callable[..., Outputs]]:
    """Register ``run`` as the experiment ``name`` (a name taken twice is a programming error);
    ``estimate`` states its cost before it starts."""

    def decorate(run: Callable[..., Outputs]) -> Callable[..., Outputs]:
        if name in EXPERIMENTS:
            raise ValueError(f"experiment {name!r} is registered twice")
        EXPERIMENTS[name] = Experiment(name, description, run, estimate)
        return run

    return decorate


def list_experiments() -> list[str]:
    return list(EXPERIMENTS)


def get_experiment(name: str) -> Experiment:
    """The registered experiment; an unknown name lists the valid ones."""
    if name not in EXPERIMENTS:
        raise GlanceVADError(f"unknown experiment {name!r}; experiments: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def run_experiment(
    name: str, data: str | os.PathLike, out: str | os.PathLike, *, preset: str | None = None, seeds: int = 3,
    budget: str = "full", parallel: int = 1, overrides: dict[str, Any] | None = None,
    on_plan: Callable[[int], None] | None = None, on_run: Callable[[Any], None] | None = None,
    on_settings: Callable[[list[str]], None] | None = None,
) -> Outputs:
    """``glancevad experiment``: run the registered experiment ``name``; returns its
    ``(table CSV, table markdown, figure PNG)``.

    Without a ``preset`` the dataset's name chooses one (``planning.choose_preset``); a budget
    that does not suit the dataset is refused. ``on_settings(lines)`` receives the chosen preset
    and, where the experiment has one, the estimate, before anything trains.
    """
    from glancevad.data.dataset import load_dataset
    from glancevad.experiments.planning import check_budget, choose_preset, describe_estimate
    from glancevad.experiments.runner import budget_seeds

    experiment = get_experiment(name)
    seeds = budget_seeds(budget, seeds)
    dataset_name = load_dataset(data).name
    preset, said = choose_preset(dataset_name, preset)
    check_budget(budget, dataset_name, preset)
    if on_settings:
        lines = [said]
        if experiment.estimate:
            lines += describe_estimate(experiment.estimate(data, out, preset=preset, seeds=seeds, budget=budget,
                                                           parallel=parallel, overrides=overrides))
        on_settings(lines)
    return experiment.run(data, out, preset=preset, seeds=seeds, budget=budget,
                          parallel=parallel, overrides=overrides, on_plan=on_plan, on_run=on_run)


def _study_overrides(budget: str, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Studies apply a budget as plain config overrides (the grids read it per network)."""
    from glancevad.experiments.runner import BUDGETS

    return {**BUDGETS[budget], **(overrides or {})}


def _grid_experiment(name: str) -> Callable[..., Outputs]:
    def run(data, out, *, preset, seeds, budget, parallel, overrides, on_plan, on_run) -> Outputs:
        from glancevad.data.dataset import load_dataset
        from glancevad.experiments.runner import run_grid
        from glancevad.experiments.tables import tabulate_grid

        cells, results = run_grid(name, data, out, preset=preset, seeds=seeds, budget=budget, parallel=parallel,
                                  overrides=overrides, on_plan=on_plan, on_run=on_run)
        csv_path, md_path, pngs = tabulate_grid(Path(out), name, cells, results,
                                                dataset_name=load_dataset(data).name, seeds=seeds)
        return csv_path, md_path, pngs[0]

    return run


def _grid_estimate(name: str) -> Callable[..., Any]:
    def estimate(data, out, *, preset, seeds, budget, parallel, overrides) -> Any:
        from glancevad.experiments.planning import estimate_plan
        from glancevad.experiments.runner import plan_grid

        _, specs = plan_grid(name, Path(data), Path(out), preset=preset, seeds=seeds, budget=budget,
                             overrides=overrides)
        return estimate_plan(list({s.run_dir: s for s in specs}.values()), parallel)

    return estimate


for _name, _grid in GRIDS.items():
    register_experiment(_name, _grid.description, estimate=_grid_estimate(_name))(_grid_experiment(_name))


@register_experiment("selection", "the checkpoint-selection study: each validation rule's and tie-break's choice "
                                  "and an EMA and SWA of the weights vs last.pt vs the best-on-test oracle (the test "
                                  "set is scored for this analysis only)")
def _selection(data, out, *, preset, seeds, budget, parallel, overrides, on_plan, on_run) -> Outputs:
    from glancevad.experiments.selection_study import run_selection_study

    return run_selection_study(data, out, preset=preset, seeds=seeds, overrides=_study_overrides(budget, overrides),
                               on_plan=on_plan, on_run=on_run)


@register_experiment("plateau", "the networks grid for 3x the preset's steps: where each run's held-out BCE "
                                "levels off (the paper budget's steps per network), and best.pt at that budget vs "
                                "twice it on the test set")
def _plateau(data, out, *, preset, seeds, budget, parallel, overrides, on_plan, on_run) -> Outputs:
    from glancevad.experiments.plateau import run_plateau_study

    return run_plateau_study(data, out, preset=preset, seeds=seeds, parallel=parallel,
                             overrides=_study_overrides(budget, overrides), on_plan=on_plan, on_run=on_run)


@register_experiment("assisted", "model-assisted glancing (data with training ground truth, e.g. glancevad synth): "
                                 "frames watched with linear playback vs peak jumps, and test AUC vs share of "
                                 "glanced videos chosen at random or by glancevad select")
def _assisted(data, out, *, preset, seeds, budget, parallel, overrides, on_plan, on_run) -> Outputs:
    from glancevad.experiments.assisted import run_assisted_study

    return run_assisted_study(data, out, preset=preset, seeds=seeds, parallel=parallel,
                              overrides=_study_overrides(budget, overrides), on_plan=on_plan, on_run=on_run)
