"""``glancevad annotate assign`` through a subprocess: rules, the stored queues, and bad input."""

from __future__ import annotations

import pytest

from cli_helpers import assert_user_error, run
from glancevad.annotate.store import GlanceStore
from media import write_video


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    for vid in ("v1", "v2", "v3", "v4"):
        write_video(folder / f"{vid}.webm", 10, width=64, height=48, codec="libvpx")
    return folder


def test_assign_by_rule_and_by_list(videos, tmp_path):
    db = tmp_path / "g.sqlite"
    done = run("annotate", "assign", "--videos", videos, "--db", db, "--to", "ann", "--to", "bob", "--to", "cai",
               "--rule", "round-robin", "--per-video", "2")
    assert "ann: 3 video(s) in their queue" in done.stdout and "stored 8 new assignment(s) of 4 video(s)" in done.stdout
    assert GlanceStore(db).assignments() == {"ann": ["v1", "v2", "v4"], "bob": ["v1", "v3", "v4"],
                                             "cai": ["v2", "v3"]}
    ids = tmp_path / "ids.txt"
    ids.write_text("# the hard ones\nv3\n\nv4\n")
    run("annotate", "assign", "--db", db, "--to", "dee", "--list", ids, "--video", "v1")
    run("annotate", "assign", "--db", db, "--to", "ann", "--video", "v3", "--replace")
    queues = GlanceStore(db).assignments()
    assert queues["dee"] == ["v1", "v3", "v4"] and queues["ann"] == ["v3"]


@pytest.mark.parametrize(("args", "fragments"), [
    (["--to", "ann", "--video", "nope"], ["1 unknown video id(s): nope", "scan the folder with --videos DIR"]),
    (["--to", "ann", "--to", "bob", "--rule", "round-robin", "--per-video", "3"],
     ["--per-video must be from 1 to the number of annotators (2), not 3"]),
    (["--to", "ann", "--rule", "shuffle"], ["--rule must be one of everyone, round-robin"]),
    (["--to", "bad name!"], ["annotator names are 1-40 letters"]),
    (["--to", "ann", "--to", "ann"], ["annotator named twice: ann"]),
    (["--to", "ann", "--list", "missing.txt"], ["missing.txt: video list not found"]),
])
def test_bad_input_is_one_line_and_stores_nothing(videos, tmp_path, args, fragments):
    db = tmp_path / "g.sqlite"
    run("annotate", "assign", "--videos", videos, "--db", db, "--to", "zed", "--video", "v1")
    assert_user_error(run("annotate", "assign", "--db", db, *args, check=False), *fragments)
    assert GlanceStore(db).assignments() == {"zed": ["v1"]}


def test_a_missing_database_is_named(tmp_path):
    assert_user_error(run("annotate", "assign", "--db", tmp_path / "none.sqlite", "--to", "ann", check=False),
                      "none.sqlite: database not found (give --videos DIR")
