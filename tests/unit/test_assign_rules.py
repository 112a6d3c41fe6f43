"""Work assignment rules and team progress (glancevad.annotate.assign, .progress), against hand cases."""

from __future__ import annotations

import sqlite3
from collections import Counter

import pytest

from glancevad.annotate.assign import RULES, assign, everyone, round_robin
from glancevad.annotate.progress import progress_table
from glancevad.annotate.store import GlanceStore, NotFound, VideoRecord
from glancevad.errors import GlanceVADError

VIDEOS = ["v0", "v1", "v2", "v3", "v4"]


def test_round_robin_deals_the_videos_in_turn():
    assert round_robin(VIDEOS, ["a", "b", "c"]) == {"a": ["v0", "v3"], "b": ["v1", "v4"], "c": ["v2"]}
    # two per video: v0 -> a b, v1 -> c a, v2 -> b c, v3 -> a b, v4 -> c a
    assert round_robin(VIDEOS, ["a", "b", "c"], per_video=2) == {
        "a": ["v0", "v1", "v3", "v4"], "b": ["v0", "v2", "v3"], "c": ["v1", "v2", "v4"]}
    assert round_robin(VIDEOS, ["a", "b"], per_video=2) == everyone(VIDEOS, ["a", "b"])
    assert round_robin([], ["a"]) == {"a": []}


@pytest.mark.parametrize(("videos", "people", "k"), [(37, 5, 2), (10, 3, 3), (8, 4, 1), (1, 3, 2), (13, 6, 4)])
def test_round_robin_gives_each_video_k_annotators_and_balances_the_load(videos, people, k):
    ids = [f"v{i}" for i in range(videos)]
    names = [f"p{i}" for i in range(people)]
    out = round_robin(ids, names, per_video=k)
    holders = Counter(v for items in out.values() for v in items)
    assert holders == dict.fromkeys(ids, k)  # each video to k annotators
    assert all(len(set(items)) == len(items) for items in out.values())  # k different ones
    loads = [len(items) for items in out.values()]
    assert sum(loads) == videos * k and max(loads) - min(loads) <= 1


@pytest.mark.parametrize(("rule", "people", "k", "message"), [
    ("round-robin", ["a", "b"], 3, "per_video must be from 1 to the number of annotators (2), not 3"),
    ("round-robin", [], 1, "name at least one annotator"),
    ("everyone", ["a", "a"], 1, "annotator named twice: a"),
    ("everyone", ["a", "b", "c"], 2, "--per-video goes with --rule round-robin"),
    ("random", ["a"], 1, "rule must be one of everyone, round-robin, not 'random'"),
])
def test_bad_assignments_are_refused_with_the_reason(rule, people, k, message):
    with pytest.raises(GlanceVADError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        assign(rule, VIDEOS, people, per_video=k)
    with pytest.raises(GlanceVADError, match="video named twice: v1"):
        assign("everyone", ["v1", "v2", "v1"], ["a"])
    assert set(RULES) == {"everyone", "round-robin"}


def _store(tmp_path, videos=("v0", "v1", "v2")) -> GlanceStore:
    store = GlanceStore(tmp_path / "g.sqlite")
    for vid in videos:
        store.upsert_video(VideoRecord(vid, f"{vid}.mp4", 100, 25.0, 4.0, 64, 48), 1, 1)
    return store


def test_the_store_keeps_assignments_all_or_none_and_counts_the_queue(tmp_path):
    store = _store(tmp_path)
    assert store.assign({"ann": ["v0", "v1"], "bob": ["v2"]}) == 3
    assert store.assign({"ann": ["v1"]}) == 0  # already there
    with pytest.raises(NotFound, match="1 unknown video id\\(s\\): nope"):
        store.assign({"ann": ["v2"], "bob": ["nope"]})
    assert store.assignments() == {"ann": ["v0", "v1"], "bob": ["v2"]}  # nothing of the refused one
    assert store.queue("ann") == ["v0", "v1"] and store.queue("cai") == []
    store.add_annotator("cai")
    store.set_state("v1", "ann", "done")
    store.set_state("v2", "ann", "no_anomaly")  # not in her queue: not counted in it
    store.import_glances({"v0": [3]}, "model", status="proposed", model=True)  # a network: no queue to finish
    assert store.progress() == {"ann": {"done": 1, "total": 2}, "bob": {"done": 0, "total": 1},
                                "cai": {"done": 0, "total": 3}}  # cai has no queue: every video
    # the page's "n of N done" is the progress page's queue and done, counted once
    rows = store.progress_report(5)["annotators"]
    assert store.progress() == {r["annotator"]: {"done": r["done"], "total": r["queue"]} for r in rows}
    assert store.assign({"ann": ["v2"]}, replace=True) == 1
    assert store.assignments() == {"ann": ["v2"], "bob": ["v2"]}


def test_an_older_database_gains_the_assignment_table(tmp_path):
    store = _store(tmp_path)
    store.add_glance("v0", 5, store.add_annotator("ann"))
    with sqlite3.connect(tmp_path / "g.sqlite") as db:
        db.execute("DROP TABLE assignments")  # as a database of the previous release
    reopened = GlanceStore(tmp_path / "g.sqlite")
    assert reopened.assign({"ann": ["v0"]}) == 1 and reopened.queue("ann") == ["v0"]
    assert [g["frame"] for g in reopened.glances("v0")] == [5]


def test_progress_table_against_a_hand_case():
    g = [  # ann glanced v0 twice (one accepted) and v1 (rejected); bob glanced v0 near ann's first glance
        {"id": 1, "video_id": "v0", "annotator": "ann", "frame": 10, "status": "accepted"},
        {"id": 2, "video_id": "v0", "annotator": "ann", "frame": 50, "status": "proposed"},
        {"id": 3, "video_id": "v1", "annotator": "ann", "frame": 7, "status": "rejected"},
        {"id": 4, "video_id": "v0", "annotator": "bob", "frame": 12, "status": "proposed"},
    ]
    states = {("v0", "ann"): "done", ("v1", "ann"): "done", ("v1", "bob"): "no_anomaly", ("v0", "bob"): "in_progress"}
    table = progress_table(["v0", "v1", "v2"], ["ann", "bob", "cai"], g, states,
                           {"ann": ["v0", "v1"], "bob": ["v0", "v2"]}, within=5)
    assert table["annotators"] == [
        {"annotator": "ann", "assigned": 2, "queue": 2, "done": 2, "glanced": 1, "glances": 2, "accepted": 1,
         "rejected": 1, "unreviewed": 1},
        {"annotator": "bob", "assigned": 2, "queue": 2, "done": 0, "glanced": 1, "glances": 1, "accepted": 0,
         "rejected": 0, "unreviewed": 1},  # bob's "no anomaly" on v1 is outside his queue
        {"annotator": "cai", "assigned": 0, "queue": 3, "done": 0, "glanced": 0, "glances": 0, "accepted": 0,
         "rejected": 0, "unreviewed": 0},
    ]
    assert table["videos"] == [
        {"video": "v0", "assigned": ["ann", "bob"], "glanced_by": ["ann", "bob"], "done_by": ["ann"], "glances": 3,
         "reviewed": 1, "unreviewed": 2, "needs_review": ["2 unreviewed", "1 possible duplicate pair(s)"]},
        {"video": "v1", "assigned": ["ann"], "glanced_by": [], "done_by": ["ann", "bob"], "glances": 0,
         "reviewed": 1, "unreviewed": 0, "needs_review": []},
        {"video": "v2", "assigned": ["bob"], "glanced_by": [], "done_by": [], "glances": 0, "reviewed": 0,
         "unreviewed": 0, "needs_review": []},
    ]


def test_needs_review_all_agrees_with_needs_review(tmp_path):
    store = _store(tmp_path)
    for name, vid, frame in (("ann", "v0", 10), ("bob", "v0", 12), ("ann", "v1", 40)):
        store.add_annotator(name)
        store.add_glance(vid, frame, name)
    store.add_annotator("rev", reviewer=True)
    store.review(store.glances("v1")[0]["id"], "accepted", "rev")
    store.set_state("v1", "bob", "no_anomaly")
    expected = {vid: why for vid in ("v0", "v1", "v2") if (why := store.needs_review(vid, 5))}
    assert store.needs_review_all(5) == expected == {"v0": ["2 unreviewed", "1 possible duplicate pair(s)"],
                                                     "v1": ["annotators disagree"]}
