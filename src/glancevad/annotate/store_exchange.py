"""The store's glances in and out: importing a glance file, exporting the accepted glances, the team's glances
that agreement and consensus compare."""

from __future__ import annotations

import sqlite3

from glancevad.annotate.store_base import (
    Invalid,
    NotFound,
    StoreBase,
)


class GlanceExchange(StoreBase):
    """Glances imported from and exported to glance files, and each annotator's glances per video."""

    def import_glances(self, glances: dict[str, list[int]], annotator: str, *, status: str = "accepted",
                       model: bool = False) -> int:
        """Add an official CSV's glances (already read) under ``annotator``, all or none.

        Every video must be known and every frame inside its video; glances the annotator already
        has are skipped. One transaction, so a bad row leaves the database as it was. ``model``:
        the glances are a network's proposals (``annotator`` is marked as a model; status proposed).
        """
        if model and status != "proposed":
            raise Invalid("a model's glances are imported as proposed: a reviewer accepts them")
        self.add_annotator(annotator, model=model)
        known = {row["id"] for row in self.read().execute("SELECT id FROM videos")}
        missing = sorted(set(glances) - known)
        if missing:
            raise NotFound(f"{len(missing)} video(s) of the CSV are not in the video folder: {', '.join(missing[:5])}")
        new: list[tuple[str, int]] = []
        for video_id, frames in glances.items():
            video = self.video(video_id)
            for frame in frames:
                self._check_glance(video, frame, status)
            existing = {g["frame"] for g in self.glances(video_id, annotator=annotator)}
            new.extend((video_id, frame) for frame in sorted(set(frames) - existing))
        with self.write() as db:
            for video_id, frame in new:
                self._insert_glance(db, video_id, frame, annotator, status)
            db.executemany("UPDATE videos SET version=version+1 WHERE id=?", [(v,) for v in {v for v, _ in new}])
        return len(new)

    def export_glances(self, *, include_proposed: bool = False) -> dict[str, list[int]]:
        """``{video-id: frames}`` of accepted (and, if asked, proposed) glances, each frame once, sorted.

        A model's proposals are never exported: only what a reviewer accepted of them.
        """
        statuses = ("accepted", "proposed") if include_proposed else ("accepted",)
        rows = self.read().execute(
            f"SELECT DISTINCT video_id, frame FROM glances WHERE deleted IS NULL"
            f" AND status IN ({','.join('?' * len(statuses))})"
            " AND NOT (status = 'proposed' AND annotator IN (SELECT name FROM annotators WHERE model = 1))"
            " ORDER BY video_id, frame",
            statuses,
        ).fetchall()
        return _frames_by_video(rows)

    def live_frames(self) -> dict[str, list[int]]:
        """``{video-id: frames}`` of every glance not deleted or rejected (model proposals too), in one query:
        what the video list's "most likely unglanced anomaly first" order counts as glanced."""
        rows = self.read().execute(
            "SELECT video_id, frame FROM glances WHERE deleted IS NULL AND status != 'rejected'"
            " ORDER BY video_id, frame"
        ).fetchall()
        return _frames_by_video(rows)

    def team_glances(self) -> dict[str, dict[str, list[int]]]:
        """``{video-id: {annotator: frames}}`` of people (not models): what agreement and consensus compare.

        They measure what the annotators clicked, not the review: every glance a person added and did not
        delete counts, whatever a reviewer decided since (accepted, or rejected: as wrong with R, or as a
        duplicate with K, which rejects every other glance within ``--duplicate-frames`` whoever made it:
        two annotators who found one event must not stop agreeing because a reviewer kept one of their
        glances). Left out: deleted glances (taken back) and the glances a reviewer's move made (M: the
        correction of a proposal, not a click), so a reviewer takes part in a video only with glances they
        added themselves (G) or a done / no-anomaly mark. An annotator with no glance takes part by having
        marked the video done or "no anomaly" (frames ``[]``).
        """
        people = "(SELECT name FROM annotators WHERE model = 0)"
        moved = "(SELECT json_extract(payload, '$.new') FROM actions WHERE kind = 'move' AND undone = 0)"
        team: dict[str, dict[str, list[int]]] = {}
        for row in self.read().execute(
            f"SELECT DISTINCT video_id, annotator, frame FROM glances WHERE deleted IS NULL"
            f" AND annotator IN {people} AND id NOT IN {moved} ORDER BY video_id, annotator, frame"
        ).fetchall():
            team.setdefault(row["video_id"], {}).setdefault(row["annotator"], []).append(row["frame"])
        for row in self.read().execute(
            f"SELECT video_id, annotator FROM video_state WHERE state IN ('done', 'no_anomaly')"
            f" AND annotator IN {people}"
        ).fetchall():
            team.setdefault(row["video_id"], {}).setdefault(row["annotator"], [])
        return team


def _frames_by_video(rows: list[sqlite3.Row]) -> dict[str, list[int]]:
    """``{video-id: frames}`` of ``(video_id, frame)`` rows, in the rows' order."""
    frames: dict[str, list[int]] = {}
    for row in rows:
        frames.setdefault(row["video_id"], []).append(row["frame"])
    return frames


