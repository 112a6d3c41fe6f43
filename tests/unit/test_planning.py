"""Before anything trains: the preset a dataset implies, the refused budget, and the estimate."""

from __future__ import annotations

import pytest

from glancevad.data import load_dataset
from glancevad.data.cache import cache_bytes
from glancevad.errors import GlanceVADError
from glancevad.experiments import planning
from glancevad.experiments.planning import (
    SECONDS_PER_RUN,
    TIMED_BATCH,
    DataShape,
    check_budget,
    choose_preset,
    describe_estimate,
    estimate_plan,
    measure_step_seconds,
    run_seconds,
    step_seconds_at,
)
from glancevad.synth import synth_config, write_synthetic_dataset


@pytest.fixture(scope="module")
def ucf_named(tmp_path_factory):
    """A tiny synthetic set shaped and named as UCF-Crime: 10 crops, list files ucf-crime.*.csv."""
    root = tmp_path_factory.mktemp("ucf") / "data"
    return write_synthetic_dataset(root, synth_config("tiny", name="ucf-crime", crops=10, seed=1))


@pytest.mark.parametrize(("name", "given", "expected"), [
    ("ucf-crime", None, "ucf"), ("xd-violence", None, "xd"), ("synthetic", None, "demo"),
    ("anything", None, "demo"), ("ucf-crime", "demo", "demo"),
])
def test_the_preset_follows_the_dataset_name_unless_given(name, given, expected):
    preset, said = choose_preset(name, given)
    assert preset == expected and f"preset {expected}" in said
    assert ("given" in said) == (given is not None)


def test_the_paper_budget_is_refused_on_real_datasets_only():
    for name, preset in (("ucf-crime", "ucf"), ("xd-violence", "xd")):
        with pytest.raises(GlanceVADError, match=f"not of {name}; use --budget full"):
            check_budget("paper", name, preset)
        check_budget("full", name, preset)
    check_budget("paper", "synthetic", "demo")
    with pytest.raises(GlanceVADError) as refused:     # another preset's full budget is not the released one
        check_budget("paper", "ucf-crime", "demo")
    assert str(refused.value).endswith("use --budget full (preset demo's own schedule; the released one is "
                                       "preset ucf's)")


def test_a_run_costs_its_steps_its_validations_and_its_two_tests():
    config = {"model": "mil", "steps": 100, "batch_size": 4, "num_snippets": 10, "eval_every": 25,
              "val_fraction": 0.25, "crop_sampling": "item"}
    shape = DataShape(in_dim=16, crops=3, train_videos=(8, 1), test_snippets=50)
    # a snippet's forward: a third of a step's cost per snippet (2 x 4 items x 10 snippets)
    per_snippet = 0.6 / 3 / (2 * 4 * 10)
    held_out = 2 + 0            # 8 normal videos -> 2; a class of one video keeps it
    by_hand = 100 * 0.6 + (100 // 25) * held_out * 3 * 10 * per_snippet + 2 * 50 * 3 * per_snippet + SECONDS_PER_RUN
    assert run_seconds(config, shape, 0.6) == pytest.approx(by_hand)
    whole_videos = {**config, "crop_sampling": "average"}    # an item is every crop of a video
    fixed = 60 + SECONDS_PER_RUN   # the steps and the run's start-up: the forwards' share is a third
    assert run_seconds(whole_videos, shape, 0.6) - fixed == pytest.approx((run_seconds(config, shape, 0.6) - fixed) / 3)
    assert run_seconds({**config, "val_fraction": 0.0}, shape, 0.6) == pytest.approx(
        100 * 0.6 + 2 * 50 * 3 * per_snippet + SECONDS_PER_RUN)


def test_a_step_is_timed_at_the_runs_shape_with_a_few_items_and_scaled_by_the_batch(monkeypatch):
    timed = []

    def fake(model, precision, *, batch, snippets, dim, crops, threads):
        timed.append((batch, snippets, dim, crops, threads))
        return 0.5

    monkeypatch.setattr(planning, "network_step_seconds", fake)
    measure_step_seconds.cache_clear()
    config = {"model": "urdmu", "precision": "fp32", "batch_size": 64, "num_snippets": 200}
    assert step_seconds_at(config, DataShape(in_dim=1024, crops=10)) == pytest.approx(0.5 * 64 / TIMED_BATCH)
    assert timed == [(TIMED_BATCH, 200, 1024, 1, 1)]        # single crops (item sampling), one thread
    step_seconds_at({**config, "crop_sampling": "average", "batch_size": 2}, DataShape(in_dim=1024, crops=10))
    assert timed[-1] == (2, 200, 1024, 10, 1)                # whole videos, a small batch as it is
    measure_step_seconds.cache_clear()


@pytest.mark.parametrize("model", ["mil", "urdmu"])
def test_a_step_is_timed_here_in_the_runs_precision(model, monkeypatch):
    import glancevad.runtime

    measure_step_seconds.cache_clear()
    monkeypatch.setattr(glancevad.runtime, "fast_bf16", lambda device: False)
    seconds = measure_step_seconds(model, "auto")   # auto is fp32 here: timed as one
    assert 0 < seconds < 60
    assert measure_step_seconds(model, "auto") == seconds   # timed once per process
    measure_step_seconds.cache_clear()


def test_the_estimate_of_a_ucf_named_set_picks_ucf_and_counts_one_cache(ucf_named, tmp_path, monkeypatch):
    from glancevad.experiments.paper import plan_paper

    preset, _ = choose_preset(load_dataset(ucf_named).name, None)
    plan = plan_paper(ucf_named, tmp_path, preset=preset, seeds=1, budget="full",
                      grids=("networks", "perturbation", "supervision-mix"))
    assert {s.config["num_snippets"] for s in plan.unique} == {200}          # the ucf preset's N
    assert {s.config["batch_size"] for s in plan.unique} == {64}
    costs = {"mil": 0.05, "rtfm": 0.2, "urdmu": 0.3}
    shapes = []

    def timed(config, shape):
        shapes.append(shape)
        return costs[config["model"]]

    monkeypatch.setattr(planning, "step_seconds_at", timed)
    estimate = estimate_plan(plan.unique, parallel=2)
    dataset = load_dataset(ucf_named)
    assert estimate.cache_bytes == cache_bytes(len(dataset.train), 10, 200, 16)   # one cache for every glance file
    assert estimate.runs == len(plan.unique) and estimate.steps == 1500 * len(plan.unique)
    shape = shapes[0]   # the data's own: read from its feature headers
    assert (shape.in_dim, shape.crops) == (16, 10) and sum(shape.train_videos) == len(dataset.train)
    assert shape.test_snippets == sum(len(dataset.load_features(v)) for v in dataset.test)
    by_hand = sum(run_seconds(s.config, shape, costs[s.config["model"]]) for s in plan.unique)
    assert estimate.cpu_seconds == pytest.approx(by_hand)
    assert estimate.run_bytes > 0
    lines = describe_estimate(estimate)
    assert lines[0].startswith(f"runs: {len(plan.unique)} ")
    assert lines[2].startswith("disk: ") and "training cache" in lines[2] and "checkpoints" in lines[2]


def test_experiment_states_the_preset_and_disk_before_training(ucf_named, tmp_path):
    from glancevad.experiments.registry import run_experiment

    said: list[str] = []

    class Stop(Exception):
        pass

    def on_settings(lines):
        said.extend(lines)
        raise Stop  # nothing has trained yet

    with pytest.raises(Stop):
        run_experiment("perturbation", ucf_named, tmp_path / "grid", budget="full", seeds=1, on_settings=on_settings)
    assert said[0].startswith("preset ucf (from the dataset's name 'ucf-crime'")
    assert any(line.startswith("disk: ") for line in said)
    assert not (tmp_path / "grid" / "runs").exists()


def test_paper_command_on_ucf_named_data_refuses_the_paper_budget(ucf_named, tmp_path):
    from cli_helpers import assert_user_error, run

    proc = run("paper", "--data", ucf_named, "--out", tmp_path / "paper", check=False)
    assert_user_error(proc, "--budget paper is the plateau of the demo-sized synthetic data", "use --budget full")
    assert not (tmp_path / "paper").exists()
    proc = run("experiment", "kernels", "--data", ucf_named, "--out", tmp_path / "grid", "--budget", "paper",
               check=False)
    assert_user_error(proc, "use --budget full (the released schedule of preset ucf)")


def test_on_a_published_dataset_the_grid_adds_the_authors_best_on_test_row(ucf_named, tmp_path):
    import csv

    from glancevad.experiments.runner import TEST_TRACE, best_on_test, run_grid
    from glancevad.fileio import read_jsonl

    fast = {"steps": 4, "batch_size": 2, "num_snippets": 16, "eval_every": 2, "val_fraction": 0.25,
            "precision": "fp32", "min_mining_step": 2}
    cells, results = run_grid("kernels", ucf_named, tmp_path / "grid", preset="ucf", seeds=1, budget="full",
                              overrides=fast)
    for (key, seed), metrics in results.items():
        trace = read_jsonl(tmp_path / "grid" / "runs" / key / f"seed{seed}" / TEST_TRACE)
        assert [r["step"] for r in trace] == [2, 4]
        top = max(r["auc"] for r in trace)                         # UCF-Crime's metric
        assert metrics["oracle"]["auc"] == top and metrics["oracle"]["step"] == min(
            r["step"] for r in trace if r["auc"] == top)
    from glancevad.experiments.tables import tabulate_grid

    tabulate_grid(tmp_path / "grid", "kernels", cells, results, dataset_name="ucf-crime", seeds=1)
    with open(tmp_path / "grid" / "table.csv") as handle:
        assert {r["checkpoint"] for r in csv.DictReader(handle)} == {"best", "last", "oracle"}
    assert "best on test (the authors' protocol" in (tmp_path / "grid" / "table.md").read_text()
    assert best_on_test([{"step": 2, "ap": 0.5}, {"step": 4, "ap": 0.5}], "ap")["step"] == 2


def test_synthetic_data_has_no_best_on_test_row(tiny_root, tmp_path):
    from glancevad.experiments.runner import TEST_TRACE, run_grid

    fast = {"steps": 2, "batch_size": 2, "num_snippets": 16, "eval_every": 2, "val_fraction": 0.25,
            "precision": "fp32"}
    _, results = run_grid("kernels", tiny_root, tmp_path / "grid", seeds=1, budget="full", overrides=fast)
    assert all(set(m) == {"best", "last"} for m in results.values())
    assert not list((tmp_path / "grid").rglob(TEST_TRACE))


@pytest.mark.parametrize("command", ["paper", "experiment"])
def test_the_preset_help_is_read_from_the_dataset_map(command, capsys, monkeypatch):
    from glancevad.cli import main
    from glancevad.config import list_presets
    from glancevad.presets import DATASET_PRESETS, SYNTHETIC_PRESET

    monkeypatch.setenv("COLUMNS", "400")   # one line an option
    main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"Training preset: {', '.join(list_presets())}." in text
    assert all(f"{name}: {preset}" in text for name, preset in DATASET_PRESETS.items())
    assert f"anything else: {SYNTHETIC_PRESET})" in text
