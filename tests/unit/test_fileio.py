"""Atomic writes: the permissions of what they write."""

from __future__ import annotations

import os
import stat

import pytest

from glancevad.fileio import atomic_write, write_json


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_file_gets_what_open_gives_under_the_umask(tmp_path):
    with open(tmp_path / "plain.txt", "w") as handle:  # the reference: a plain open
        handle.write("x")
    write_json(tmp_path / "atomic.json", {"a": 1})
    assert _mode(tmp_path / "atomic.json") == _mode(tmp_path / "plain.txt")  # a bare mkstemp gives 0600


@pytest.mark.parametrize("mode", [0o640, 0o600, 0o664])
def test_a_replaced_file_keeps_its_permissions(tmp_path, mode):
    path = tmp_path / "report.html"
    path.write_text("old")
    path.chmod(mode)
    with atomic_write(path) as handle:
        handle.write("new")
    assert path.read_text() == "new" and _mode(path) == mode
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temporary left
