"""The version is written once (``glancevad.__version__``): the CLI, the package metadata, the
changelog and the citation file all say it."""

from __future__ import annotations

import re
from importlib.metadata import version

import glancevad
from cli_helpers import run
from conftest import PROJECT


def test_glancevad_version_prints_the_one_version():
    proc = run("--version")
    assert proc.stdout.strip() == f"glancevad {glancevad.__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", glancevad.__version__)


def test_the_version_is_written_once_and_everything_reads_it():
    pyproject = (PROJECT / "pyproject.toml").read_text()
    project = pyproject.split("\n[project]\n", 1)[1].split("\n[", 1)[0]  # the [project] table
    assert 'dynamic = ["version"]' in project and not re.search(r"^version\s*=", project, re.M)
    assert 'version = {attr = "glancevad.__version__"}' in pyproject
    assert version("glancevad") == glancevad.__version__  # the installed metadata, built from the attribute
    changelog = (PROJECT / "CHANGELOG.md").read_text()
    assert f"## [{glancevad.__version__}] - " in changelog
    assert f"\nversion: {glancevad.__version__}\n" in (PROJECT / "CITATION.cff").read_text()
