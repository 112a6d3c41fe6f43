"""The annotation tool's store of record: one SQLite database in WAL mode.

Every action is one short transaction committed before the server answers, with
``synchronous=FULL``, so an acknowledged glance survives a killed server (and a power cut).
Deleting a glance marks it deleted rather than removing the row, so undo can bring it back and the
history stays auditable. Each action an annotator takes is logged with what undoes it.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glancevad.errors import GlanceVADError

STATES = ("todo", "in_progress", "done", "no_anomaly")
# With no annotator named, a video shows its most advanced state among its annotators.
_STATE_RANK = {"todo": 0, "in_progress": 1, "no_anomaly": 2, "done": 3}
STATUSES = ("proposed", "accepted", "rejected")
ANNOTATOR_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,40}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,          -- relative to the video folder
    frames INTEGER NOT NULL CHECK (frames > 0),
    fps REAL NOT NULL CHECK (fps > 0),
    duration REAL NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    size INTEGER NOT NULL,              -- file size and mtime: re-probe when they change
    mtime_ns INTEGER NOT NULL,
    codec TEXT NOT NULL,
    proxy TEXT                          -- a browser-playable copy (absolute path), when the file is not
);
CREATE TABLE IF NOT EXISTS annotators (
    name TEXT PRIMARY KEY,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS glances (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id TEXT NOT NULL REFERENCES videos(id),
    frame INTEGER NOT NULL CHECK (frame >= 0),
    annotator TEXT NOT NULL REFERENCES annotators(name),
    created REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed', 'accepted', 'rejected')),
    reviewer TEXT REFERENCES annotators(name),
    deleted REAL
);
CREATE INDEX IF NOT EXISTS glances_by_video ON glances(video_id, deleted);
CREATE TABLE IF NOT EXISTS video_state (
    video_id TEXT NOT NULL REFERENCES videos(id),
    annotator TEXT NOT NULL REFERENCES annotators(name),
    state TEXT NOT NULL CHECK (state IN ('todo', 'in_progress', 'done', 'no_anomaly')),
    updated REAL NOT NULL,
    PRIMARY KEY (video_id, annotator)
);
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    annotator TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,              -- JSON: what the action changed, so that undo can invert it
    created REAL NOT NULL,
    undone INTEGER NOT NULL DEFAULT 0
);
"""


class NotFound(GlanceVADError):
    """A video, glance or annotator that does not exist."""


class Invalid(GlanceVADError):
    """A request that names existing things but asks for something impossible."""


@dataclass(frozen=True)
class VideoRecord:
    id: str
    path: str
    frames: int
    fps: float
    duration: float
    width: int
    height: int
    codec: str = ""
    proxy: str | None = None


class GlanceStore:
    """Thread-safe access to the database: one connection per thread, short write transactions."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connection().executescript(_SCHEMA)  # executescript manages its own transaction

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            try:
                db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
            except sqlite3.DatabaseError as exc:
                raise GlanceVADError(f"{self.path}: not a usable SQLite database ({exc})") from None
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA busy_timeout=30000")
            db.row_factory = sqlite3.Row
            self._local.db = db
        return db

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error."""
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def read(self) -> sqlite3.Connection:
        return self._connection()

    # -- videos and annotators -------------------------------------------------------------

    def upsert_video(self, record: VideoRecord, size: int, mtime_ns: int) -> None:
        with self.write() as db:
            db.execute(
                "INSERT INTO videos VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
                " path=excluded.path, frames=excluded.frames, fps=excluded.fps, duration=excluded.duration,"
                " width=excluded.width, height=excluded.height, size=excluded.size, mtime_ns=excluded.mtime_ns,"
                " codec=excluded.codec, proxy=excluded.proxy",
                (record.id, record.path, record.frames, record.fps, record.duration, record.width, record.height,
                 size, mtime_ns, record.codec, record.proxy),
            )

    def video_stat(self, video_id: str) -> tuple[str, int, int] | None:
        """``(path, size, mtime_ns)`` recorded when ``video_id`` was probed."""
        row = self.read().execute("SELECT path, size, mtime_ns FROM videos WHERE id=?", (video_id,)).fetchone()
        return None if row is None else (row["path"], row["size"], row["mtime_ns"])

    def video(self, video_id: str) -> VideoRecord:
        row = self.read().execute(
            "SELECT id, path, frames, fps, duration, width, height, codec, proxy FROM videos WHERE id=?", (video_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"unknown video {video_id!r}")
        return VideoRecord(**dict(row))

    def add_annotator(self, name: str) -> str:
        if not ANNOTATOR_NAME.match(name or ""):
            raise Invalid("annotator names are 1-40 letters, digits or . _ - @")
        with self.write() as db:
            db.execute("INSERT OR IGNORE INTO annotators VALUES (?, ?)", (name, time.time()))
        return name

    def require_annotator(self, name: str) -> str:
        if self.read().execute("SELECT 1 FROM annotators WHERE name=?", (name,)).fetchone() is None:
            raise NotFound(f"unknown annotator {name!r}")
        return name

    def annotators(self) -> list[str]:
        return [r["name"] for r in self.read().execute("SELECT name FROM annotators ORDER BY name")]

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

    # -- glances -------------------------------------------------------------------------------

    def glances(self, video_id: str, *, annotator: str | None = None) -> list[dict[str, Any]]:
        self.video(video_id)
        rows = self.read().execute(
            "SELECT id, video_id, frame, annotator, created, status, reviewer FROM glances"
            " WHERE video_id=? AND deleted IS NULL AND (?2 IS NULL OR annotator=?2) ORDER BY frame, id",
            (video_id, annotator),
        ).fetchall()
        return [dict(r) for r in rows]

    def add_glance(self, video_id: str, frame: int, annotator: str, *, status: str = "proposed") -> dict[str, Any]:
        video = self.video(video_id)
        self.require_annotator(annotator)
        self._check_glance(video, frame, status)
        with self.write() as db:
            glance_id = self._insert_glance(db, video_id, frame, annotator, status)
            self._log(db, annotator, "add", {"glance": glance_id})
        return self._glance(glance_id)

    @staticmethod
    def _check_glance(video: VideoRecord, frame: int, status: str) -> None:
        if not 0 <= frame < video.frames:
            raise Invalid(f"frame {frame} is outside video {video.id!r} (0..{video.frames - 1})")
        if status not in STATUSES:
            raise Invalid(f"status must be one of {', '.join(STATUSES)}")

    def _insert_glance(self, db: sqlite3.Connection, video_id: str, frame: int, annotator: str, status: str) -> int:
        """Insert one checked glance inside the caller's transaction; the video is then in progress."""
        cursor = db.execute(
            "INSERT INTO glances (video_id, frame, annotator, created, status, reviewer) VALUES (?, ?, ?, ?, ?, ?)",
            (video_id, frame, annotator, time.time(), status, annotator if status != "proposed" else None),
        )
        self._set_state(db, video_id, annotator, "in_progress", only_from_todo=True)
        return cursor.lastrowid

    def delete_glance(self, glance_id: int, annotator: str) -> dict[str, Any]:
        self.require_annotator(annotator)
        glance = self._glance(glance_id)
        with self.write() as db:
            db.execute("UPDATE glances SET deleted=? WHERE id=? AND deleted IS NULL", (time.time(), glance_id))
            self._log(db, annotator, "delete", {"glance": glance_id})
        return glance

    def review(self, glance_id: int, status: str, reviewer: str) -> dict[str, Any]:
        """Accept or reject a glance (appendix A.2's quality control)."""
        self.require_annotator(reviewer)
        if status not in ("accepted", "rejected"):
            raise Invalid("review status must be accepted or rejected")
        before = self._glance(glance_id)
        with self.write() as db:
            db.execute("UPDATE glances SET status=?, reviewer=? WHERE id=?", (status, reviewer, glance_id))
            self._log(db, reviewer, "review", {"glance": glance_id, "status": before["status"],
                                               "reviewer": before["reviewer"]})
        return self._glance(glance_id)

    def _glance(self, glance_id: int) -> dict[str, Any]:
        row = self.read().execute(
            "SELECT id, video_id, frame, annotator, created, status, reviewer FROM glances"
            " WHERE id=? AND deleted IS NULL", (glance_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"unknown glance {glance_id}")
        return dict(row)

    # -- per-video state ------------------------------------------------------------------------

    def set_state(self, video_id: str, annotator: str, state: str) -> str:
        self.video(video_id)
        self.require_annotator(annotator)
        if state not in STATES:
            raise Invalid(f"state must be one of {', '.join(STATES)}")
        with self.write() as db:
            previous = self._state(db, video_id, annotator)
            self._set_state(db, video_id, annotator, state)
            self._log(db, annotator, "state", {"video": video_id, "state": previous})
        return state

    def state(self, video_id: str, annotator: str) -> str:
        return self._state(self.read(), video_id, annotator)

    @staticmethod
    def _state(db: sqlite3.Connection, video_id: str, annotator: str) -> str:
        row = db.execute("SELECT state FROM video_state WHERE video_id=? AND annotator=?",
                         (video_id, annotator)).fetchone()
        return "todo" if row is None else row["state"]

    @staticmethod
    def _set_state(db: sqlite3.Connection, video_id: str, annotator: str, state: str, *,
                   only_from_todo: bool = False) -> None:
        if only_from_todo and GlanceStore._state(db, video_id, annotator) != "todo":
            return
        db.execute(
            "INSERT INTO video_state VALUES (?, ?, ?, ?) ON CONFLICT(video_id, annotator)"
            " DO UPDATE SET state=excluded.state, updated=excluded.updated",
            (video_id, annotator, state, time.time()),
        )

    # -- undo -------------------------------------------------------------------------------------

    @staticmethod
    def _log(db: sqlite3.Connection, annotator: str, kind: str, payload: dict[str, Any]) -> None:
        db.execute("INSERT INTO actions (annotator, kind, payload, created) VALUES (?, ?, ?, ?)",
                   (annotator, kind, json.dumps(payload), time.time()))

    def undo(self, annotator: str) -> dict[str, Any] | None:
        """Invert the annotator's last action not yet undone; ``None`` when there is nothing to undo."""
        self.require_annotator(annotator)
        with self.write() as db:
            row = db.execute("SELECT id, kind, payload FROM actions WHERE annotator=? AND undone=0"
                             " ORDER BY id DESC LIMIT 1", (annotator,)).fetchone()
            if row is None:
                return None
            payload = json.loads(row["payload"])
            if row["kind"] == "add":
                db.execute("UPDATE glances SET deleted=? WHERE id=?", (time.time(), payload["glance"]))
            elif row["kind"] == "delete":
                db.execute("UPDATE glances SET deleted=NULL WHERE id=?", (payload["glance"],))
            elif row["kind"] == "review":
                db.execute("UPDATE glances SET status=?, reviewer=? WHERE id=?",
                           (payload["status"], payload["reviewer"], payload["glance"]))
            elif row["kind"] == "state":
                self._set_state(db, payload["video"], annotator, payload["state"])
            db.execute("UPDATE actions SET undone=1 WHERE id=?", (row["id"],))
        return {"kind": row["kind"], **payload}

    # -- import / export ------------------------------------------------------------------------

    def import_glances(self, glances: dict[str, list[int]], annotator: str, *, status: str = "accepted") -> int:
        """Add an official CSV's glances (already read) under ``annotator``, all or none.

        Every video must be known and every frame inside its video; glances the annotator already
        has are skipped. One transaction, so a bad row leaves the database as it was.
        """
        self.add_annotator(annotator)
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
        return len(new)

    def export_glances(self, *, include_proposed: bool = False) -> dict[str, list[int]]:
        """``{video-id: frames}`` of accepted (and, if asked, proposed) glances, each frame once, sorted."""
        statuses = ("accepted", "proposed") if include_proposed else ("accepted",)
        rows = self.read().execute(
            f"SELECT DISTINCT video_id, frame FROM glances WHERE deleted IS NULL"
            f" AND status IN ({','.join('?' * len(statuses))}) ORDER BY video_id, frame",
            statuses,
        ).fetchall()
        glances: dict[str, list[int]] = {}
        for row in rows:
            glances.setdefault(row["video_id"], []).append(row["frame"])
        return glances

    def count_glances(self) -> int:
        return self.read().execute("SELECT COUNT(*) FROM glances WHERE deleted IS NULL").fetchone()[0]
