"""A clone with nothing beside it: the unit tests and the doc examples run from the repository alone.

The repository's files (``git ls-files``: tracked, and new files not ignored) are copied to a folder
with no ``../shared`` beside it, and pytest runs there on the copy's own source. Only the tests of
the authors' fixtures (and the byte-for-byte check of the bundled annotation files against their
originals) may skip, each saying which file is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import PROJECT


def _clone(into):
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=PROJECT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = PROJECT / name
        if source.is_file():  # a file deleted in the working tree is not in a clone of it either
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    return into


def _pytest(clone, *args):
    env = {**os.environ, "PYTHONPATH": str(clone / "src")}  # the copy's own source, not this checkout's
    proc = subprocess.run([sys.executable, "-m", "pytest", *args, "-q", "-rs", "-p", "no:cacheprovider", "-x"],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    return [line for line in proc.stdout.splitlines() if line.startswith("SKIPPED")]


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_the_unit_tests_and_doc_examples_need_nothing_beside_the_clone(tmp_path):
    clone = _clone(tmp_path / "glancevad")
    assert not (clone.parent / "shared").exists()
    where = subprocess.run([sys.executable, "-c", "import glancevad; print(glancevad.__file__)"], cwd=clone,
                           env={**os.environ, "PYTHONPATH": str(clone / "src")}, capture_output=True, text=True)
    assert where.stdout.startswith(str(clone / "src"))
    skipped = _pytest(clone, "tests/unit", "tests/integration/test_published.py", "-m", "not slow")
    skipped += _pytest(clone, "tests/integration/test_doc_examples.py")
    assert skipped, "no fixture test skipped: is ../shared beside the copy?"
    for line in skipped:  # only what needs ../shared: the authors' fixtures, the originals of the bundled files
        assert re.search(r"(the authors' fixture \S+ is|the originals \S+ are) absent", line), line
