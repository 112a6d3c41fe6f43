"""``glancevad report``: one self-contained HTML page for a run or a grid (figures embedded).

A run report shows the configuration, the selection summary, the test metrics, the loss and
validation curves and score curves of chosen test videos. A grid report shows the table, the
grid figure and, where the grid has a weak and a glance run of the same network, the paper's
Fig. 5: their score curves over the ground truth, with a glance drawn inside each event.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from glancevad.data.dataset import load_dataset
from glancevad.data.scores import read_scores
from glancevad.errors import GlanceVADError
from glancevad.experiments.grids import grid_analysis
from glancevad.experiments.traces import grid_roots, grid_runs, mined_share_traces, true_anomalous_share
from glancevad.fileio import atomic_write, read_jsonl, save_figure
from glancevad.glance.simulate import simulate_glances
from glancevad.plots import plot_mined_share, plot_score_curves

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}td,th{border:1px solid #ccc;padding:3px 8px}
th{background:#f3f3f3}img{max-width:100%;margin:.5em 0}pre{background:#f7f7f7;padding:1em;overflow:auto}"""


#: The paper report's tables have twelve number columns: keep "mean ± std" on one line.
WIDE = "body{max-width:1400px}td{white-space:nowrap;font-size:13px}"


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}">'


def _table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    columns = columns or list(rows[0]) if rows else []
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c, '')))}</td>" for c in columns) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"
    return str(value)


def _loss_curves(run: Path, folder: Path) -> Path | None:
    log = run / "metrics.jsonl"
    if not log.exists():
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_jsonl(log)
    train = [r for r in records if "loss" in r]
    val = [r for r in records if "val_glance_auc" in r]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3))
    for key in ("loss", "loss_abn", "mil_normal", "mil_abnormal", "mined_share"):
        if train and key in train[0]:
            left.plot([r["step"] for r in train], [r[key] for r in train], label=key)
    left.set_xlabel("step")
    left.set_title("training losses")
    left.legend(fontsize=8)
    for key in ("val_glance_auc", "val_video_auc"):
        right.plot([r["step"] for r in val], [r[key] for r in val], marker="o", label=key)
    right.set_xlabel("step")
    right.set_title("validation (held-out training videos)")
    right.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, folder / "losses.png", dpi=100)


def _score_figures(curves_by_name: dict[str, dict[str, np.ndarray]], data_root: str, folder: Path) -> list[Path]:
    dataset = load_dataset(data_root)
    gt = dataset.ground_truth or {}
    glances = simulate_glances({v: gt[v] for v in gt}, seed=0)
    paths = []
    for vid in dataset.example_test_videos(3):
        curves = {name: scores[vid] for name, scores in curves_by_name.items() if vid in scores}
        paths.append(plot_score_curves(folder / f"{vid}.png", f"{vid} (dotted: a glance drawn in each event)",
                                       curves, labels=gt.get(vid), glances=glances.get(vid, ())))
    return paths


def _run_section(run: Path, folder: Path) -> str:
    parts = []
    config = yaml.safe_load((run / "config.yaml").read_text()) if (run / "config.yaml").exists() else {}
    summary = json.loads((run / "summary.json").read_text())
    best = summary.get("best", {})
    score = _fmt(best.get("score", float("nan")))
    note = f" {html.escape(summary['selection_note'])}." if summary.get("selection_note") else ""
    parts.append(f"<p><b>Selection</b>: {html.escape(summary.get('selection', ''))}. Best step "
                 f"{best.get('step')} (score {score}), {summary.get('steps')} steps.{note}</p>")
    metrics_path = run / "test" / "metrics.json"
    if metrics_path.exists():
        tested = [json.loads(metrics_path.read_text())]
        if (run / "test" / "last" / "metrics.json").exists():
            tested.append(json.loads((run / "test" / "last" / "metrics.json").read_text()))
        rows = [{"checkpoint": Path(m.get("checkpoint", "?")).name, "step": m.get("step", "?"),
                 **{k: 100 * v for k, v in m.items() if isinstance(v, float)}} for m in tested]
        parts.append("<h3>Test metrics (%) of best.pt and last.pt</h3>" + _table(rows))
        scores = read_scores(run / "test" / "scores.json")
        if summary.get("data"):
            parts += [_img(p) for p in _score_figures({"score": scores}, summary["data"], folder)]
    if (loss := _loss_curves(run, folder)) is not None:
        parts.append("<h3>Losses and validation</h3>" + _img(loss))
    parts.append("<h3>Configuration</h3><pre>" + html.escape(yaml.safe_dump(config, sort_keys=False)) + "</pre>")
    return "\n".join(parts)


def _grid_section(grid_dir: Path, folder: Path) -> str:
    info = json.loads((grid_dir / "grid.json").read_text())
    roots = grid_roots(info)
    data = ", ".join(f"<code>{html.escape(root)}</code>" for root in roots)
    seeds = f"{len(roots)} data roots × {info['seeds']} seed(s)" if len(roots) > 1 else f"{info['seeds']} seed(s)"
    parts = [f"<p>Data {data}, preset {info['preset']}, {seeds}, "
             f"budget {info['budget']}; each row twice: best.pt of each run (selected on validation) and "
             "last.pt (the last step).</p>"]
    table_csv = grid_dir / "table.csv"
    if table_csv.exists():
        with open(table_csv, encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        parts.append("<h3>Table</h3>" + _table(rows))
    for png in sorted((grid_dir / "figures").glob("*.png")):
        parts.append(_img(png))
    parts += _mined_share_figure(grid_dir, info, folder)
    parts += _score_curves(grid_dir, info, folder, heading="h3")
    return "\n".join(parts)


def _mined_share_figure(grid_dir: Path, info: dict[str, Any], folder: Path) -> list[str]:
    """The grid's mined-share figure as page parts (none when no run logged it)."""
    traces = mined_share_traces(grid_dir, info)
    if not traces:
        return []
    shares = [true_anomalous_share(root) for root in grid_roots(info)]
    # pooled over several data roots, as the traces are: the mean of the roots' shares
    reference = float(np.mean(shares)) if shares and None not in shares else None
    path = plot_mined_share(folder / f"{info['grid']}_mined_share.png",
                            f"{info['grid']}: share of the glance videos' snippets that are kernel centres "
                            "(glances + mined; mean over seeds)", traces, reference=reference)
    known = ("" if reference is None else
             f" The dashed line is the share a perfect miner would reach: {reference:.2f} of the abnormal training "
             "videos' frames are anomalous (the dataset's training ground truth, which only synthetic data has).")
    return ["<h3>Mined share over training</h3><p>A share that climbs towards 1 is a mining runaway: the "
            f"pseudo-labels cover whole abnormal videos.{known}</p>", _img(path)]


def _score_curves(grid_dir: Path, info: dict[str, Any], folder: Path, *, heading: str) -> list[str]:
    """The test score curves (seed 0) of the weak and glance cells the grid declares
    (``GridAnalysis.score_curves``; paper Fig. 5 for the networks grid), when both runs have them."""
    declared = grid_analysis(info["grid"]).score_curves
    if declared is None:
        return []
    runs = grid_runs(grid_dir, info)
    paths = {key: Path(runs[key][0]) / "test" / "scores.json" for key in declared[:2] if runs.get(key)}
    if len(paths) < 2 or not all(p.exists() for p in paths.values()):
        return []
    labels = {cell["key"]: cell["label"] for cell in info["cells"]}
    curves = {labels.get(key, key): read_scores(path) for key, path in paths.items()}
    tag = heading.split()[0]
    return [f"<{heading}>{html.escape(declared[2])}</{tag}>",
            *(_img(p) for p in _score_figures(curves, grid_roots(info)[0], folder))]  # the pair's root


def _mean_std(row: dict[str, str], metric: str) -> str:
    """A ``table.csv`` row's cell for ``metric`` (the CSV holds the numbers as text)."""
    from glancevad.experiments.tables import format_mean_std

    return format_mean_std(float(row[f"{metric}_mean"]), float(row[f"{metric}_std"] or "nan"))


def _paper_grid_section(grid_dir: Path, folder: Path, dataset_name: str = "") -> str:
    """One grid of the paper report: the table beside the published figures (and ours − paper on the
    matching dataset), the "does it hold here?" lines ``glancevad paper`` computed, the figures."""
    from glancevad.experiments.tables import CHECKPOINTS, PAPER_METRICS, paper_results

    info = json.loads((grid_dir / "grid.json").read_text())
    name = info["grid"]
    paper = paper_results(name)
    with open(grid_dir / "table.csv", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    best = [r for r in table if r["checkpoint"] == "best"]
    last = {r["key"]: r for r in table if r["checkpoint"] == "last"}
    oracle = {r["key"]: r for r in table if r["checkpoint"] == "oracle"}
    published = [("ucf-crime", "auc"), ("ucf-crime", "auc_a"), ("xd-violence", "ap"), ("xd-violence", "ap_a")]
    matching = PAPER_METRICS.get(dataset_name, ())
    protocol = matching if oracle else ()
    head = ("<tr><th rowspan=2>setting</th><th colspan=5>best.pt (selected on validation)</th>"
            "<th colspan=3>last.pt</th><th colspan=2>paper, UCF-Crime</th><th colspan=2>paper, XD-Violence</th>"
            + (f"<th colspan={len(matching)}>ours (best.pt) − paper</th>" if matching else "")
            + (f"<th colspan={len(protocol)}>best on test (the authors' protocol: selected on the test set; "
               "only to compare with the paper)</th>" if protocol else "") + "</tr>"
            "<tr>" + "".join(f"<th>{h}</th>" for h in ("AUC", "AUC_A", "AP", "AP_A", "FAR", "AUC", "AUC_A", "FAR",
                                                          "AUC", "AUC_A", "AP", "AP_A", *map(str.upper, matching),
                                                          *map(str.upper, protocol)))
            + "</tr>")
    body = []
    for row in best:
        figures = paper["rows"].get(row["key"], {})
        cells = [_mean_std(row, m) for m in ("auc", "auc_a", "ap", "ap_a", "far")]
        if row["key"] in last:
            cells += [_mean_std(last[row["key"]], m) for m in ("auc", "auc_a", "far")]
        else:
            cells += ["–"] * 3
        cells += [f"{figures[d][m]:.2f}" if m in figures.get(d, {}) else "–" for d, m in published]
        ours = figures.get(dataset_name, {})
        cells += [f"{float(row[f'{m}_mean']) - ours[m]:+.2f}" if m in ours else "–" for m in matching]
        cells += [_mean_std(oracle[row["key"]], m) if row["key"] in oracle else "–" for m in protocol]
        body.append(f"<tr><td>{html.escape(row['label'])}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    holds_path = grid_dir / "holds.json"
    holds = json.loads(holds_path.read_text()) if holds_path.exists() else {}
    said = "".join(f"<p class='holds'>{html.escape(CHECKPOINTS.get(checkpoint, checkpoint))}:</p>"
                   "<ul class='holds'>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>"
                   for checkpoint, lines in holds.items())
    parts = [f"<h2 id='{name}'>{html.escape(name)}: {html.escape(paper.get('source') or 'ours')}</h2>",
             "<p class='holds'><b>Does it hold here?</b></p>" + (said or "<p>(not computed for this folder)</p>"),
             f"<table>{head}{''.join(body)}</table>"]
    parts += [_img(png) for png in sorted((grid_dir / "figures").glob("*.png"))]
    parts += _mined_share_figure(grid_dir, info, folder)
    parts += _score_curves(grid_dir, info, folder, heading=f"h2 id='{name}-curves'")
    return "\n".join(parts)


def _deviations_section(out: Path) -> str:
    path = out / "deviations.json"
    if not path.exists():
        return ""
    rows = json.loads(path.read_text())
    return ("<h2 id='deviations'>Settings: this project vs the paper vs the release</h2>"
            + _table(rows, ["setting", "ours", "paper", "release"]))


def render_paper_report(out: str | os.PathLike) -> Path:
    """Write ``index.html`` of a ``glancevad paper`` folder and return its path."""
    from glancevad.experiments.runner import budget_steps

    out = Path(out)
    info = json.loads((out / "paper.json").read_text())
    steps = budget_steps(info["budget"])
    budget = (", ".join(f"{m} {s} steps" for m, s in steps.items()) if steps else info["budget"])
    overrides = info.get("overrides") or {}
    roots = grid_roots(info)
    data = ", ".join(f"<code>{html.escape(r)}</code>" for r in roots)
    intro = (f"<p>Data {data} ({len(roots)} data seed(s)), preset {info['preset']}, {info['seeds']} training seed(s) "
             f"per setting and data seed, budget <b>{html.escape(info['budget'])}</b> ({html.escape(budget)})"
             + (f", overrides <code>{html.escape(json.dumps(overrides))}</code>" if overrides else "")
             + f". {info['settings']} (grid, setting, seed) runs, {info['runs']} distinct ones trained "
             f"({info['settings'] - info['runs']} shared across grids); wall time {info['wall_s'] / 60:.1f} min "
             f"(estimated {info['estimate_s'] / 60:.1f} min before the start).</p>"
             "<p>Each row: mean ± std over every data seed and training seed, in %. best.pt is the checkpoint the "
             "selection rule chose on held-out training videos, last.pt the last step; the test set never chose "
             "anything. The paper's published figures stand beside ours; on other data than UCF-Crime and "
             "XD-Violence only orderings can be compared. The statements under each title were computed by "
             "glancevad paper from the tables (per data seed where there are several).</p>")
    toc = ("".join(f"<a href='#{g}'>{g}</a> · " for g in info["grids"])
           + "".join(f"<a href='#{g}-curves'>{g}: score curves</a> · " for g in info["grids"]
                     if grid_analysis(g).score_curves is not None)
           + "<a href='#deviations'>settings</a>")
    with tempfile.TemporaryDirectory() as tmp:
        sections = [_paper_grid_section(out / g, Path(tmp), info.get("dataset", "")) for g in info["grids"]
                    if (out / g / "table.csv").exists()]
    return _write_page(out / "index.html", "GlanceVAD's tables on data you control",
                       f"{intro}<p>{toc}</p>{''.join(sections)}{_deviations_section(out)}", style=STYLE + WIDE)


def _write_page(path: Path, title: str, body: str, *, style: str = STYLE) -> Path:
    """One self-contained HTML page, written atomically."""
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(page)
    return path


def render_report(path: str | os.PathLike) -> Path:
    """Write ``report.html`` into a run or grid folder (``index.html`` into a ``glancevad paper`` folder)
    and return its path."""
    path = Path(path)
    if (path / "paper.json").exists():
        return render_paper_report(path)
    if (path / "grid.json").exists():
        kind, title = "grid", f"glancevad grid report: {json.loads((path / 'grid.json').read_text())['grid']}"
    elif (path / "summary.json").exists():
        kind, title = "run", f"glancevad run report: {path.name}"
    else:
        raise GlanceVADError(f"{path}: neither a run folder (summary.json), a grid folder (grid.json) nor a "
                             "paper folder (paper.json)")
    with tempfile.TemporaryDirectory() as tmp:
        body = _grid_section(path, Path(tmp)) if kind == "grid" else _run_section(path, Path(tmp))
    return _write_page(path / "report.html", title, body)
