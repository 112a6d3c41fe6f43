"""``glancevad annotate agreement`` and ``annotate export --consensus`` on a database made through the store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cli_helpers import assert_user_error, run
from glancevad.annotate.store import GlanceStore, VideoRecord
from glancevad.data.groundtruth import write_ground_truth


@pytest.fixture
def team_db(tmp_path):
    """The team of tests/unit/test_agreement.py: v1 at 10 fps (ann 20, 120; bob 25; cy "no anomaly"),
    v2 at 25 fps (ann 100, bob 300), v3 (ann alone); a model's proposal that agreement leaves out."""
    db = tmp_path / "team.sqlite"
    store = GlanceStore(db)
    for vid, fps in (("v1", 10.0), ("v2", 25.0), ("v3", 30.0)):
        store.upsert_video(VideoRecord(vid, f"{vid}.mp4", 400, fps, 400 / fps, 320, 240, "h264"), 1, 1)
    for name in ("ann", "bob", "cy"):
        store.add_annotator(name)
    for vid, frame, name in (("v1", 20, "ann"), ("v1", 120, "ann"), ("v1", 25, "bob"), ("v2", 100, "ann"),
                             ("v2", 300, "bob"), ("v3", 7, "ann")):
        store.add_glance(vid, frame, name)
    deleted = store.add_glance("v2", 110, "bob")
    store.delete_glance(deleted["id"], "bob")  # deleted: not counted
    store.set_state("v1", "cy", "no_anomaly")
    store.import_glances({"v1": [130]}, "model", status="proposed", model=True)
    labels = np.zeros(160, dtype=np.uint8)
    labels[0:50] = labels[100:150] = 1
    truth = write_ground_truth(tmp_path / "gt.json", {"v1": labels})
    return db, truth


def test_agreement_table_json_and_png(team_db, tmp_path):
    db, truth = team_db
    done = run("annotate", "agreement", "--db", db, "--ground-truth", truth, "--within", "1")
    printed = done.stdout
    assert "note:" not in done.stderr  # v1 has ground truth
    out = tmp_path / "team-agreement"
    assert f"wrote {out / 'agreement.png'} and {out / 'agreement.json'}" in printed.replace("\n", "")
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in printed.splitlines() if line.count("│") > 4}
    # pair, videos, glances, same event %, events, matched %, median distance (s), same count %
    assert rows["ann – bob"] == ["2", "5", "50.0", "1/2", "40.0", "0.50", "50.0"]
    assert rows["ann – cy"] == ["1", "2", "0.0", "0/2", "0.0", "-", "0.0"]
    assert rows["all pairs"] == ["4", "8", "20.0", "1/5", "25.0", "0.50", "25.0"]
    report = json.loads((out / "agreement.json").read_text())
    assert report["videos"] == ["v1", "v2"] and report["within_s"] == 1.0
    assert report["overall"]["same_event_rate"] == pytest.approx(0.2)
    assert report["pairs"][1]["median_distance_s"] is None  # nan is written as null
    assert (out / "agreement.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # without ground truth: no same-event column, the glances alone
    done = run("annotate", "agreement", "--db", db, "--within", "1", "--out", tmp_path / "plain")
    assert "same event" not in done.stdout and (tmp_path / "plain" / "agreement.png").is_file()
    assert done.stderr.strip() == ""  # no "note: none of the compared videos is in None"
    # ground truth of other videos only: said, and the glances alone are compared
    other = write_ground_truth(tmp_path / "other.json", {"v9": np.zeros(40, dtype=np.uint8)})
    done = run("annotate", "agreement", "--db", db, "--ground-truth", other, "--out", tmp_path / "other")
    assert f"note: none of the compared videos is in {other}" in done.stderr.replace("\n", "")
    assert "same event" not in done.stdout


def test_consensus_export(team_db, tmp_path):
    db, _ = team_db
    out = tmp_path / "consensus.csv"
    printed = run("annotate", "export", "--db", db, "--out", out, "--consensus", "2", "--within", "1").stdout
    assert out.read_text() == "video-id,glance\nv1,20\n"
    assert "wrote 1 consensus glances (events found by at least 2 annotators" in printed
    run("annotate", "export", "--db", db, "--out", out, "--consensus", "1", "--within", "1")
    assert out.read_text() == "video-id,glance\nv1,20\nv1,120\nv2,100\nv2,300\nv3,7\n"


def test_agreement_bad_input(team_db, tmp_path):
    db, truth = team_db
    assert_user_error(run("annotate", "agreement", "--db", tmp_path / "none.sqlite", check=False),
                      "none.sqlite: database not found")
    bad = tmp_path / "bad.json"
    bad.write_text('{"v1": {"labels": [0, 2]}}')
    assert_user_error(run("annotate", "agreement", "--db", db, "--ground-truth", bad, check=False),
                      "bad.json", "labels must all be 0 or 1")
    alone = tmp_path / "alone.sqlite"
    store = GlanceStore(alone)
    store.upsert_video(VideoRecord("v1", "v1.mp4", 100, 25.0, 4.0, 320, 240, "h264"), 1, 1)
    store.add_annotator("ann")
    store.add_glance("v1", 3, "ann")
    assert_user_error(run("annotate", "agreement", "--db", alone, check=False), "no video has glances", "two or more")
    assert_user_error(run("annotate", "export", "--db", db, "--out", tmp_path / "c.csv", "--consensus", "2",
                          "--include-proposed", check=False), "--consensus", "drop --include-proposed")
    assert_user_error(run("annotate", "export", "--db", alone, "--out", tmp_path / "c.csv", "--consensus", "2",
                          check=False), "alone.sqlite: --consensus 2", "no video has more than 1 annotator(s)")
    assert not (tmp_path / "c.csv").exists()


def test_review_changes_neither_agreement_nor_consensus(team_db, tmp_path):
    """Agreement and consensus count what the annotators clicked: K (which rejects every other glance within
    --duplicate-frames, bob's of the event ann found too), R and A change nothing, and a reviewer's move
    makes no glance of the reviewer's (rev takes part only once rev glances a video with G)."""
    from glancevad.annotate.agreement import WITHIN_S, pair_agreements, team_consensus

    db, _ = team_db
    store = GlanceStore(db)
    store.add_annotator("rev", reviewer=True)
    fps = {v["id"]: v["fps"] for v in store.videos()}

    def measured():
        team = store.team_glances()
        pairs, overall = pair_agreements(team, fps=fps, within_s=1.0)
        return team, [p.summary() for p in pairs], overall.summary(), team_consensus(team, fps=fps, k=2,
                                                                                      within_s=WITHIN_S)

    before = measured()
    assert before[0]["v1"] == {"ann": [20, 120], "bob": [25], "cy": []}
    by_frame = {(g["video_id"], g["frame"]): g["id"] for v in ("v1", "v2", "v3") for g in store.glances(v)}
    store.keep(by_frame["v1", 20], "rev", 8)  # bob's 25 is rejected as a duplicate of ann's 20
    assert {g["frame"]: g["status"] for g in store.glances("v1")}[25] == "rejected"
    store.review(by_frame["v1", 120], "rejected", "rev")
    store.review(by_frame["v2", 100], "accepted", "rev")
    moved = store.move(by_frame["v2", 300], 305, "rev")  # an accepted glance of rev's at 305
    assert moved["annotator"] == "rev"
    assert measured() == before
    out = tmp_path / "consensus.csv"
    run("annotate", "export", "--db", db, "--out", out, "--consensus", "2", "--within", "1")
    assert out.read_text() == "video-id,glance\nv1,20\n"  # as before the review (test_consensus_export)
    store.add_glance("v3", 9, "rev", status="accepted")  # rev glances v3 (G in review mode): rev took part
    assert store.team_glances()["v3"] == {"ann": [7], "rev": [9]}
    store.undo("v2", "rev")  # the move undone: bob's proposal is back, nothing else changes
    assert store.team_glances()["v2"] == before[0]["v2"]


def test_within_without_consensus_is_an_error(team_db, tmp_path):
    db, _ = team_db
    assert_user_error(run("annotate", "export", "--db", db, "--out", tmp_path / "c.csv", "--within", "3", check=False),
                      "--within goes with --consensus")
    assert not (tmp_path / "c.csv").exists()
