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


def test_the_version_answers_without_importing_torch():
    """``glancevad --version`` is answered before the commands are built (their choices read the
    network registry, which imports torch: 3.7 s where the answer takes a tenth of that)."""
    import subprocess
    import sys

    from cli_helpers import bare_env

    code = ("import sys; from glancevad.cli import main; main(['--version']); "
            "assert 'torch' not in sys.modules and 'glancevad.models' not in sys.modules, 'torch imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=bare_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"glancevad {glancevad.__version__}"


def test_the_version_is_written_once_and_everything_reads_it():
    pyproject = (PROJECT / "pyproject.toml").read_text()
    project = pyproject.split("\n[project]\n", 1)[1].split("\n[", 1)[0]  # the [project] table
    assert 'dynamic = ["version"]' in project and not re.search(r"^version\s*=", project, re.M)
    assert 'version = {attr = "glancevad.__version__"}' in pyproject
    assert version("glancevad") == glancevad.__version__  # the installed metadata, built from the attribute
    changelog = (PROJECT / "CHANGELOG.md").read_text()
    assert f"## [{glancevad.__version__}] - " in changelog
    assert f"\nversion: {glancevad.__version__}\n" in (PROJECT / "CITATION.cff").read_text()
