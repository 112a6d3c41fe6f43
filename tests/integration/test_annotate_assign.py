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
    (["--to", "ann", "--rule", "shuffle"], ["'--rule'", "'shuffle' is not one of 'everyone', 'round-robin'"]),
    (["--to", "bad name!"], ["annotator names are 1-40 letters"]),
    (["--to", "ann", "--to", "ann"], ["annotator named twice: ann"]),
    (["--to", "ann", "--list", "missing.txt"], ["missing.txt: video list not found"]),
    (["--to", "ann", "--list", "."], [": video list is a directory"]),
    (["--to", "ann", "--list", "latin1.txt"], ["latin1.txt: video list is not UTF-8 text"]),
    # only comments and blank lines: not "every video" (with --replace it emptied the queues as well)
    (["--to", "zed", "--list", "comments.txt", "--replace"], ["comments.txt lists no video ids"]),
    (["--to", "ann", "--list", "comments.txt"], ["comments.txt lists no video ids"]),
])
def test_bad_input_is_one_line_and_stores_nothing(videos, tmp_path, args, fragments, monkeypatch):
    db = tmp_path / "g.sqlite"
    run("annotate", "assign", "--videos", videos, "--db", db, "--to", "zed", "--video", "v1")
    (tmp_path / "comments.txt").write_text("# the hard ones, later\n\n   \n  # none yet\n")
    (tmp_path / "latin1.txt").write_bytes("v1\nvid\xe9o\n".encode("latin-1"))
    monkeypatch.chdir(tmp_path)
    assert_user_error(run("annotate", "assign", "--db", db, *args, check=False), *fragments)
    assert GlanceStore(db).assignments() == {"zed": ["v1"]}


def test_a_list_with_a_bom_and_comments(videos, tmp_path):
    db = tmp_path / "g.sqlite"
    ids = tmp_path / "ids.txt"
    ids.write_bytes("\ufeffv2\r\n# not this one: v3\r\nv4\r\n".encode())  # Windows Notepad's UTF-8
    run("annotate", "assign", "--videos", videos, "--db", db, "--to", "ann", "--list", ids)
    assert GlanceStore(db).assignments() == {"ann": ["v2", "v4"]}


def test_a_bad_rule_fails_before_the_folder_is_scanned(videos, tmp_path):
    db = tmp_path / "g.sqlite"
    assert_user_error(run("annotate", "assign", "--videos", videos, "--db", db, "--to", "ann", "--rule", "shuffle",
                          check=False), "'shuffle' is not one of")
    assert not db.exists()


def test_a_missing_database_is_named(tmp_path):
    assert_user_error(run("annotate", "assign", "--db", tmp_path / "none.sqlite", "--to", "ann", check=False),
                      "none.sqlite: database not found (give --videos DIR")


@pytest.mark.parametrize(("command", "fragment"), [
    (["assign", "--to", "dee", "--videos", "nosuchdir"], "nosuchdir: video folder not found"),
    (["assign", "--to", "dee", "--videos", "empty"], "empty: no videos found"),
    (["assign", "--to", "dee", "--videos", "{videos}", "--video", "zz"], "1 unknown video id(s): zz"),
    (["import", "glances.csv", "--videos", "nosuchdir"], "nosuchdir: video folder not found"),
    (["import", "glances.csv", "--videos", "glances.csv"], "glances.csv: not a folder"),
    (["import", "unknown.csv", "--videos", "{videos}"], "zz"),
])
def test_a_refused_command_leaves_no_new_database(videos, tmp_path, monkeypatch, command, fragment):
    """A database the command would have created is not left behind, empty or half-filled, when it refuses."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "glances.csv").write_text("video-id,glance\nv1,3\n")
    (tmp_path / "unknown.csv").write_text("video-id,glance\nv1,3\nzz,4\n")
    args = [str(videos) if arg == "{videos}" else arg for arg in command]
    assert_user_error(run("annotate", *args, "--db", "new.sqlite", check=False), fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "glances.csv", "unknown.csv"]
