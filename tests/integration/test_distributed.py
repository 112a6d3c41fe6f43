"""Data-parallel training under torchrun (gloo, 2 CPU processes) equals one process on the same global batch.

Exact equality needs a network without batch statistics or sampling: MIL (dropout 0). RTFM's batch
norm sees each process's slice on the CPU (SyncBatchNorm is GPU-only) and UR-DMU samples noise, so
those two are checked to train, not to match.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from cli_helpers import run
from glancevad.fileio import read_jsonl

COMMON = ["--supervision", "glance", "--batch-size", "4", "--precision", "fp32", "--device", "cpu",
          "--set", "eval_every=3", "--set", "log_every=1", "--set", "model_kwargs.dropout=0"]


def weights(run_dir) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "last.pt", weights_only=True)["model_state"]


def assert_same_weights(a, b, atol=1e-5) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    worst = max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)
    assert worst < atol, worst


def losses(run_dir, key: str = "loss") -> list[float]:
    return [line[key] for line in read_jsonl(run_dir / "metrics.jsonl") if "loss" in line]


def torchrun(*args) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "glancevad", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin",
                                                                       "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def single(tiny_root, tmp_path_factory):
    """One-process runs of 6 steps, per network: the reference."""
    out = tmp_path_factory.mktemp("single")
    for model in ("mil",):
        run("train", "--data", tiny_root, "--model", model, "--steps", "6", *COMMON, "--out", out / model)
    return out


@pytest.mark.parametrize("model", ["mil"])
def test_two_processes_match_one(tiny_root, tmp_path, single, model):
    proc = torchrun("train", "--data", tiny_root, "--model", model, "--steps", "6", *COMMON, "--out", tmp_path / "ddp")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_same_weights(single / model, tmp_path / "ddp")
    np.testing.assert_allclose(losses(tmp_path / "ddp"), losses(single / model), rtol=1e-5)  # whole-batch losses
    np.testing.assert_allclose(losses(tmp_path / "ddp", "mined_share"), losses(single / model, "mined_share"))
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == 6
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == sorted(p.name for p in (single / model).iterdir())


def test_resume_with_another_number_of_processes(tiny_root, tmp_path, single):
    two_then_one, one_then_two = tmp_path / "a", tmp_path / "b"
    run("train", "--data", tiny_root, "--model", "mil", "--steps", "3", *COMMON, "--out", two_then_one, "--nproc", "2")
    assert json.loads((two_then_one / "summary.json").read_text())["processes"] == 2
    run("train", "--data", tiny_root, "--resume", two_then_one, "--steps", "6")
    run("train", "--data", tiny_root, "--model", "mil", "--steps", "3", *COMMON, "--out", one_then_two)
    run("train", "--data", tiny_root, "--resume", one_then_two, "--steps", "6", "--nproc", "2")
    for folder in (two_then_one, one_then_two):
        assert torch.load(folder / "last.pt", weights_only=True)["step"] == 6
        assert_same_weights(single / "mil", folder)


@pytest.mark.parametrize("model", ["rtfm", "urdmu"])
def test_networks_with_batch_statistics_or_sampling_train_under_ddp(tiny_root, tmp_path, model):
    out = tmp_path / model
    run("train", "--data", tiny_root, "--model", model, "--steps", "4", "--batch-size", "4", "--device", "cpu",
        "--set", "eval_every=2", "--out", out, "--nproc", "2")
    assert all(np.isfinite(losses(out)))
    run("test", "--checkpoint", out / "last.pt", "--data", tiny_root, "--out", tmp_path / "test", "--plots", "0")


def test_uneven_batch_is_refused(tiny_root, tmp_path):
    proc = torchrun("train", "--data", tiny_root, "--model", "mil", "--steps", "2", "--batch-size", "3",
                    "--device", "cpu", "--out", tmp_path / "x")
    assert proc.returncode != 0
    assert "batch_size 3 videos per class cannot be split evenly over 2 processes" in proc.stderr
