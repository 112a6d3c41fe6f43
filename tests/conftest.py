"""Shared fixtures: paths of the real data (bundled, in the repository, or beside it) and a tiny synthetic set.

Everything but the authors' fixtures comes with the repository: the published annotation files are
package data (:mod:`glancevad.data.published`), the sample clip and its features are in
``tests/data/samples``. The fixtures (outputs of the authors' code) live in ``../shared/fixtures``
beside the clone; tests that need them skip, saying what is missing, where it is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from glancevad.data.published import PUBLISHED
from glancevad.synth import synth_config, write_synthetic_dataset

PROJECT = Path(__file__).resolve().parents[1]
SHARED = PROJECT.parent / "shared"
UCF = PUBLISHED["ucf-crime"].folder
XD = PUBLISHED["xd-violence"].folder
SAMPLES = PROJECT / "tests" / "data" / "samples"
SAMPLE_CLIP = SAMPLES / "shanghaitech_01_002.avi"
FIXTURES = SHARED / "fixtures"


def needs_fixture(name: str, file: str) -> pytest.MarkDecorator:
    """Skip unless the authors' fixture ``../shared/fixtures/<name>/<file>`` is beside the clone."""
    path = FIXTURES / name / file
    return pytest.mark.skipif(not path.is_file(), reason=f"the authors' fixture {path} is absent "
                                                         "(../shared/fixtures is not beside this clone)")


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
