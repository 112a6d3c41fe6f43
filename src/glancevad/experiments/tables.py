"""Grid results as tables (mean ± std over seeds, the paper's figures beside ours) and figures."""

from __future__ import annotations

import csv
import io
import math
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from glancevad.experiments.grids import Cell, grid_analysis
from glancevad.fileio import atomic_write, save_figure

METRICS = ("auc", "auc_a", "ap", "ap_a", "ap_step", "far")
#: Every grid is reported for both checkpoints of each run, so a reader sees what selection did.
CHECKPOINTS = {"best": "best.pt (selected on validation)", "last": "last.pt (the last step)"}
#: On a published dataset also the release's protocol, for comparison with the paper's figures only.
ORACLE = {"oracle": "best on test (the authors' protocol: selected on the test set; only to compare with the paper)"}

PAPER_METRICS = {"ucf-crime": ("auc", "auc_a"), "xd-violence": ("ap", "ap_a")}


def reported_checkpoints(results: dict[Any, dict[str, dict[str, Any]]]) -> dict[str, str]:
    """:data:`CHECKPOINTS`, plus :data:`ORACLE` when every run has a best-on-test record."""
    has_oracle = bool(results) and all("oracle" in metrics for metrics in results.values())
    return {**CHECKPOINTS, **(ORACLE if has_oracle else {})}


def paper_results(grid: str) -> dict[str, Any]:
    """The published figures of a grid (``source`` and ``rows``), from ``paper_results.yaml``."""
    text = (resources.files("glancevad.experiments") / "paper_results.yaml").read_text()
    return yaml.safe_load(text).get(grid, {"source": "", "rows": {}})


def seed_mean_std(values) -> tuple[float, float]:
    """Mean and standard deviation over seeds as every table gives them: the sample std (ddof 1),
    0 for one seed; the mean of no value is NaN."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean()) if len(values) else math.nan
    return mean, float(values.std(ddof=1)) if len(values) > 1 else 0.0


def summarise(
    cells: list[Cell], results: dict[tuple[str, int], dict[str, dict[str, Any]]], *, checkpoint: str = "best"
) -> list[dict[str, Any]]:
    """One row per cell: ``{key, label, n, <metric>_mean, <metric>_std}`` (in %, std over seeds)."""
    rows = []
    for cell in cells:
        runs = [m[checkpoint] for (key, _), m in sorted(results.items()) if key == cell.key]
        row: dict[str, Any] = {"key": cell.key, "label": cell.label, "n": len(runs)}
        for metric in METRICS:
            row[f"{metric}_mean"], row[f"{metric}_std"] = seed_mean_std([100 * r[metric] for r in runs])
        rows.append(row)
    return rows


def format_mean_std(mean: float, std: float) -> str:
    """``mean ± std`` in a table cell (``mean`` alone when the std is 0 or undefined; ``n/a`` for no mean)."""
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.2f}" if math.isnan(std) or std == 0 else f"{mean:.2f} ± {std:.2f}"


def over_seeds(seeds: int, data_seeds: int = 1) -> str:
    """What a table's mean ± std is over: ``3 seed(s)``, or ``3 data seeds × 1 training seed (3 runs
    per row)`` for a table pooled over several data roots."""
    if data_seeds <= 1:
        return f"{seeds} seed(s)"
    return (f"{data_seeds} data seeds × {seeds} training seed{'s' if seeds != 1 else ''} "
            f"({data_seeds * seeds} runs per row)")


def write_tables(
    out: Path, grid: str, rows: dict[str, list[dict[str, Any]]], *, dataset_name: str, seeds: int,
    data_seeds: int = 1,
) -> tuple[Path, Path]:
    """``table.csv`` (numbers) and ``table.md`` (mean ± std, paper columns when the dataset is known).

    ``rows`` maps each checkpoint (``best``, ``last``) to its rows; both go into each file.
    ``seeds``: training seeds per data root; ``data_seeds``: data roots pooled (``glancevad paper``).
    """
    paper = paper_results(grid)
    paper_metrics = PAPER_METRICS.get(dataset_name, ())
    columns = ["checkpoint", "key", "label", "n"] + [f"{m}_{s}" for m in METRICS for s in ("mean", "std")]
    columns += [f"paper_{m}" for m in paper_metrics]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for checkpoint, checkpoint_rows in rows.items():
        for row in checkpoint_rows:
            published = paper["rows"].get(row["key"], {}).get(dataset_name, {})
            writer.writerow({"checkpoint": checkpoint, **row,
                             **{f"paper_{m}": published.get(m, "") for m in paper_metrics}})
    with atomic_write(out / "table.csv", "w", encoding="utf-8", newline="") as handle:
        handle.write(buffer.getvalue())
    header = ["setting", *[m.upper() for m in METRICS]]
    header += [f"paper {m.upper()}" for m in paper_metrics]
    lines = [f"# {grid}: mean ± std over {over_seeds(seeds, data_seeds)}, in %", ""]
    if paper_metrics:
        lines += [f"Paper figures: {paper['source']}, {dataset_name}.", ""]
    for checkpoint, checkpoint_rows in rows.items():
        lines += [f"## {(CHECKPOINTS | ORACLE).get(checkpoint, checkpoint)}", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in checkpoint_rows:
            published = paper["rows"].get(row["key"], {}).get(dataset_name, {})
            cells = [row["label"], *(format_mean_std(row[f"{m}_mean"], row[f"{m}_std"]) for m in METRICS)]
            cells += [f"{published[m]:.2f}" if m in published else "–" for m in paper_metrics]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    with atomic_write(out / "table.md", "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    return out / "table.csv", out / "table.md"


def tabulate_grid(
    out: Path, grid: str, cells: list[Cell], results: dict[tuple[str, int], dict[str, dict[str, Any]]], *,
    dataset_name: str, seeds: int, data_seeds: int = 1,
) -> tuple[Path, Path, list[Path]]:
    """The tables of a finished grid for both checkpoints (plus the rows its analysis adds, such as
    the networks grid's glance-over-weak gains) and its figure (of ``best.pt``):
    ``(table.csv, table.md, [PNG])``; ``seeds`` and ``data_seeds`` as :func:`write_tables`."""
    extra = grid_analysis(grid).extra_rows
    rows = {}
    for checkpoint in reported_checkpoints(results):
        rows[checkpoint] = summarise(cells, results, checkpoint=checkpoint)
        if extra is not None:
            rows[checkpoint] += extra(rows[checkpoint])
    csv_path, md_path = write_tables(out, grid, rows, dataset_name=dataset_name, seeds=seeds, data_seeds=data_seeds)
    return csv_path, md_path, plot_grid(out, grid, cells, rows["best"])


def plot_grid(out: Path, grid: str, cells: list[Cell], rows: list[dict[str, Any]]) -> list[Path]:
    """The grid's PNG figure: its analysis's own (Fig. 4's curves for the sensitivity grid), else one
    bar per cell and metric (rows its analysis adds, such as the gains, are left to the table)."""
    keys = {cell.key for cell in cells}
    rows = [row for row in rows if row["key"] in keys]
    path = out / "figures" / f"{grid}.png"
    if (figure := grid_analysis(grid).figure) is not None:
        return [figure(path, grid, cells, rows)]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # two by two, so that a docs page's width (about 700 px) leaves the labels legible
    fig, axes = plt.subplots(2, 2, figsize=(9, 8), sharey=False)
    labels = [row["label"] for row in rows]
    for ax, metric in zip(axes.ravel(), ("auc", "auc_a", "ap", "ap_a"), strict=True):
        ax.bar(range(len(rows)), [r[f"{metric}_mean"] for r in rows],
               yerr=[0 if math.isnan(r[f"{metric}_std"]) else r[f"{metric}_std"] for r in rows], capsize=3)
        ax.set_xticks(range(len(rows)), labels, rotation=60, ha="right", fontsize=8)
        ax.set_title(metric.upper())
        low = min(r[f"{metric}_mean"] for r in rows)
        ax.set_ylim(max(0, low - 10), 100)
    fig.suptitle(f"{grid} (mean ± std over seeds)")
    fig.tight_layout()
    return [save_figure(fig, path, dpi=110)]
