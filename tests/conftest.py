"""Shared fixtures: paths of the real data beside the project and a tiny synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from glancevad.synth import synth_config, write_synthetic_dataset

PROJECT = Path(__file__).resolve().parents[1]
SHARED = PROJECT.parent / "shared"
UCF = SHARED / "data" / "ucf-crime"
XD = SHARED / "data" / "xd-violence"
FIXTURES = SHARED / "fixtures"


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """A tiny synthetic dataset (read-only by convention: copy it before changing it)."""
    root = tmp_path_factory.mktemp("tiny") / "data"
    return write_synthetic_dataset(root, synth_config("tiny", seed=3))


@pytest.fixture
def tiny_copy(tiny_root, tmp_path) -> Path:
    """A private copy of the tiny dataset that a test may damage."""
    import shutil

    return Path(shutil.copytree(tiny_root, tmp_path / "data"))


@pytest.fixture(scope="session", autouse=True)
def weights_cache(tmp_path_factory) -> Path:
    """Converted I3D weights go to a per-session folder, not the user's ~/.cache."""
    import os

    folder = Path(os.environ.get("GLANCEVAD_CACHE") or tmp_path_factory.mktemp("glancevad-cache"))
    os.environ["GLANCEVAD_CACHE"] = str(folder)
    return folder
