"""Every grid at the small budget on tiny data: table shape, finite cells, resumption, reports.

Checks structure, not the direction of any result.
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys

import pytest

from glancevad.experiments import GRIDS, grid_cells
from glancevad.experiments.runner import run_grid
from glancevad.experiments.tables import paper_results
from glancevad.experiments.traces import true_anomalous_share

FAST = ["--set", "steps=2", "--set", "batch_size=2", "--set", "num_snippets=16", "--set", "eval_every=2",
        "--set", "val_fraction=0.25", "--set", "precision=fp32"]
FAST_OVERRIDES = {"steps": 2, "batch_size": 2, "num_snippets": 16, "eval_every": 2, "val_fraction": 0.25,
                  "precision": "fp32"}


def cli(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "glancevad", *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode:
        raise AssertionError(proc.stderr[-3000:])
    return proc


@pytest.mark.parametrize("grid", list(GRIDS))
def test_each_grid_runs_at_small_budget(grid, tiny_root, tmp_path):
    out = tmp_path / grid
    printed = cli("experiment", grid, "--data", tiny_root, "--out", out, "--budget", "small", *FAST).stdout
    assert str(out / "table.md") in printed.replace("\n", "")
    with open(out / "table.csv") as handle:
        rows = list(csv.DictReader(handle))
    cells = grid_cells(grid)
    expected = len(cells) + (3 if grid == "networks" else 0)  # + gain rows
    assert [r["checkpoint"] for r in rows] == ["best"] * expected + ["last"] * expected
    for checkpoint in ("best", "last"):
        assert [r["key"] for r in rows if r["checkpoint"] == checkpoint][: len(cells)] == [c.key for c in cells]
    for row in rows:
        for metric in ("auc", "auc_a", "ap", "ap_a", "far"):
            assert math.isfinite(float(row[f"{metric}_mean"])), (row["key"], metric)
    table = (out / "table.md").read_text()
    assert "## best.pt (selected on validation)" in table and "## last.pt (the last step)" in table
    assert (out / "figures" / f"{grid}.png").stat().st_size > 1000
    for cell in cells:
        best = json.loads((out / "runs" / cell.key / "seed0" / "test" / "metrics.json").read_text())
        last = json.loads((out / "runs" / cell.key / "seed0" / "test" / "last" / "metrics.json").read_text())
        assert last["step"] == 2 and best["checkpoint"].endswith("best.pt")


def test_grid_resumes_and_skips_finished_runs(tiny_root, tmp_path):
    out = tmp_path / "kernels"
    run_grid("kernels", tiny_root, out, seeds=1, budget="small", overrides=FAST_OVERRIDES)
    done = out / "runs" / "normal" / "seed0" / "test" / "metrics.json"
    stamp = done.stat().st_mtime_ns
    # an interrupted run: its test output and summary are gone, its last checkpoint stays
    cauchy = out / "runs" / "cauchy" / "seed0"
    (cauchy / "test" / "metrics.json").unlink()
    (cauchy / "summary.json").unlink()
    _, results = run_grid("kernels", tiny_root, out, seeds=1, budget="small", overrides=FAST_OVERRIDES)
    assert done.stat().st_mtime_ns == stamp
    assert (cauchy / "test" / "metrics.json").exists()
    assert set(results) == {("normal", 0), ("cauchy", 0), ("laplace", 0)}


def test_parallel_runs_and_seeds(tiny_root, tmp_path):
    out = tmp_path / "par"
    cli("experiment", "kernels", "--data", tiny_root, "--out", out, "--seeds", "2", "--parallel", "2", *FAST)
    with open(out / "table.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["n"] for r in rows] == ["2"] * 6
    assert "± " in (out / "table.md").read_text() or all(float(r["auc_std"]) == 0 for r in rows)


def test_reports_of_a_grid_and_a_run(tiny_root, tmp_path):
    from glancevad.experiments.tables import tabulate_grid

    out = tmp_path / "net"
    cells, results = run_grid("networks", tiny_root, out, seeds=1, budget="small", overrides=FAST_OVERRIDES)
    tabulate_grid(out, "networks", cells, results, dataset_name="synthetic", seeds=1)
    printed = cli("report", out).stdout
    page = (out / "report.html").read_text()
    assert str(out / "report.html") in printed.replace("\n", "")
    assert "paper Fig. 5" in page and page.count("data:image/png;base64,") >= 4
    assert "Mined share over training" in page        # the glance runs log it
    assert f"{true_anomalous_share(tiny_root):.2f} of the abnormal training videos' frames" in page
    run_page = cli("report", out / "runs" / "urdmu-glance" / "seed0").stdout
    assert "report.html" in run_page
    html = (out / "runs" / "urdmu-glance" / "seed0" / "report.html").read_text()
    assert "Test metrics" in html and "Configuration" in html and "data:image/png;base64," in html
    assert "<td>best.pt</td>" in html and "<td>last.pt</td>" in html
    note = json.loads((out / "runs" / "urdmu-glance" / "seed0" / "summary.json").read_text())["selection_note"]
    assert note is None or note in html     # a run whose evaluations tied says so on its page
    bad = cli("report", tmp_path, check=False)
    assert bad.returncode == 2 and "neither a run folder" in bad.stderr


def test_true_anomalous_share_from_training_ground_truth(tiny_root, tmp_path):
    raw = json.loads((tiny_root / "synthetic_train_ground_truth.json").read_text())
    per_video = [sum(e["labels"]) / len(e["labels"]) for e in raw.values() if any(e["labels"])]
    assert len(per_video) >= 2
    assert true_anomalous_share(tiny_root) == pytest.approx(sum(per_video) / len(per_video))
    assert true_anomalous_share(tmp_path) is None     # not a dataset: the figure goes without the line


def test_paper_figures_are_stored_for_the_tables():
    assert paper_results("networks")["rows"]["urdmu-glance"]["ucf-crime"]["auc"] == 91.96
    assert paper_results("supervision-mix")["rows"]["w25-g75"]["xd-violence"]["ap_a"] == 89.40
    assert len(paper_results("supervision-mix")["rows"]) == 11
    keys = {c.key for c in grid_cells("ablation")}
    swept = {k for k in keys if "-t0." in k}                  # the fixed-threshold sweep: no published figure
    assert keys - swept == set(paper_results("ablation")["rows"]) and len(swept) == 4


def test_unknown_grid_is_a_clear_error(tiny_root, tmp_path):
    proc = cli("experiment", "tables", "--data", tiny_root, "--out", tmp_path, check=False)
    assert proc.returncode == 2 and "unknown experiment 'tables'; experiments: networks" in proc.stderr


def test_experiment_refuses_a_second_data_root(tiny_root, tmp_path):
    """click keeps the last of a repeated option; experiment runs on one root, so a second is refused."""
    proc = cli("experiment", "kernels", "--data", tiny_root, "--data", tmp_path, "--out", tmp_path / "g", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--data: experiment takes one dataset root, got 2" in proc.stderr and not (tmp_path / "g").exists()


def test_selection_study_at_tiny_size(tiny_root, tmp_path):
    out = tmp_path / "selection"
    printed = cli("experiment", "selection", "--data", tiny_root, "--out", out, "--seeds", "2",
                  "--set", "steps=6", "--set", "eval_every=2", "--set", "min_mining_step=3", *FAST[2:]).stdout
    assert str(out / "selection.md") in printed.replace("\n", "")
    with open(out / "selection.csv") as handle:
        rows = list(csv.DictReader(handle))
    checkpoints = ["glance_auc", "glance_auc-alarm", "video_auc", "heldout_bce", "glance_margin",
                   "glance_auc (any step)", "glance_auc-alarm (ties: later)", "glance_auc-alarm (ties: heldout_bce)"]
    averages = ["EMA (decay 0.99)", "SWA (second half)"]
    references = ["last.pt", "oracle (best on test)"]
    assert [r["rule"] for r in rows] == (checkpoints + averages + references) * 2
    assert {r["supervision"] for r in rows} == {"glance", "weak"}
    by = {(r["supervision"], r["rule"]): r for r in rows}
    for sup in ("glance", "weak"):
        assert float(by[(sup, "last.pt")]["step_mean"]) == 6
        oracle = float(by[(sup, "oracle (best on test)")]["auc_mean"])
        # every rule picks one of the traced checkpoints, so none beats the oracle (per seed too);
        # the averages are weights no checkpoint holds, tested at the last step
        assert all(float(by[(sup, name)]["auc_mean"]) <= oracle + 1e-9 for name in checkpoints + references)
        assert all(float(by[(sup, name)]["step_mean"]) == 6 for name in averages)
        assert float(by[(sup, "glance_auc")]["step_mean"]) >= (4 if sup == "glance" else 2)
    averaged = json.loads((out / "runs" / "glance" / "seed0" / "averages.json").read_text())
    assert set(averaged) == set(averages) and all(0 <= averaged[name]["auc"] <= 1 for name in averages)
    trace = (out / "runs" / "glance" / "seed0" / "test_trace.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in trace] == [2, 4, 6]
    assert (out / "selection.png").stat().st_size > 1000


def test_plateau_study_at_tiny_size(tiny_root, tmp_path):
    out = tmp_path / "plateau"
    printed = cli("experiment", "plateau", "--data", tiny_root, "--out", out, "--seeds", "1", "--preset", "demo",
                  "--set", "steps=6", "--set", "eval_every=2", *FAST[2:6], *FAST[8:]).stdout
    assert str(out / "plateau.md") in printed.replace("\n", "")
    with open(out / "plateau.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["model"], r["supervision"]) for r in rows] == [
        (m, s) for m in ("mil", "rtfm", "urdmu") for s in ("weak", "glance")]
    assert all(int(r["plateau_step"]) in (2, 4, 6) and int(r["horizon"]) == 6 for r in rows)
    budgets = {r["model"]: max(int(x["plateau_step"]) for x in rows if x["model"] == r["model"]) for r in rows}
    for r in rows:   # best.pt at the budget: one of the traced evaluations up to it; twice it: past 6 unless 2 -> 4
        run = out / "runs" / f"{r['model']}-{r['supervision']}" / "seed0"
        trace = [json.loads(line) for line in (run / "test_trace.jsonl").read_text().splitlines()]
        assert [t["step"] for t in trace] == [2, 4, 6]
        budget = budgets[r["model"]]
        assert any(abs(100 * t["auc"] - float(r["budget_auc"])) < 1e-6 for t in trace if t["step"] <= budget)
        assert (r["double_auc"] == "nan") == (2 * budget > 6)
    text = (out / "plateau.md").read_text()
    assert "Steps every run of a network needs (the latest plateau): mil " in text
    assert "Runs whose best.pt at the budget tests within 1 AUC point of twice the budget: " in text
    assert (out / "plateau.png").stat().st_size > 1000


def test_assisted_study_at_tiny_size(tiny_root, tmp_path):
    from glancevad.data.groundtruth import read_ground_truth
    from glancevad.intervals import label_intervals

    out = tmp_path / "assisted"
    printed = cli("experiment", "assisted", "--data", tiny_root, "--out", out, "--budget", "small", *FAST).stdout
    assert str(out / "assisted.md") in printed.replace("\n", "")
    with open(out / "label_efficiency.csv") as handle:
        rows = list(csv.DictReader(handle))
    # 8 abnormal training videos, 2 held out for validation: 10 / 25 / 50 / 100 % of 6 = 1 / 2 / 3 / 6 videos
    assert [(r["fraction"], r["strategy"], r["videos"]) for r in rows] == [
        ("0.0", "none", "0"), ("0.1", "random", "1"), ("0.1", "select", "1"), ("0.25", "random", "2"),
        ("0.25", "select", "2"), ("0.5", "random", "3"), ("0.5", "select", "3"), ("1.0", "random", "6"),
        ("1.0", "select", "6")]
    assert all(math.isfinite(float(r["auc"])) and math.isfinite(float(r["auc_a"])) for r in rows)
    # the select runs glance the top of the weak model's ranking, plus the held-out videos (kept in every run)
    order = (out / "glances" / "select-order-seed0.csv").read_text().split()[1:]
    assert len(order) == 6
    chosen = {line.split(",")[0] for line in (out / "glances" / "select-25-seed0.csv").read_text().split()[1:]}
    random_chosen = {line.split(",")[0] for line in (out / "glances" / "random-25-seed0.csv").read_text().split()[1:]}
    held_out = chosen - set(order)
    assert len(chosen) == 4 and set(order[:2]) <= chosen and len(held_out) == 2 and held_out <= random_chosen
    with open(out / "seek_cost.csv") as handle:
        seek = list(csv.DictReader(handle))
    assert [r["model"] for r in seek] == ["weak", "random-25"]
    gt = read_ground_truth(tiny_root / "synthetic_ground_truth.json")
    intervals = [label_intervals(labels) for labels in gt.values() if labels.any()]
    linear = sum(max(start for start, _ in video) + 1 for video in intervals)  # hand-computed linear playback
    for row in seek:
        assert int(row["linear_frames"]) == linear and int(row["events"]) == sum(map(len, intervals))
        assert int(row["found_at_peaks"]) + int(row["missed"]) == int(row["events"])
        assert float(row["ratio"]) == pytest.approx(int(row["peak_frames"]) / linear)
    with open(out / "criteria.csv") as handle:
        assert [r["criterion"] for r in csv.DictReader(handle)] == ["uncertainty", "disagreement", "coverage"]
    table = (out / "assisted.md").read_text()
    assert "## Seek cost" in table and "## Label efficiency" in table and "## Selection criteria" in table
    for png in ("label_efficiency.png", "seek_cost.png"):
        assert (out / png).stat().st_size > 1000


def test_paper_pools_two_data_seeds_counts_claims_per_seed_and_renders(tiny_root, tmp_path):
    from glancevad.experiments.paper import run_paper
    from glancevad.report import render_paper_report
    from glancevad.synth import synth_config, write_synthetic_dataset

    other = write_synthetic_dataset(tmp_path / "seed4", synth_config("tiny", seed=4))
    out = tmp_path / "paper"
    run_paper([tiny_root, other], out, seeds=1, budget="small", parallel=1, overrides=FAST_OVERRIDES,
              grids=("networks", "ablation"))
    info = json.loads((out / "paper.json").read_text())
    assert info["data_labels"] == ["data", "seed4"] and info["preset"] == "demo" and len(info["caches"]) == 2
    with open(out / "ablation" / "table.csv") as handle:
        pooled = [r for r in csv.DictReader(handle) if r["checkpoint"] == "best"]
    assert {r["n"] for r in pooled} == {"2"}                       # one run per data seed, pooled
    for label in info["data_labels"]:
        with open(out / "per-data" / label / "ablation" / "table.csv") as handle:
            assert {r["n"] for r in csv.DictReader(handle)} == {"1"}
    pooled_info = json.loads((out / "ablation" / "grid.json").read_text())
    assert pooled_info["data"] == [str(tiny_root.resolve()), str(other.resolve())] and pooled_info["seeds"] == 1
    assert (out / "ablation" / "table.md").read_text().startswith(
        "# ablation: mean ± std over 2 data seeds × 1 training seed (2 runs per row), in %")
    holds = json.loads((out / "networks" / "holds.json").read_text())
    assert any(line.startswith("AUC: glance > weak for UR-DMU on ") and line.endswith(" of 2 data seeds")
               for line in holds["last"])
    assert any("best fixed threshold per data seed" in line
               for line in json.loads((out / "ablation" / "holds.json").read_text())["best"])
    page = render_paper_report(out).read_text()
    assert "Settings: this project vs the paper vs the release" in page and "5e-5" in page
    assert "of 2 data seeds" in page and "last.pt (the last step):" in page
