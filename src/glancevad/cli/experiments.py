"""``glancevad experiment`` and ``report``: the paper's grids, studies and HTML reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from glancevad.cli.app import app
from glancevad.cli.common import GridSetOpt, ParallelOpt, PresetOpt, SeedsOpt
from glancevad.config import parse_overrides
from glancevad.console import console, progress_bar
from glancevad.experiments.registry import EXPERIMENTS
from glancevad.fileio import check_output

GRID_HELP = "One of: " + ", ".join(EXPERIMENTS) + "."
EXPERIMENT_HELP = (
    "Reproduce a table or figure of the paper: one training run per setting and seed, then a table.\n\n"
    + "\n\n".join(f"`{e.name}`: {e.description}." for e in EXPERIMENTS.values())
    + "\n\nFinished runs are skipped and unfinished ones resumed, so an interrupted grid continues where it stopped."
)


@app.command(help=EXPERIMENT_HELP)
def experiment(
    name: Annotated[str, typer.Argument(help=GRID_HELP)],
    data: Annotated[Path, typer.Option(help="Dataset root in the official layout.")],
    out: Annotated[Path, typer.Option(help="Grid folder (runs/, table.csv, table.md, figures/).")],
    preset: PresetOpt = None,
    seeds: SeedsOpt = 3,
    budget: Annotated[str, typer.Option(help="full; small (40 steps, one seed: a quick look); or paper (for demo-sized "
                                             "data: each network until its validation levels off).")] = "full",
    parallel: ParallelOpt = 1,
    set_: GridSetOpt = None,
) -> None:
    check_output(out, kind="folder")
    from glancevad.experiments.registry import run_experiment

    with progress_bar(unit="runs") as bar:
        task = bar.add_task(f"experiment {name}", total=None)
        csv_path, md_path, png = run_experiment(
            name, data, out, preset=preset, seeds=seeds, budget=budget, parallel=parallel,
            overrides=parse_overrides(set_ or []), on_plan=lambda total: bar.update(task, total=total),
            on_run=lambda _: bar.advance(task))
    console.print(md_path.read_text(), markup=False, highlight=False)
    console.print(f"wrote [bold]{csv_path}[/], [bold]{md_path}[/], [bold]{png}[/]; runs in {out / 'runs'}")


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(help="A run folder (glancevad train), a grid (glancevad experiment) "
                                                "or a paper folder (glancevad paper).")],
) -> None:
    """Render one self-contained HTML report (figures embedded) of a run, a grid or the paper's tables."""
    from glancevad.report import render_report

    console.print(f"wrote [bold]{render_report(folder)}[/]")


@app.command()
def paper(
    data: Annotated[Path, typer.Option(help="Dataset root (make paper: glancevad synth --size demo).")],
    out: Annotated[Path, typer.Option(help="Report folder: index.html, one folder per grid, runs/ shared.")],
    preset: PresetOpt = "demo",
    seeds: SeedsOpt = 3,
    budget: Annotated[str, typer.Option(help="paper (steps where each network's validation levels off), "
                                             "small or full.")] = "paper",
    parallel: ParallelOpt = 2,
    set_: GridSetOpt = None,
) -> None:
    """Every table and figure of the paper (Tables 1-6, Fig. 4 and 5) in one HTML report.

    Runs the six grids; a setting that several grids share is trained once. Prints an estimate before
    it starts and shows progress over the distinct runs; an interrupted run continues where it stopped.
    """
    check_output(out, kind="folder")
    from glancevad.experiments.paper import run_paper
    from glancevad.report import render_paper_report

    with progress_bar(unit="runs") as bar:
        task = bar.add_task("paper", total=None)

        def on_plan(plan, estimate: float) -> None:
            bar.console.print(f"{len(plan.grids)} grids, {len(plan.specs)} (grid, setting, seed) runs, "
                              f"{len(plan.unique)} distinct; estimated {estimate / 60:.0f} min for the unfinished "
                              f"ones at --parallel {parallel}")
            bar.update(task, total=len(plan.unique))

        folder = run_paper(data, out, preset=preset, seeds=seeds, budget=budget, parallel=parallel,
                           overrides=parse_overrides(set_ or []), on_plan=on_plan, on_run=lambda _: bar.advance(task))
    index = render_paper_report(folder)
    console.print(f"wrote [bold]{index}[/]; tables in {out}/<grid>/table.md, runs in {out / 'runs'}")
