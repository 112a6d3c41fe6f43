"""A run folder stays consistent through kills and concurrent starts; resume checks what it reads."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from glancevad.config import resolve_config
from glancevad.engine.checkpoint import read_checkpoint
from glancevad.engine.run import train
from glancevad.engine.run_folder import RunLock, remove_stale_temporaries
from glancevad.errors import GlanceVADError
from glancevad.synth import synth_config, write_synthetic_dataset

ARGS = ["--batch-size", "2", "--precision", "fp32", "--set", "num_snippets=16", "--set", "eval_every=3",
        "--set", "log_every=1", "--set", "val_fraction=0.25", "--set", "min_mining_step=2"]


def cli(*args, check=True, **kw):
    proc = subprocess.run([sys.executable, "-m", "glancevad", *map(str, args)], capture_output=True, text=True, **kw)
    if check and proc.returncode:
        raise AssertionError(proc.stderr)
    return proc


def test_a_kill_at_the_best_link_is_repaired_on_resume(tiny_root, tmp_path):
    """SIGKILL exactly between writing last.pt and linking best.pt (the second time it happens)."""
    run = tmp_path / "run"
    killer = (
        "import os, signal, sys\n"
        "import glancevad.engine.callbacks as t\n"
        "calls = []\n"
        "real = t.link_checkpoint\n"
        "def link(src, dst):\n"
        "    calls.append(1)\n"
        "    if len(calls) == 2: os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return real(src, dst)\n"
        "t.link_checkpoint = link\n"
        "from glancevad.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    # without validation videos every evaluation links best.pt, so the second link comes at step 6
    args = ["train", "--data", tiny_root, "--out", run, "--steps", "12", "--cache-dir", tmp_path / "cache", *ARGS,
            "--set", "val_fraction=0"]
    proc = subprocess.run([sys.executable, "-c", killer, *map(str, args)], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    recorded = read_checkpoint(run / "last.pt")
    assert recorded["best"]["step"] == recorded["step"]                    # last.pt says: I am the best
    assert read_checkpoint(run / "best.pt")["step"] != recorded["step"]     # best.pt was not linked
    cli("train", "--data", tiny_root, "--resume", run, "--cache-dir", tmp_path / "cache")
    summary = json.loads((run / "summary.json").read_text())
    assert read_checkpoint(run / "best.pt")["step"] == summary["best"]["step"]


def test_two_trains_into_one_folder_one_is_refused(tiny_root, tmp_path):
    run = tmp_path / "run"
    common = ["train", "--data", tiny_root, "--cache-dir", tmp_path / "cache", *ARGS]
    cli(*common, "--out", tmp_path / "warm", "--steps", "1")   # build the cache first
    args = [*common, "--out", run, "--steps", "40"]
    first = subprocess.Popen([sys.executable, "-m", "glancevad", *map(str, args)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (run / ".lock").exists() or not (run / ".lock").read_text().strip():
        assert time.time() < deadline and first.poll() is None
        time.sleep(0.02)
    second = cli(*args, check=False)
    first.communicate()
    assert first.returncode == 0
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert f"another glancevad process (pid {first.pid}) is training in this run folder" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines() if "loss" in line]
    assert steps == list(range(1, 41))                                        # one run's log, not two


def test_lock_is_exclusive_and_released_on_exit(tmp_path):
    # (a SIGKILLed owner releases it too: the kill test above resumes in the same folder)
    with RunLock(tmp_path / "run"), pytest.raises(GlanceVADError, match="another glancevad process"), \
            RunLock(tmp_path / "run"):
        pass
    with RunLock(tmp_path / "run"):   # free again
        pass
    (tmp_path / "file").write_text("x")
    with pytest.raises(GlanceVADError, match="not a folder"), RunLock(tmp_path / "file"):
        pass


def test_stale_temporary_files_are_removed_on_the_next_start(tiny_root, tmp_path):
    run = tmp_path / "run"
    cfg = resolve_config(None, {"steps": 3, "batch_size": 2, "num_snippets": 16, "eval_every": 3,
                                "val_fraction": 0.25, "precision": "fp32"})
    train(cfg, tiny_root, run, cache_dir=tmp_path / "cache")
    assert not list(run.glob(".*.tmp")) and not list(run.glob(".*.link"))   # a clean exit leaves none
    (run / ".last.pt.abc123.tmp").write_bytes(b"x" * 1000)
    (run / ".best.pt.link").write_bytes(b"x")
    train(None, tiny_root, run, resume=True, steps=6, cache_dir=tmp_path / "cache")
    assert not list(run.glob(".*.tmp")) and not list(run.glob(".*.link"))
    assert remove_stale_temporaries(run) == []


def test_resume_checks_what_it_reads(tiny_root, tmp_path):
    run = tmp_path / "run"
    base = ["train", "--data", tiny_root, "--cache-dir", tmp_path / "cache"]
    cli(*base, "--out", run, "--steps", "3", *ARGS)
    log = run / "metrics.jsonl"
    log.write_text(log.read_text() + '{"step": 3, "lo')                      # torn by a kill
    proc = cli(*base, "--resume", run, "--steps", "4")
    assert f"warning: {log}: dropped a torn last line" in proc.stderr.replace("\n", "")
    assert all(json.loads(line) for line in log.read_text().splitlines())
    recorded = (run / "config.yaml").read_text()
    proc = cli(*base, "--resume", run, "--steps", "2", check=False)
    assert proc.returncode == 2 and "--steps 2 is fewer than the 4 steps it has trained" in proc.stderr
    proc = cli(*base, "--resume", run, "--model", "rtfm", "--seed", "0", "--set", "alpha=0.5", check=False)
    assert proc.returncode == 2 and "keeps the config it recorded; drop --model, --seed, --set" in proc.stderr
    assert (run / "config.yaml").read_text() == recorded and "steps: 4" in recorded
    (run / "config.yaml").write_text("{{{ not yaml")
    proc = cli(*base, "--resume", run, check=False)
    assert proc.returncode == 2 and f"{run / 'config.yaml'}: not a readable run configuration" in proc.stderr
    (run / "config.yaml").write_text("alpha: -1\n")
    proc = cli(*base, "--resume", run, check=False)
    assert proc.returncode == 2 and "config.yaml: config: alpha must lie in (0, 1]" in proc.stderr


def test_resume_with_other_data_is_refused(tiny_root, tmp_path):
    run = tmp_path / "run"
    other = write_synthetic_dataset(tmp_path / "wide", synth_config("tiny", dim=24, seed=3))
    cfg = resolve_config(None, {"steps": 3, "batch_size": 2, "num_snippets": 16, "eval_every": 3,
                                "val_fraction": 0.25, "precision": "fp32"})
    train(cfg, tiny_root, run, cache_dir=tmp_path / "cache")
    with pytest.raises(GlanceVADError, match=f"{other}: not the training set this run was trained on"):
        train(None, other, run, resume=True, steps=6, cache_dir=tmp_path / "cache")
    (run / "data.json").unlink()   # a run from before runs recorded their data: the checkpoint still says no
    with pytest.raises(GlanceVADError, match=r"last.pt: the run was trained on 16-d features, the data has 24-d"):
        train(None, other, run, resume=True, steps=6, cache_dir=tmp_path / "cache")
    with pytest.raises(GlanceVADError, match="does not record its dataset .* pass --data"):
        train(None, None, run, resume=True, steps=6)


def test_resume_alone_continues_on_the_recorded_data_and_a_moved_copy_is_accepted(tiny_root, tmp_path):
    import shutil

    data = Path(shutil.copytree(tiny_root, tmp_path / "data"))
    run = tmp_path / "run"
    cli("train", "--data", data, "--out", run, "--cache-dir", tmp_path / "cache", "--steps", "3", *ARGS)
    record = json.loads((run / "data.json").read_text())
    assert record["data"] == str(data) and record["cache_dir"] == str(tmp_path / "cache")
    cli("train", "--resume", run, "--steps", "4")              # no --data: the recorded one
    assert read_checkpoint(run / "last.pt")["step"] == 4
    assert len(list((tmp_path / "cache").iterdir())) == 1 and not (run / "cache").exists()   # the recorded cache
    moved = data.rename(tmp_path / "moved")
    proc = cli("train", "--resume", run, "--steps", "5", check=False)
    assert proc.returncode == 2 and f"trained on {data}, which is not there any more" in proc.stderr
    cli("train", "--resume", run, "--data", moved, "--steps", "5")    # same content elsewhere: fine
    assert json.loads((run / "data.json").read_text())["data"] == str(moved)
    cli("train", "--resume", run, "--steps", "6")                    # and remembered there
    glances = moved / "synthetic_glance_annotations.csv"
    glances.write_text("\n".join(glances.read_text().splitlines()[:-1]) + "\n")   # one glance fewer
    proc = cli("train", "--resume", run, "--steps", "7", check=False)
    assert proc.returncode == 2 and f"{moved}: not the training set this run was trained on" in proc.stderr
    assert read_checkpoint(run / "last.pt")["step"] == 6


@pytest.mark.parametrize(("args", "message"), [
    (["--device", "tpu"], "config: device: unknown device 'tpu' (auto, cpu, cuda, cuda:1 ...)"),
    (["--seed", "-1"], "--seed must lie in [0, 4294967295], got -1"),          # numpy refused it with a traceback
    (["--model", "resnet"], "--model must be one of mil, rtfm, urdmu, got 'resnet'"),
    (["--batch-size", "500"], "batch_size 500 is larger than the 14 normal training items"),
])
def test_device_seed_model_and_batch_are_checked_before_the_run_folder_is_made(tiny_root, tmp_path, args, message):
    proc = cli("train", "--data", tiny_root, "--out", tmp_path / "run", *args, check=False)
    lines = proc.stderr.splitlines()   # no empty line (the progress bar) before it
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"error: {message}"), proc.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("override", "message"), [
    ("weight_decay=-1", "weight_decay must be >= 0, got -1"),
    ("alpha=-1", "alpha must lie in (0, 1], got -1"),
    ("alpha=.nan", "alpha must lie in (0, 1], got nan"),
    ("width=0", "width must be a positive number, got 0"),
    ("lr=.inf", "lr must be a positive number, got inf"),
    ("abnormal_mil_weight=-2", "abnormal_mil_weight must be >= 0"),
    ("fixed_threshold=1.5", "fixed_threshold must lie in [0, 1]"),
    ("min_mining_step=-1", "min_mining_step must be >= 0"),
    ("model_kwargs.dropuot=0.3", "model 'urdmu': URDMU.__init__() got an unexpected keyword argument 'dropuot'"),
    ("loss.rtfm.sparsity=l1", "loss.rtfm.sparsity must be one of release, paper, none, got 'l1'"),
    ("loss.rtfm.spars=none", "loss.rtfm.spars: not a loss setting of 'rtfm'; its settings: topk, bce, sparsity"),
    ("mining_scores=test", "mining_scores must be one of auto, train, eval, got 'test'"),
])
def test_config_values_are_checked_by_range_before_any_work(tiny_root, tmp_path, override, message):
    proc = cli("train", "--data", tiny_root, "--out", tmp_path / "run", "--set", override, check=False)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args", [
    ["glances", "perturb", "x.csv", "--out", "y.csv", "--max-shift", "-5"],
    ["train", "--data", ".", "--out", "r", "--crop-sampling", "crops"],
    ["nosuchcommand"],
])
def test_parameter_errors_are_one_error_line(args, tmp_path):
    proc = cli(*args, check=False, cwd=tmp_path, env={"COLUMNS": "40", "PATH": "/usr/bin:/bin"})
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
