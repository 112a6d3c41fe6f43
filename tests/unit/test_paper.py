"""The pieces of ``glancevad paper``: plateau detection, run sharing, the estimate, the statements."""

from __future__ import annotations

import math
import random
import warnings
from pathlib import Path

import pytest

from glancevad.errors import GlanceVADError
from glancevad.experiments.grid_analysis import glance_gain_statement, optimum_statement
from glancevad.experiments.grids import grid_cells
from glancevad.experiments.holds import ordering_statement
from glancevad.experiments.paper import PAPER_GRIDS, data_labels, plan_paper, resolve_roots
from glancevad.experiments.planning import SECONDS_PER_RUN, estimate_specs
from glancevad.experiments.plateau import plateau_step, suggested_steps
from glancevad.experiments.runner import RunSpec, budget_steps, run_digest


@pytest.mark.parametrize(("values", "window", "expected"), [
    ([0.5, 0.8, 0.9, 0.9], 1, 75),          # rises, then flat from step 75
    ([0.5, 0.8, 0.9, 0.9], 3, 100),         # the 3-evaluation mean still rises until the end
    ([0.9, 0.95, 0.9, 0.9], 1, 50),         # a peak: nothing after step 50 beats it
    ([0.9, 0.905, 0.9, 0.9], 1, 25),        # gains within the tolerance count as flat
    ([math.nan, 0.3, 0.8, 0.8], 1, 75),     # undefined scores count as 0
])
def test_plateau_step_hand_computed(values, window, expected):
    assert plateau_step([25, 50, 75, 100], values, window=window, tolerance=0.01) == expected


def test_plateau_step_equals_a_brute_force_loop():
    rng = random.Random(0)
    for _ in range(200):
        values = [rng.random() for _ in range(rng.randint(1, 12))]
        steps = [25 * (i + 1) for i in range(len(values))]
        window, tolerance = rng.randint(1, 4), rng.choice([0.0, 0.01, 0.1])
        smooth = [sum(values[max(0, i - window + 1): i + 1]) / len(values[max(0, i - window + 1): i + 1])
                  for i in range(len(values))]
        expected = next(steps[i] for i in range(len(values))
                        if all(smooth[j] - smooth[i] <= tolerance + 1e-12 for j in range(i, len(values))))
        assert plateau_step(steps, values, window=window, tolerance=tolerance) == expected


def test_suggested_steps_is_the_latest_plateau_per_network():
    rows = [{"model": "mil", "plateau_step": 100}, {"model": "mil", "plateau_step": 250},
            {"model": "urdmu", "plateau_step": 75}]
    assert suggested_steps(rows) == {"mil": 250, "urdmu": 75}


def test_run_digest_names_equal_runs_alike(tmp_path):
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    a.write_text("video-id,glance\nv,3\n")
    b.write_text("video-id,glance\nv,3\n")
    c.write_text("video-id,glance\nv,4\n")
    config = {"model": "urdmu", "supervision": "glance", "seed": 0, "steps": 10, "glance_csv": str(a)}
    assert run_digest(config, tmp_path) == run_digest(dict(config), tmp_path)
    assert run_digest(config, tmp_path) == run_digest({**config, "glance_csv": str(b)}, tmp_path)
    assert run_digest(config, tmp_path) != run_digest({**config, "glance_csv": str(c)}, tmp_path)
    assert run_digest(config, tmp_path) != run_digest({**config, "seed": 1}, tmp_path)
    assert run_digest(config, tmp_path) != run_digest(config, tmp_path / "other")
    assert run_digest(config, tmp_path).startswith("urdmu-glance-s0-")


def test_the_paper_shares_exactly_the_equal_settings(tiny_root, tmp_path):
    plan = plan_paper(tiny_root, tmp_path, preset="demo", seeds=2, budget="paper")
    assert list(plan.grids) == list(PAPER_GRIDS)
    assert len(plan.specs) == 2 * sum(len(grid_cells(g)) for g in PAPER_GRIDS) == 84
    by_dir: dict[str, set[tuple[str, str]]] = {}
    for grid, (_, specs) in plan.grids.items():
        for spec in specs:
            by_dir.setdefault(spec.run_dir, set()).add((grid, spec.cell_key))
    shared = sorted(sorted(members) for members in by_dir.values() if len(members) > 1)
    glance_default = [("ablation", "all"), ("kernels", "normal"), ("networks", "urdmu-glance"),
                      ("perturbation", "shift-0"), ("sensitivity", "rg-0.1")]
    weak_default = [("ablation", "baseline"), ("networks", "urdmu-weak")]
    assert shared == sorted([glance_default, glance_default, weak_default, weak_default])  # one per seed
    assert len(plan.unique) == 84 - 2 * 5
    assert all(str(tmp_path / "runs") in spec.run_dir for spec in plan.specs)


def test_paper_budget_steps_per_network_and_overrides_win(tiny_root, tmp_path):
    plan = plan_paper(tiny_root, tmp_path, preset="demo", seeds=1, budget="paper", grids=("networks",))
    steps = {spec.config["model"]: spec.config["steps"] for spec in plan.specs}
    assert steps == budget_steps("paper") == {"mil": 625, "rtfm": 825, "urdmu": 300}
    plan = plan_paper(tiny_root, tmp_path, preset="demo", seeds=1, budget="paper", overrides={"steps": 7},
                      grids=("networks",))
    assert {spec.config["steps"] for spec in plan.specs} == {7}


def test_estimate_counts_only_unfinished_runs(tmp_path):
    def spec(name, model, steps):
        return RunSpec(name, 0, {"model": model, "steps": steps}, "", str(tmp_path / name), "")

    specs = [spec("a", "mil", 100), spec("b", "urdmu", 200), spec("c", "urdmu", 200)]
    (tmp_path / "c" / "test" / "last").mkdir(parents=True)
    (tmp_path / "c" / "test" / "last" / "metrics.json").write_text("{}")
    costs = {"mil": 0.05, "urdmu": 0.3}
    serial = 100 * costs["mil"] + 200 * costs["urdmu"] + 2 * SECONDS_PER_RUN   # no validation or test set here
    for parallel in (1, 2):
        estimate = estimate_specs(specs, parallel=parallel, step_seconds=lambda config, shape: costs[config["model"]])
        assert estimate.wall_seconds == pytest.approx(serial / parallel)


def test_ordering_statement_hand_computed():
    labels = {"a": "A", "b": "B", "c": "C"}
    ours = {"a": (90.0, 1.0), "b": (80.0, 6.0), "c": (85.0, 0.0)}
    text = ordering_statement(ours, {"a": 3.0, "b": 2.0, "c": 1.0}, labels, what="AUC")
    # (a, b) and (a, c) agree, (b, c) does not; |b - c| = 5 < std of b = 6
    assert text == ("AUC: 2 of 3 row pairs ordered as in the paper (1 of all 3 pairs, agreeing or not, differ here "
                    "by less than one seed std); "
                    "best row: paper A, here A. Here: A > C > B.")
    one_seed = {k: (v[0], 0.0) for k, v in ours.items()}
    assert "seed std" not in ordering_statement(one_seed, {"a": 3.0, "b": 2.0, "c": 1.0}, labels, what="AUC")
    assert "nothing to compare" in ordering_statement(ours, {"a": 1.0}, labels, what="AUC")


def test_gain_and_optimum_statements():
    labels = {"mil-weak": "MIL (weak)", "mil-glance": "MIL (glance)", "urdmu-weak": "UR-DMU (weak)",
              "urdmu-glance": "UR-DMU (glance)"}
    ours = {"mil-weak": (80.0, 0.0), "mil-glance": (78.5, 0.0), "urdmu-weak": (85.0, 0.0),
            "urdmu-glance": (90.0, 0.0)}
    assert glance_gain_statement(ours, [], labels, what="AUC") == (
        "AUC: glance beats weak for 1 of 2 networks here (paper: all); gains MIL -1.50, UR-DMU +5.00.")
    cells = grid_cells("sensitivity")
    ours = {cell.key: (50.0, 0.0) for cell in cells}
    ours["rg-0.2"] = (60.0, 0.0)
    ours["alpha-0.7"] = (70.0, 0.0)
    assert optimum_statement(ours, cells, {}, what="AUC") == (
        "AUC: the paper's optimum is r_g = 0.1, alpha = 0.9; here the best points are r_g = 0.2; alpha = 0.7.")
    ours["alpha-0.95"] = (70.0, 0.0)                      # a tie is named, not settled by the cells' order
    assert optimum_statement(ours, cells, {}, what="AUC").endswith(
        "here the best points are r_g = 0.2; alpha tied: 0.7, 0.95.")
    labels = {"a": "A", "b": "B", "c": "C"}
    tie = ordering_statement({"a": (90.0, 0.0), "b": (90.0, 0.0), "c": (80.0, 0.0)}, {"a": 3.0, "b": 2.0, "c": 1.0},
                             labels, what="AUC")
    assert "best row: paper A, here tied: A, B." in tie


def test_paper_command_refuses_bad_input_before_writing(tiny_root, tmp_path):
    from cli_helpers import assert_user_error, run

    out = tmp_path / "paper"
    assert_user_error(run("paper", "--data", tmp_path / "missing", "--out", out, check=False), "missing")
    assert_user_error(run("paper", "--data", tiny_root, "--out", out, "--budget", "huge", check=False),
                      "budget must be one of full, small, paper, got 'huge'")
    (tmp_path / "file").write_text("")
    assert_user_error(run("paper", "--data", tiny_root, "--out", tmp_path / "file", check=False), "is a file")
    (tmp_path / "again").symlink_to(tiny_root)
    assert_user_error(run("paper", "--data", tiny_root, "--data", tmp_path / "again", "--out", out, check=False),
                      f"--data {tiny_root.resolve()} is given twice", "counts as one data seed")
    assert_user_error(run("paper", "--data", tiny_root, "--out", out, "--set", "alpha=7", check=False), "alpha")
    assert not out.exists()


def test_grid_figure_draws_one_bar_per_cell_not_the_gain_rows(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.axes import Axes

    from glancevad.experiments.grid_analysis import gain_rows
    from glancevad.experiments.tables import METRICS, plot_grid

    cells = grid_cells("networks")
    rows = [{"key": c.key, "label": c.label, "n": 3, **{f"{m}_mean": 90.0 + i for m in METRICS},
             **{f"{m}_std": 1.0 for m in METRICS}} for i, c in enumerate(cells)]
    rows += gain_rows(rows)
    assert len(rows) > len(cells)
    drawn = []
    real_bar = Axes.bar
    monkeypatch.setattr(Axes, "bar", lambda self, x, height, *a, **k: drawn.append(list(height))
                        or real_bar(self, x, height, *a, **k))
    (path,) = plot_grid(tmp_path, "networks", cells, rows)
    assert path.exists() and drawn and all(len(heights) == len(cells) for heights in drawn)


def test_mined_share_traces_average_seeds_over_the_steps_they_share(tmp_path):
    import json

    from glancevad.experiments.traces import mined_share_traces

    def log(name: str, records: list[dict]) -> str:
        run = tmp_path / name
        run.mkdir()
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        return str(run)

    s0 = log("s0", [{"step": 5, "loss": 1, "mined_share": 0.1}, {"step": 5, "val_glance_auc": 0.9},
                    {"step": 10, "loss": 1, "mined_share": math.nan}, {"step": 15, "loss": 1, "mined_share": 0.3},
                    {"step": 25, "loss": 1, "mined_share": math.nan}])
    s1 = log("s1", [{"step": 5, "loss": 1, "mined_share": 0.3}, {"step": 10, "loss": 1, "mined_share": 0.2},
                    {"step": 15, "loss": 1, "mined_share": 0.5}, {"step": 20, "loss": 1, "mined_share": 0.9},
                    {"step": 25, "loss": 1, "mined_share": math.nan}])
    weak = log("weak", [{"step": 5, "loss": 1}])
    info = {"grid": "ablation", "cells": [{"key": "all", "label": "all three"}, {"key": "baseline", "label": "weak"}],
            "runs": {"all": [s0, s1], "baseline": [weak]}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")                        # a step no seed logged is NaN, not a warning
        traces = mined_share_traces(tmp_path, info)
    assert list(traces) == ["all three"]                      # the weak run logs no mined share
    steps, shares = traces["all three"]
    assert steps.tolist() == [5, 10, 15, 25]                  # step 20: only one seed reached it
    assert shares[:3] == pytest.approx([0.2, 0.2, 0.4])       # NaN (no glance item) left out of its step
    assert math.isnan(shares[3])


def test_ablation_sweeps_the_fixed_threshold_of_both_fixed_rows():
    from glancevad.experiments.grids import FIXED_THRESHOLDS

    cells = {c.key: c for c in grid_cells("ablation")}
    assert FIXED_THRESHOLDS[0] == 0.5
    for row in ("mining", "mining-gaussian"):
        keys = [row] + [f"{row}-t{t:g}" for t in FIXED_THRESHOLDS[1:]]
        assert [cells[k].overrides["fixed_threshold"] for k in keys] == list(FIXED_THRESHOLDS)
        assert all(cells[k].overrides["dynamic_threshold"] is False for k in keys)
        assert "assumed" in cells[row].label
    assert "fixed_threshold" not in cells["all"].overrides and cells["all"].overrides["dynamic_threshold"]


def test_data_labels_are_unique_and_safe_folder_names(tmp_path):
    roots = [tmp_path / "a" / "x", tmp_path / "b" / "x", tmp_path / "c" / "x-2"]
    labels = data_labels(roots)
    assert labels == ["x-1", "x-3", "x-2"]                     # x-2 stays the third root's own name
    assert data_labels([tmp_path / "x", tmp_path / "y"]) == ["x", "y"]
    assert data_labels([Path("/"), tmp_path / "root"]) == ["root-1", "root-2"]   # the file-system root
    for parts in (["x", "x", "x-1"], ["x-1", "x", "x"], ["", "", "."], [".", ".."]):
        made = data_labels([(tmp_path / str(i) / part).resolve() for i, part in enumerate(parts)])
        assert len(set(made)) == len(made) and not {"", ".", ".."} & set(made), (parts, made)


def test_data_roots_are_resolved_and_a_root_given_twice_is_refused(tmp_path, monkeypatch):
    data = tmp_path / "work" / "data"
    data.mkdir(parents=True)
    (tmp_path / "link").symlink_to(data)
    monkeypatch.chdir(data)
    assert resolve_roots(["."]) == [data]                      # "." names its folder, never an empty label
    assert data_labels(resolve_roots(["."])) == ["data"]
    monkeypatch.chdir(data / "..")
    assert resolve_roots([".."]) == [tmp_path]                 # ".." is its folder's name, not a way out of --out
    for twice in ([data, data], [data, tmp_path / "link"], [data, tmp_path / "work" / "." / "data"]):
        with pytest.raises(GlanceVADError, match=f"--data {data} is given twice"):
            resolve_roots(twice)


def test_per_data_folders_lie_in_the_paper_folder_and_runs_keep_their_digests(tiny_root, tmp_path):
    """Each data root's grids (and perturbed glances) go to out/per-data/<label>/, not into the data
    root; the run folders depend on the glances' content only, so a folder of the older layout
    (glances in out/<label>/<grid>/glances) finds its finished runs under the same names."""
    store = tmp_path / "paper" / "runs"
    new = plan_paper(tiny_root, tmp_path / "paper" / "per-data" / "data", preset="demo", seeds=1, budget="small",
                     grids=("perturbation",), store=store)
    old = plan_paper(tiny_root, tmp_path / "paper" / "data", preset="demo", seeds=1, budget="small",
                     grids=("perturbation",), store=store)
    glances = [s.config["glance_csv"] for s in new.specs if s.config.get("glance_csv")]
    folder = str(tmp_path / "paper" / "per-data" / "data" / "perturbation" / "glances")
    assert glances and all(g.startswith(folder) for g in glances)
    assert [s.run_dir for s in new.specs] == [s.run_dir for s in old.specs]


def test_the_best_on_test_trace_reads_test_videos_one_at_a_time_memory_mapped(tiny_root, tmp_path, monkeypatch):
    """The hook keeps no test features: each evaluation reads them anew, mapped, one video at a time."""
    import json

    import numpy as np
    import torch

    from glancevad.data import load_dataset
    from glancevad.experiments import selection_study as selection
    from glancevad.models import build

    dataset = load_dataset(tiny_root)
    calls, given = [], []
    real_load, real_score = type(dataset).load_features, selection.score_videos

    def load(self, video, **kwargs):
        calls.append(kwargs.get("mmap"))
        return real_load(self, video, **kwargs)

    def score(model, videos, **kwargs):
        given.append(videos)
        return real_score(model, videos, **kwargs)

    monkeypatch.setattr(type(dataset), "load_features", load)
    monkeypatch.setattr(selection, "score_videos", score)
    hook = selection.trace_callback(dataset, tmp_path / "trace.jsonl", "fp32").hook
    assert calls == []                                      # nothing loaded when the hook is made
    torch.manual_seed(0)
    model = build("mil", in_dim=16)
    hook(5, model, {})
    assert calls == [True] * len(dataset.test)              # each test video read once, memory-mapped
    hook(10, model, {})
    assert len(calls) == 2 * len(dataset.test)              # and again at the next evaluation: none held
    assert all(iter(videos) is videos for videos in given)  # a lazy stream, read as scored, not a list
    trace = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    assert [r["step"] for r in trace] == [5, 10] and np.isfinite(trace[0]["auc"])


def test_the_deviations_table_in_the_docs_is_the_one_make_paper_writes(tmp_path):
    """docs/paper.md shows write_deviations_markdown's table for make paper's settings (the demo
    preset, the paper budget, demo-sized synthetic data), not a hand-edited copy."""
    from glancevad.experiments.deviations import (
        deviation_rows,
        network_rows,
        our_settings,
        write_deviations_markdown,
    )
    from glancevad.synth import synth_config

    demo = synth_config("demo")
    write_deviations_markdown(tmp_path / "deviations.md",
                              deviation_rows(our_settings("demo", "paper", crops=demo.crops, dim=demo.dim)),
                              network_rows("demo", "paper"))
    docs = (Path(__file__).resolve().parents[2] / "docs" / "paper.md").read_text(encoding="utf-8")
    assert (tmp_path / "deviations.md").read_text(encoding="utf-8") in docs


def test_the_network_table_lists_every_loss_setting_with_both_references():
    """Every field of every network's loss settings is a row (its config key named) with the paper's
    and the release's value, and the values a run would use: a --set override shows."""
    import dataclasses

    from glancevad.experiments.deviations import network_rows
    from glancevad.models import get_spec, list_models

    rows = network_rows("demo", "paper", {"loss": {}})
    keyed = {row["setting"]: row for row in rows}
    for name in list_models():
        spec = get_spec(name)
        for f in dataclasses.fields(spec.loss_settings) if spec.loss_settings else ():
            row = next(r for key, r in keyed.items() if key.startswith(f"{spec.label}: ")
                       and f"`loss.{name}.{f.name}`" in key)
            assert row["paper"] and row["release"] and row["ours"]
    assert {f"{get_spec(n).label}: layers" for n in ("mil", "rtfm")} <= set(keyed)
    sparsity = next(r for k, r in keyed.items() if "`loss.rtfm.sparsity`" in k)
    assert sparsity["ours"].startswith("`release`")
    changed = network_rows("demo", "paper", {"loss": {"rtfm": {"sparsity": "none"}}})
    assert next(r for r in changed if "`loss.rtfm.sparsity`" in r["setting"])["ours"].startswith("`none`")


def test_a_pooled_grid_folder_names_every_data_root_in_its_report(tmp_path):
    import json

    from glancevad.report import render_report

    roots = [str(tmp_path / "data-seed1"), str(tmp_path / "data-seed2")]
    grid = tmp_path / "kernels"
    grid.mkdir()
    (grid / "grid.json").write_text(json.dumps({"grid": "kernels", "data": roots, "preset": "demo", "seeds": 1,
                                                "budget": "small", "cells": [], "runs": {}}))
    page = render_report(grid).read_text()
    assert all(f"<code>{root}</code>" in page for root in roots) and "2 data roots × 1 seed(s)" in page
