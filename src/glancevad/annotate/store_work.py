"""The store's work assignment and progress: who annotates which video, each video's state, the progress tables."""

from __future__ import annotations

import time
from typing import Any

from glancevad.annotate.progress import progress_table, queue_progress
from glancevad.annotate.store_base import (
    _GLANCE_COLUMNS,
    _STATE_RANK,
    ANNOTATOR_NAME,
    Invalid,
    NotFound,
    StoreBase,
)


class WorkAndProgress(StoreBase):
    """The videos of an annotator's queue, their states and the team's progress."""

    def videos(self, annotator: str | None = None) -> list[dict[str, Any]]:
        """Every video with its glance count and state (the annotator's; with none, the most advanced)."""
        rows = self.read().execute(
            """
            SELECT v.id, v.frames, v.fps, v.duration,
                   (SELECT COUNT(*) FROM glances g WHERE g.video_id = v.id AND g.deleted IS NULL
                        AND g.status != 'rejected' AND (?1 IS NULL OR g.annotator = ?1)) AS glances,
                   (SELECT group_concat(s.state) FROM video_state s WHERE s.video_id = v.id
                        AND (?1 IS NULL OR s.annotator = ?1)) AS states
            FROM videos v ORDER BY v.id
            """,
            (annotator,),
        ).fetchall()
        out = []
        for row in rows:
            states = (row["states"] or "").split(",") if row["states"] else []
            state = max(states, key=_STATE_RANK.__getitem__) if states else "todo"
            out.append({"id": row["id"], "frames": row["frames"], "fps": row["fps"], "duration": row["duration"],
                        "glances": row["glances"], "state": state})
        return out

    def progress(self) -> dict[str, dict[str, int]]:
        """``{annotator: {"done": n, "total": N}}`` of people (models left out): of the annotator's queue
        (their assigned videos; every video when none is assigned), how many they marked done or no anomaly
        (:func:`glancevad.annotate.progress.queue_progress`, as the progress page counts)."""
        videos, people, states = self._team_tables()
        return queue_progress(videos, people, states, self.assignments())

    def _team_tables(self) -> tuple[list[str], list[str], dict[tuple[str, str], str]]:
        """Video ids, people's names (not models) and ``{(video, annotator): state}``: what progress counts."""
        db = self.read()
        videos = [r["id"] for r in db.execute("SELECT id FROM videos ORDER BY id")]
        people = [r["name"] for r in db.execute("SELECT name FROM annotators WHERE model = 0 ORDER BY name")]
        states = {(r["video_id"], r["annotator"]): r["state"]
                  for r in db.execute("SELECT video_id, annotator, state FROM video_state")}
        return videos, people, states

    def assign(self, assignment: dict[str, list[str]], *, replace: bool = False) -> int:
        """Store ``{annotator: videos}`` (annotators registered as needed; videos must be known), all or
        none; ``replace``: the named annotators' earlier assignments are dropped first. Returns how many
        (video, annotator) pairs are new."""
        for name in assignment:
            if not ANNOTATOR_NAME.match(name or ""):
                raise Invalid(f"annotator names are 1-40 letters, digits or . _ - @ (not {name!r})")
        known = {row["id"] for row in self.read().execute("SELECT id FROM videos")}
        unknown = sorted({v for videos in assignment.values() for v in videos} - known)
        if unknown:
            raise NotFound(f"{len(unknown)} unknown video id(s): {', '.join(unknown[:5])}"
                           f" (the database knows {len(known)} video(s); scan the folder with --videos DIR)")
        for name in assignment:
            self.add_annotator(name)
        with self.write() as db:
            if replace:
                db.executemany("DELETE FROM assignments WHERE annotator=?", [(name,) for name in assignment])
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO assignments (video_id, annotator, assigned) VALUES (?, ?, ?)",
                           [(v, name, time.time()) for name, videos in assignment.items() for v in videos])
            return db.total_changes - before

    def assignments(self) -> dict[str, list[str]]:
        """``{annotator: videos}`` of every annotator with assigned videos, videos by id."""
        out: dict[str, list[str]] = {}
        for row in self.read().execute("SELECT annotator, video_id FROM assignments ORDER BY annotator, video_id"):
            out.setdefault(row["annotator"], []).append(row["video_id"])
        return out

    def queue(self, annotator: str) -> list[str]:
        """The videos assigned to ``annotator``, by id (empty: none assigned, every video is theirs)."""
        return [r["video_id"] for r in self.read().execute(
            "SELECT video_id FROM assignments WHERE annotator=? ORDER BY video_id", (annotator,))]

    def progress_report(self, within: int) -> dict[str, list[dict[str, Any]]]:
        """The progress page's tables (:func:`glancevad.annotate.progress.progress_table`); models left out."""
        videos, people, states = self._team_tables()
        glances = [dict(r) for r in self.read().execute(f"SELECT {_GLANCE_COLUMNS} FROM glances WHERE deleted IS NULL")]
        return progress_table(videos, people, glances, states, self.assignments(), within)
