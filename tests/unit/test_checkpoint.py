"""Checkpoint files: atomic save, hard-linked best, bare state dicts."""

from __future__ import annotations

import pytest
import torch

from glancevad.engine.checkpoint import link_checkpoint, read_checkpoint, save_checkpoint
from glancevad.errors import GlanceVADError


def test_best_keeps_its_content_when_last_is_rewritten(tmp_path):
    save_checkpoint(tmp_path / "last.pt", {"step": 1, "model_state": {"w": torch.ones(2)}})
    link_checkpoint(tmp_path / "last.pt", tmp_path / "best.pt")
    save_checkpoint(tmp_path / "last.pt", {"step": 2, "model_state": {"w": torch.zeros(2)}})
    assert read_checkpoint(tmp_path / "best.pt")["step"] == 1
    assert read_checkpoint(tmp_path / "last.pt")["step"] == 2
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_bare_state_dict_and_bad_files(tmp_path):
    torch.save({"a.weight": torch.ones(3)}, tmp_path / "bare.pt")
    assert set(read_checkpoint(tmp_path / "bare.pt")["model_state"]) == {"a.weight"}
    torch.save({"a": 1}, tmp_path / "other.pt")
    with pytest.raises(GlanceVADError, match="neither a glancevad checkpoint nor a state dict"):
        read_checkpoint(tmp_path / "other.pt")
    with pytest.raises(GlanceVADError, match="checkpoint not found"):
        read_checkpoint(tmp_path / "missing.pt")


def test_failed_save_leaves_the_previous_file(tmp_path):
    save_checkpoint(tmp_path / "last.pt", {"step": 1})

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle")

    with pytest.raises(RuntimeError):
        save_checkpoint(tmp_path / "last.pt", {"step": 2, "bad": Unpicklable()})
    assert read_checkpoint(tmp_path / "last.pt")["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
