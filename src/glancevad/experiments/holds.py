""""Does it hold here?": the paper's claims checked on our tables, stated without judgement.

Every function is pure: it takes table rows (means and stds over seeds, in %) and returns
sentences. The orderings against the published tables are every grid's; a grid's own claims
(glance > weak, Fig. 4's optimum, Table 3's thresholds) are declared on its
:class:`~glancevad.experiments.grids.Grid` entry and computed in
:mod:`~glancevad.experiments.grid_analysis`. :func:`grid_findings` gives one grid's lines for
both checkpoints, over the pooled runs and per data seed ("glance > weak for UR-DMU on 3 of 3
data seeds"); ``glancevad paper`` writes them to ``<grid>/holds.json`` and the report renders
them as they are.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

from glancevad.experiments.grid_analysis import of_seeds, tied, top
from glancevad.experiments.grids import Cell, grid_analysis

#: The metric each published dataset's ordering is read on, and its name in the sentences.
ORDERINGS = (("auc", "ucf-crime", "AUC vs UCF-Crime AUC"), ("ap", "xd-violence", "AP vs XD-Violence AP"))


def ordering_statement(
    ours: dict[str, tuple[float, float]], paper: dict[str, float], labels: dict[str, str], *, what: str,
) -> str:
    """One sentence comparing two orderings of the same rows.

    ``ours`` maps a row key to (mean, std over seeds), ``paper`` to the published value. Counts the
    row pairs the paper orders that we order the same way, and how many of ours differ by less
    than the larger std (an ordering a few seeds cannot settle), and names each side's best row.
    """
    keys = [key for key in paper if key in ours and not math.isnan(ours[key][0])]
    if len(keys) < 2:
        return f"{what}: fewer than two rows with published figures; nothing to compare."
    pairs = [(a, b) for a, b in combinations(keys, 2) if paper[a] != paper[b]]
    agree = sum((paper[a] - paper[b]) * (ours[a][0] - ours[b][0]) > 0 for a, b in pairs)
    unsettled = sum(abs(ours[a][0] - ours[b][0]) < max(ours[a][1], ours[b][1]) for a, b in pairs)
    noise = (f" ({unsettled} of all {len(pairs)} pairs, agreeing or not, differ here by less than one seed std)"
             if any(ours[k][1] > 0 for k in keys) else "")
    best_paper = tied([labels[k] for k in top(keys, lambda k: paper[k])])
    best_ours = tied([labels[k] for k in top(keys, lambda k: ours[k][0])])
    order = " > ".join(labels[k] for k in sorted(keys, key=lambda k: -ours[k][0]))
    return (f"{what}: {agree} of {len(pairs)} row pairs ordered as in the paper{noise}; "
            f"best row: paper {best_paper}, here {best_ours}. "
            f"Here: {order}.")


def statements(grid: str, cells: list[Cell], rows: list[dict[str, Any]], paper_rows: dict[str, Any]) -> list[str]:
    """The "does it hold here?" lines of one grid from one checkpoint's rows (``best.pt`` or
    ``last.pt``; means and stds in %)."""
    labels = {row["key"]: row["label"] for row in rows}
    lines = []
    for metric, dataset, name in ORDERINGS:
        ours = {row["key"]: (row[f"{metric}_mean"], row[f"{metric}_std"]) for row in rows}
        paper = {key: figures[dataset][metric] for key, figures in paper_rows.items()
                 if metric in figures.get(dataset, {})}
        if paper:
            lines.append(ordering_statement(ours, paper, labels, what=name))
        lines += [claim(ours, cells, labels, what=metric.upper()) for claim in grid_analysis(grid).claims]
    return lines


# ---------------------------------------------------------------------------------------------------------------
# Per data seed: on how many of the report's data seeds a claim holds


def seed_counts(grid: str, cells: list[Cell], per_data: list[dict[str, float]], paper_rows: dict[str, Any],
                ) -> list[str]:
    """Lines counting the data seeds on which the grid's own claims hold (its
    :attr:`~glancevad.experiments.grids.GridAnalysis.seed_claims`: networks, glance > weak per
    network; sensitivity, the optimum; ablation, the best fixed threshold per data seed).

    ``per_data``: one ``{row key: mean AUC in %}`` per data seed, over its training seeds. The
    per-seed lists are separated by ``;``; a tie for the best reads ``tied: 0.5, 0.7`` and does not
    count as the paper's value being best (it is counted apart).
    """
    return [line for count in grid_analysis(grid).seed_claims for line in count(cells, per_data)]


def ordering_counts(per_data: list[dict[str, float]], paper: dict[str, float], labels: dict[str, str], *,
                    what: str) -> str:
    """On how many data seeds the paper's best row is best here (alone; a tie is counted apart), and
    each seed's agreeing pairs."""
    keys = [k for k in paper if all(k in d and not math.isnan(d[k]) for d in per_data)]
    if len(keys) < 2 or not per_data:
        return f"{what}: fewer than two rows with published figures; nothing to count."
    pairs = [(a, b) for a, b in combinations(keys, 2) if paper[a] != paper[b]]
    agree = [sum((paper[a] - paper[b]) * (d[a] - d[b]) > 0 for a, b in pairs) for d in per_data]
    best_paper = top(keys, lambda k: paper[k])
    best_here = [top(keys, lambda k, d=d: d[k]) for d in per_data]
    alone = sum(best == best_paper for best in best_here)
    shared = sum(best != best_paper and set(best_paper) <= set(best) for best in best_here)
    return (f"{what}: the paper's best row ({tied([labels[k] for k in best_paper])}) is best here on "
            f"{of_seeds(alone, len(per_data))}" + (f", tied for best on {shared}" if shared else "")
            + f"; row pairs ordered as in the paper, per data seed: {', '.join(f'{a}/{len(pairs)}' for a in agree)}")


def grid_findings(
    grid: str, cells: list[Cell], pooled: dict[str, list[dict[str, Any]]],
    per_data: dict[str, list[dict[str, list[dict[str, Any]]]]] | None, paper_rows: dict[str, Any],
) -> dict[str, list[str]]:
    """One grid's "does it hold here?" lines per checkpoint (``best``, ``last``).

    ``pooled[checkpoint]``: the table's rows over every data seed and training seed;
    ``per_data[checkpoint]``: one such row list per data seed (``None`` or one entry: no counts).
    """
    found = {}
    for checkpoint, rows in pooled.items():
        lines = statements(grid, cells, rows, paper_rows)
        seeds = (per_data or {}).get(checkpoint, [])
        if len(seeds) > 1:
            means = {m: [{r["key"]: r[f"{m}_mean"] for r in data_rows} for data_rows in seeds] for m in ("auc", "ap")}
            labels = {r["key"]: r["label"] for r in rows}
            for metric, dataset, name in ORDERINGS:
                paper = {key: figures[dataset][metric] for key, figures in paper_rows.items()
                         if metric in figures.get(dataset, {})}
                if paper:
                    lines.append(ordering_counts(means[metric], paper, labels, what=name))
            lines += [f"AUC: {line}" for line in seed_counts(grid, cells, means["auc"], paper_rows)]
        found[checkpoint] = lines
    return found
