"""Training end to end on tiny synthetic data: outputs, resumption after SIGKILL, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import torch

from conftest import FIXTURES, needs_fixture
from glancevad.config import resolve_config
from glancevad.engine.checkpoint import read_checkpoint
from glancevad.engine.run import train
from glancevad.errors import GlanceVADError
from glancevad.evaluation import evaluate_checkpoint
from glancevad.runtime import fast_bf16
from glancevad.synth import synth_config, write_synthetic_dataset

TINY = {"batch_size": 2, "num_snippets": 16, "eval_every": 3, "log_every": 1, "val_fraction": 0.25,
        "precision": "fp32", "min_mining_step": 2}


def cli(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "glancevad", *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode:
        raise AssertionError(proc.stderr)
    return proc


def test_train_writes_a_complete_run_folder(tiny_root, tmp_path):
    cfg = resolve_config(None, {**TINY, "steps": 6})
    result = train(cfg, tiny_root, tmp_path / "run")
    run = result.run_dir
    for name in ("config.yaml", "last.pt", "best.pt", "metrics.jsonl", "summary.json"):
        assert (run / name).exists(), name
    assert any((run / "tb").iterdir())
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines if "loss" in r] == [1, 2, 3, 4, 5, 6]
    assert all(np.isfinite(r["loss"]) for r in lines if "loss" in r)
    assert {r["step"] for r in lines if "val_glance_auc" in r} == {3, 6}
    summary = json.loads((run / "summary.json").read_text())
    assert summary["finished"] and summary["best"]["step"] in (3, 6)
    assert "held-out training videos" in summary["selection"]
    state = read_checkpoint(run / "last.pt")
    assert state["step"] == 6 and state["config"]["steps"] == 6


@pytest.mark.parametrize("supervision", ["weak", "glance", "mixed"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_every_supervision_and_precision_trains(tiny_root, tmp_path, supervision, precision):
    cfg = resolve_config(None, {**TINY, "steps": 4, "supervision": supervision, "precision": precision,
                                "glance_fraction": 0.5, "weak_fraction": 0.5})
    result = train(cfg, tiny_root, tmp_path / "run", cache_dir=tmp_path / "cache")
    roles = result.summary["abnormal_roles"]
    if supervision == "weak":
        assert roles["glance"] == 0 and roles["weak"] > 0
    elif supervision == "glance":
        assert roles["weak"] == 0 and roles["glance"] > 0
    else:
        assert roles["weak"] > 0 and roles["glance"] > 0


def test_auto_precision_trains_in_what_the_hardware_runs_fast_and_records_it(tiny_root, tmp_path, monkeypatch):
    import glancevad.runtime

    for units, expected in ((False, "fp32"), (True, "bf16")):
        monkeypatch.setattr(glancevad.runtime, "fast_bf16", lambda device, units=units: units)
        cfg = resolve_config(None, {**TINY, "steps": 2, "precision": "auto"})
        result = train(cfg, tiny_root, tmp_path / expected, cache_dir=tmp_path / "cache")
        assert result.summary["precision"] == expected
        assert read_checkpoint(tmp_path / expected / "last.pt")["config"]["precision"] == expected
        # a resumed run keeps what it recorded, whatever this machine would choose now
        monkeypatch.setattr(glancevad.runtime, "fast_bf16", lambda device, units=units: not units)
        resumed = train(None, tiny_root, tmp_path / expected, resume=True, steps=3)
        assert resumed.summary["precision"] == expected


def test_ablation_switches_change_training(tiny_root, tmp_path):
    finals = {}
    for name, extra in {"default": {}, "binary": {"gaussian": False}, "no_mining": {"mining": False},
                        "fixed": {"dynamic_threshold": False}, "cauchy": {"kernel": "cauchy"}}.items():
        cfg = resolve_config(None, {**TINY, "steps": 5, **extra})
        train(cfg, tiny_root, tmp_path / name, cache_dir=tmp_path / "cache")
        finals[name] = read_checkpoint(tmp_path / name / "last.pt")["model_state"]["cls_head.mlp.2.weight"]
    for name in ("binary", "no_mining", "fixed", "cauchy"):
        assert not torch.equal(finals[name], finals["default"]), name


def test_killed_run_resumes_to_the_same_weights(tiny_root, tmp_path):
    args = ["train", "--data", tiny_root, "--steps", "60", "--batch-size", "2", "--precision", "fp32",
            "--set", "num_snippets=16", "--set", "eval_every=3", "--set", "log_every=1", "--set", "val_fraction=0.25",
            "--cache-dir", tmp_path / "cache"]
    cli(*args, "--out", tmp_path / "straight")
    victim = subprocess.Popen([sys.executable, "-m", "glancevad", *map(str, args), "--out", tmp_path / "killed"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = tmp_path / "killed" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if log.exists() and (tmp_path / "killed" / "last.pt").exists():
            steps = [json.loads(line)["step"] for line in log.read_text().splitlines() if line]
            if steps and max(steps) >= 10:
                break
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    killed_at = read_checkpoint(tmp_path / "killed" / "last.pt")["step"]
    assert 0 < killed_at < 60, killed_at
    cli("train", "--data", tiny_root, "--resume", tmp_path / "killed", "--cache-dir", tmp_path / "cache")
    straight = read_checkpoint(tmp_path / "straight" / "last.pt")
    resumed = read_checkpoint(tmp_path / "killed" / "last.pt")
    assert resumed["step"] == straight["step"] == 60
    for key, value in straight["model_state"].items():
        assert torch.equal(value, resumed["model_state"][key]), key
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines() if "loss" in line]
    assert steps == list(range(1, 61))  # no step logged twice


@needs_fixture("official-urdmu", "urdmu_official_keys.pth")
def test_official_checkpoint_scores_a_1024d_dataset(tmp_path):
    root = write_synthetic_dataset(tmp_path / "d", synth_config("tiny", dim=1024, crops=2))
    metrics = evaluate_checkpoint(FIXTURES / "official-urdmu" / "urdmu_official_keys.pth", root, tmp_path / "out",
                              device=torch.device("cpu"), plots=2)
    assert set(metrics) == {"auc", "ap", "ap_step", "auc_a", "ap_a", "far"}
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert len(scores) == 8 and all(0 <= s <= 1 for v in scores.values() for s in v)
    assert len(list((tmp_path / "out" / "plots").glob("*.png"))) == 2


def test_test_command_on_a_trained_run(tiny_root, tmp_path):
    cfg = resolve_config(None, {**TINY, "steps": 3})
    train(cfg, tiny_root, tmp_path / "run")
    out = cli("test", "--checkpoint", tmp_path / "run" / "best.pt", "--data", tiny_root, "--out", tmp_path / "t").stdout
    assert "auc_a" in out and str(tmp_path / "t") in out.replace("\n", "")
    assert "best.pt" in out and "last.pt" in out
    metrics = json.loads((tmp_path / "t" / "metrics.json").read_text())
    last = json.loads((tmp_path / "t" / "last" / "metrics.json").read_text())
    assert 0 <= metrics["auc"] <= 1 and last["step"] == 3 and last["checkpoint"].endswith("last.pt")
    assert metrics["precision"] == last["precision"] == "fp32"  # test's default, recorded
    out = cli("compare", tmp_path / "t", "--name", "run", "--out", tmp_path / "c").stdout
    assert set(json.loads((tmp_path / "c" / "comparison.json").read_text())) == {"run (best.pt)", "run (last.pt)"}
    cli("test", "--checkpoint", tmp_path / "run" / "last.pt", "--data", tiny_root, "--out", tmp_path / "t2",
        "--precision", "auto")
    assert not (tmp_path / "t2" / "last").exists()  # only a run's best.pt brings its last.pt along
    # auto is recorded as what it resolved to on this machine
    resolved = json.loads((tmp_path / "t2" / "metrics.json").read_text())["precision"]
    assert resolved == ("bf16" if fast_bf16(torch.device("cpu")) else "fp32")


def test_bad_inputs_are_clear_errors(tiny_root, tmp_path):
    from glancevad.models import build

    weights_1024 = tmp_path / "urdmu_1024.pth"  # a bare state dict, as the authors release theirs
    torch.save(build("urdmu", in_dim=1024).state_dict(), weights_1024)
    proc = cli("test", "--checkpoint", weights_1024, "--data", tiny_root, "--out", tmp_path / "x", check=False)
    assert proc.returncode == 2 and "takes 1024-d features" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("train", "--data", tiny_root, "--out", tmp_path / "y", "--set", "alhpa=1", check=False)
    assert proc.returncode == 2 and "unknown key 'alhpa'; valid keys:" in proc.stderr
    proc = cli("train", "--data", tiny_root, "--out", tmp_path / "y", "--model", "resnet", check=False)
    assert proc.returncode == 2 and "--model must be one of mil, rtfm, urdmu, got 'resnet'" in proc.stderr
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    proc = cli("test", "--checkpoint", bad, "--data", tiny_root, "--out", tmp_path / "z", check=False)
    assert proc.returncode == 2 and "not a readable checkpoint" in proc.stderr


def test_a_raw_pickle_checkpoint_is_one_error_line_without_torch_s_warning(tiny_root, tmp_path):
    import pickle

    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps({"w": np.zeros(3)}, protocol=4))
    proc = cli("test", "--checkpoint", raw, "--data", tiny_root, "--out", tmp_path / "z", check=False)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {raw}: not a readable checkpoint (UnpicklingError: Weights only load failed")
    assert "weights_only` set to `False`" not in lines[0]   # torch's advice would run the file's code
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # other warnings still reach the caller: only that one is filtered
        with pytest.raises(GlanceVADError, match="not a readable checkpoint"):
            read_checkpoint(raw)


def test_glance_mode_without_glances_is_an_error(tiny_copy, tmp_path):
    (tiny_copy / "synthetic_glance_annotations.csv").unlink()
    listing = tiny_copy / "synthetic.training.csv"
    ids = listing.read_text().split()[1:]
    listing.write_text("video-id,label\n" + "".join(f"{v},{int(v.startswith('abnormal'))}\n" for v in ids))
    with pytest.raises(GlanceVADError, match="needs glances, but no abnormal training video has one"):
        train(resolve_config(None, {**TINY, "steps": 2}), tiny_copy, tmp_path / "run")
    weak = train(resolve_config(None, {**TINY, "steps": 2, "supervision": "weak"}), tiny_copy, tmp_path / "weak")
    assert weak.summary["finished"]


def test_refuses_to_overwrite_a_run(tiny_root, tmp_path):
    cfg = resolve_config(None, {**TINY, "steps": 2})
    train(cfg, tiny_root, tmp_path / "run")
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (tmp_path / "run").iterdir() if p.is_file()}
    with pytest.raises(GlanceVADError, match="already holds a run; pass --resume"):
        train(cfg, tiny_root, tmp_path / "run")
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (tmp_path / "run").iterdir() if p.is_file()}
    assert after == before  # nothing of the first run was touched


def test_mining_reads_dropout_free_scores_when_asked(tiny_root, tmp_path):
    """``mining_scores: eval`` mines on a forward in eval mode (no dropout, running batch-norm
    statistics) once mining has started; ``train`` (as released) on the training forward's scores."""
    from glancevad.engine.trainer import Trainer

    cfg = resolve_config(None, {**TINY, "model": "rtfm", "mining_scores": "eval", "min_mining_step": 1})
    trainer = Trainer(cfg, tiny_root, tmp_path / "run", cache_dir=tmp_path / "cache")
    trainer.train_step()                                  # step 0: glances only, running statistics move
    x = torch.from_numpy(trainer.cache.crop_rows(np.array([0, 1, 2]), np.array([0, 0, 0])))
    rows = torch.tensor([2, 0])                           # the glance items among the batch's rows
    given = torch.full((2, x.shape[1]), 0.5)
    assert trainer.mining_scores(given, x, rows) is not given and trainer.model.training
    with torch.no_grad():
        expected = trainer.model.eval()(x[rows])
    trainer.model.train()
    torch.testing.assert_close(trainer.mining_scores(given, x, rows), expected)
    trainer.step = 0                                      # during warm-up the glances need no scores
    torch.testing.assert_close(trainer.mining_scores(given, x, rows), given)
    as_released = Trainer(resolve_config(None, {**TINY, "model": "rtfm", "min_mining_step": 1,
                                                "mining_scores": "train"}), tiny_root,
                          tmp_path / "run2", cache_dir=tmp_path / "cache")
    as_released.step = 5
    torch.testing.assert_close(as_released.mining_scores(given, x, rows), given)


def test_mining_scores_auto_is_the_networks_choice_and_the_run_records_it(tiny_root, tmp_path):
    """``auto`` (the default) resolves by network, RTFM to dropout-free scores and the others as
    released, and config.yaml records what the run used."""
    import yaml

    from glancevad.models import get_spec

    assert {m: resolve_config(None, {"model": m}).mining_from for m in ("mil", "rtfm", "urdmu")} == {
        m: get_spec(m).mining_scores for m in ("mil", "rtfm", "urdmu")}
    assert get_spec("rtfm").mining_scores == "eval" and get_spec("urdmu").mining_scores == "train"
    assert resolve_config(None, {"model": "rtfm", "mining_scores": "train"}).mining_from == "train"
    train(resolve_config(None, {**TINY, "model": "rtfm", "steps": 2}), tiny_root, tmp_path / "run")
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["mining_scores"] == "eval"
