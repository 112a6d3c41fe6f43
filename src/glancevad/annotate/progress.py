"""Team progress: per annotator and per video, what is assigned, glanced, done and reviewed (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from glancevad.annotate.review import review_reasons

FINISHED = ("done", "no_anomaly")


def queue_progress(videos: Sequence[str], annotators: Sequence[str], states: Mapping[tuple[str, str], str],
                   assigned: Mapping[str, Sequence[str]]) -> dict[str, dict[str, int]]:
    """``{annotator: {"done": n, "total": N}}``: of each annotator's queue (their assigned videos; every
    video when none is assigned), ``n`` marked done or no anomaly. The page's "n of N done", and the
    progress page's queue and done columns (:func:`progress_table`).

    >>> queue_progress(["v0", "v1"], ["ann", "bob"], {("v1", "ann"): "done"}, {"bob": ["v0"]})
    {'ann': {'done': 1, 'total': 2}, 'bob': {'done': 0, 'total': 1}}
    """
    out = {}
    for name in annotators:
        queue = assigned.get(name) or videos
        out[name] = {"done": sum(states.get((video, name)) in FINISHED for video in queue), "total": len(queue)}
    return out


def progress_table(videos: Sequence[str], annotators: Sequence[str], glances: Sequence[Mapping[str, Any]],
                   states: Mapping[tuple[str, str], str], assigned: Mapping[str, Sequence[str]],
                   within: int) -> dict[str, list[dict[str, Any]]]:
    """Rows of the progress page.

    ``glances``: live glances (``video_id, annotator, status``, ``frame``, ``id``); ``states``:
    ``{(video, annotator): state}``; ``assigned``: ``{annotator: videos}`` (an annotator with none
    works on every video). An annotator's ``queue`` is their assigned videos (every video when none),
    ``done`` those of it marked done or no anomaly. Per video, ``needs_review`` gives the review
    queue's reasons.
    """
    by_video: dict[str, list[Mapping[str, Any]]] = {v: [] for v in videos}
    for g in glances:
        by_video.setdefault(g["video_id"], []).append(g)
    people = []
    queues = queue_progress(videos, annotators, states, assigned)
    for name in annotators:
        mine = [g for g in glances if g["annotator"] == name]
        people.append({
            "annotator": name, "assigned": len(assigned.get(name) or []), "queue": queues[name]["total"],
            "done": queues[name]["done"],
            "glanced": len({g["video_id"] for g in mine if g["status"] != "rejected"}),
            "glances": sum(g["status"] != "rejected" for g in mine),
            "accepted": sum(g["status"] == "accepted" for g in mine),
            "rejected": sum(g["status"] == "rejected" for g in mine),
            "unreviewed": sum(g["status"] == "proposed" for g in mine),
        })
    holders: dict[str, list[str]] = {}
    for name, items in assigned.items():
        for video in items:
            holders.setdefault(video, []).append(name)
    per_video: dict[str, dict[str, str]] = {}
    for (video, name), state in states.items():
        per_video.setdefault(video, {})[name] = state
    rows = []
    for video in videos:
        items = by_video.get(video, [])
        video_states = per_video.get(video, {})
        rows.append({
            "video": video, "assigned": sorted(holders.get(video, [])),
            "glanced_by": sorted({g["annotator"] for g in items if g["status"] != "rejected"}),
            "done_by": sorted(a for a, s in video_states.items() if s in FINISHED),
            "glances": sum(g["status"] != "rejected" for g in items),
            "reviewed": sum(g["status"] != "proposed" for g in items),
            "unreviewed": sum(g["status"] == "proposed" for g in items),
            "needs_review": review_reasons(items, video_states, within),
        })
    return {"annotators": people, "videos": rows}
