"""``glancevad experiment`` and ``report``: the paper's grids, studies and HTML reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from glancevad.cli.app import app
from glancevad.cli.common import DatasetPresetOpt, GridSetOpt, ParallelOpt, SeedsOpt
from glancevad.config import parse_overrides
from glancevad.console import console, progress_bar
from glancevad.errors import GlanceVADError
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
    data: Annotated[list[Path], typer.Option(help="Dataset root in the official layout (one; for several data "
                                                  "seeds use glancevad paper).")],
    out: Annotated[Path, typer.Option(help="Grid folder (runs/, table.csv, table.md, figures/).")],
    preset: DatasetPresetOpt = None,
    seeds: SeedsOpt = 3,
    budget: Annotated[str, typer.Option(help="full (the preset's schedule: for ucf and xd the released one); small "
                                             "(40 steps, one seed: a quick look); or paper (synthetic data only: each "
                                             "network until its validation levels off on demo-sized data).")] = "full",
    parallel: ParallelOpt = 1,
    set_: GridSetOpt = None,
) -> None:
    if len(data) > 1:  # click would silently keep the last one
        raise GlanceVADError(f"--data: experiment takes one dataset root, got {len(data)} "
                             f"({', '.join(map(str, data))}); glancevad paper pools several data roots")
    check_output(out, kind="folder")
    from glancevad.experiments.registry import run_experiment

    with progress_bar(unit="runs") as bar:
        task = bar.add_task(f"experiment {name}", total=None)
        csv_path, md_path, png = run_experiment(
            name, data[0], out, preset=preset, seeds=seeds, budget=budget, parallel=parallel,
            overrides=parse_overrides(set_ or []), on_plan=lambda total: bar.update(task, total=total),
            on_run=lambda _: bar.advance(task), on_settings=lambda lines: [bar.console.print(line) for line in lines])
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
    data: Annotated[list[Path], typer.Option(help="Dataset root; repeat it for several data seeds of one dataset "
                                                  "(make paper: glancevad synth --seed 1, 2, 3): tables pool them "
                                                  "and count the seeds each claim holds on. Each folder once (a "
                                                  "root given twice, by any path, is refused).")],
    out: Annotated[Path, typer.Option(help="Report folder: index.html, one folder per grid (pooled), "
                                           "per-data/<root's name>/<grid> per data root, runs/ shared.")],
    preset: DatasetPresetOpt = None,
    seeds: Annotated[int, typer.Option(min=1, help="Training seeds per setting and data root (mean ± std over "
                                                   "all of them).")] = 3,
    budget: Annotated[str, typer.Option(help="paper (synthetic data only: steps where each network's validation "
                                             "levels off on demo-sized data), small, or full (the preset's schedule: "
                                             "for ucf and xd the released one; use it on real data).")] = "paper",
    parallel: ParallelOpt = 2,
    set_: GridSetOpt = None,
    prepare: Annotated[bool, typer.Option(help="Print the estimate, build the training caches and stop: "
                                               "nothing trains (see the disk the caches take).")] = False,
) -> None:
    """Every table and figure of the paper (Tables 1-6, Fig. 4 and 5) in one HTML report.

    Runs the six grids on each --data root; a setting that several grids share is trained once. Prints
    the preset, the runs, the CPU time and the disk before it starts and shows progress over the
    distinct runs; an interrupted run continues where it stopped.
    """
    check_output(out, kind="folder")
    from glancevad.experiments.paper import run_paper
    from glancevad.experiments.planning import describe_estimate
    from glancevad.report import render_paper_report

    with progress_bar(unit="runs") as bar:
        task = bar.add_task("paper", total=None)

        def on_plan(plans, estimate, preset_line: str) -> None:
            bar.console.print(preset_line)
            bar.console.print(f"{len(plans)} data root(s) x {len(plans[0].grids)} grids: "
                              f"{sum(len(p.specs) for p in plans)} (grid, setting, seed) runs, "
                              f"{sum(len(p.unique) for p in plans)} distinct (settings shared across grids train once)")
            for line in describe_estimate(estimate):
                bar.console.print(line)
            bar.update(task, total=sum(len(p.unique) for p in plans))

        folder = run_paper(data, out, preset=preset, seeds=seeds, budget=budget, parallel=parallel,
                           overrides=parse_overrides(set_ or []), on_plan=on_plan, on_run=lambda _: bar.advance(task),
                           prepare_only=prepare)
    if prepare:
        import json

        caches = json.loads((folder / "paper.json").read_text())["caches"]
        console.print(f"{len(caches)} training cache(s), {sum(caches.values()) / 1e9:.2f} GB: "
                      + ", ".join(caches) + "; nothing trained")
        return
    index = render_paper_report(folder)
    console.print(f"wrote [bold]{index}[/]; tables in {out}/<grid>/table.md (per data root: "
                  f"{out}/per-data/<root>/<grid>/), runs in {out / 'runs'}")
