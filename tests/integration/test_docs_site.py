"""The documentation site: it builds with --strict, a broken link fails it, and the README's links
into it (which MkDocs does not see) lead to pages and headings that exist."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PROJECT

MKDOCS = [sys.executable, "-m", "mkdocs", "build", "--strict"]
# what mkdocs.yml reads besides docs/: the sources of the API reference and the included files
BESIDE_DOCS = ("mkdocs.yml", "src", "CHANGELOG.md", "CITATION.cff", "THIRD_PARTY.md")


def _site_copy(tmp_path: Path) -> Path:
    root = tmp_path / "site-src"
    root.mkdir()
    shutil.copytree(PROJECT / "docs", root / "docs")
    for name in BESIDE_DOCS:
        (root / name).symlink_to(PROJECT / name)
    return root


def _build(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([*MKDOCS, "--site-dir", str(root / "site")], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("planted, reported", [
    ("[a page](no-such-page.md)", "no-such-page.md"),
    ("[a heading](data.md#no-such-heading)", "no-such-heading"),
    ("::: glancevad.no_such_module", "no_such_module"),
])
def test_strict_build_passes_and_fails_on_a_broken_reference(tmp_path, planted, reported):
    root = _site_copy(tmp_path)
    if planted.startswith("[a page]"):  # the unchanged copy builds, once
        proc = _build(root)
        assert proc.returncode == 0, proc.stderr
        assert (root / "site" / "api" / "metrics.html").is_file()
    index = root / "docs" / "index.md"
    index.write_text(index.read_text() + f"\n{planted}\n")
    proc = _build(root)
    assert proc.returncode != 0 and reported in proc.stderr, proc.stderr


def _slug(heading: str) -> str:
    """The anchor MkDocs' toc gives a heading (lower case, punctuation dropped, spaces to dashes)."""
    text = re.sub(r"[`*_]", "", heading).strip().lower()
    return re.sub(r"[\s]+", "-", re.sub(r"[^\w\s-]", "", text))


def test_the_readme_links_lead_to_pages_and_headings_that_exist():
    readme = (PROJECT / "README.md").read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", readme)
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert len(local) >= 15, local
    for link in local:
        path, _, anchor = link.partition("#")
        target = PROJECT / path
        assert target.is_file(), f"README links to {link}: no such file"
        if anchor:
            headings = [line.lstrip("#").strip() for line in target.read_text().splitlines() if line.startswith("#")]
            assert anchor in {_slug(h) for h in headings}, f"README links to {link}: no such heading"


def test_slugs_as_mkdocs_makes_them():
    heading = "The paper's tables on data you control: `make paper`"
    assert _slug(heading) == "the-papers-tables-on-data-you-control-make-paper"
    assert _slug("Model-assisted glancing") == "model-assisted-glancing"
