"""The annotation store's persistence: the SQLite schema, connections and transactions, videos,
annotators and glances (adding, deleting, reading); the errors every part of the store raises.

See :mod:`glancevad.annotate.store` for the guarantees (one short transaction per action,
``synchronous=FULL``, per-glance revisions).
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
    proxy TEXT,                         -- a browser-playable copy (absolute path), when the file is not
    times TEXT,                         -- JSON {"times", "seeks"}: each frame's presentation time (s) in
                                        -- the file served, and the time to seek to to show it
    version INTEGER NOT NULL DEFAULT 0  -- bumped by every write to the video's glances or states (polled)
);
CREATE TABLE IF NOT EXISTS annotators (
    name TEXT PRIMARY KEY,
    created REAL NOT NULL,
    reviewer INTEGER NOT NULL DEFAULT 0, -- only reviewers accept or reject glances
    model INTEGER NOT NULL DEFAULT 0    -- a network (glancevad propose): its proposals are never exported
);
CREATE TABLE IF NOT EXISTS glances (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id TEXT NOT NULL REFERENCES videos(id),
    frame INTEGER NOT NULL CHECK (frame >= 0),
    annotator TEXT NOT NULL REFERENCES annotators(name),
    created REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed', 'accepted', 'rejected')),
    reviewer TEXT REFERENCES annotators(name),
    deleted REAL,
    revision INTEGER NOT NULL DEFAULT 0 -- bumped by every change to this glance: writes naming an older one conflict
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
    video_id TEXT,                      -- undo is per video
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,              -- JSON: what the action changed, so that undo can invert it
    created REAL NOT NULL,
    undone INTEGER NOT NULL DEFAULT 0
);
"""
# Columns added since the first release: (table, column, declaration), added to older databases.
_ADDED_COLUMNS = (
    ("videos", "times", "TEXT"),
    ("videos", "version", "INTEGER NOT NULL DEFAULT 0"),
    ("annotators", "reviewer", "INTEGER NOT NULL DEFAULT 0"),
    ("actions", "video_id", "TEXT"),
    ("annotators", "model", "INTEGER NOT NULL DEFAULT 0"),
    ("glances", "revision", "INTEGER NOT NULL DEFAULT 0"),
)
_GLANCE_COLUMNS = "id, video_id, frame, annotator, created, status, reviewer, revision"
# Work assignment (glancevad annotate assign): created on opening, so older databases gain it as they are.
_ASSIGNMENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS assignments (
    video_id TEXT NOT NULL REFERENCES videos(id),
    annotator TEXT NOT NULL REFERENCES annotators(name),
    assigned REAL NOT NULL,
    PRIMARY KEY (video_id, annotator)
);
"""
GOLDEN_ANGLE = 137.508  # degrees: the i-th annotator's hue is i times this, so hues stay far apart


class NotFound(GlanceVADError):
    """A video, glance or annotator that does not exist."""


class Invalid(GlanceVADError):
    """A request that names existing things but asks for something impossible."""


class Forbidden(GlanceVADError):
    """An action the annotator's role does not allow (accepting without being a reviewer ...)."""


class Conflict(GlanceVADError):
    """A write on a glance that changed (or was deleted) since the page saw it: a real conflict.

    ``glance`` is the glance as it is now (``None``: deleted), so the page can redo the action on it.
    """

    def __init__(self, video_id: str, glance_id: int, glance: dict[str, Any] | None, what: str):
        super().__init__(f"glance #{glance_id} {what}")
        self.video_id, self.glance_id, self.glance = video_id, glance_id, glance


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


class _Unchanged(Exception):
    """Raised inside a write to roll it back: the glance asked for exists already (``glance_id``)."""

    def __init__(self, glance_id: int):
        super().__init__(glance_id)
        self.glance_id = glance_id


def _describe(glance: dict[str, Any], deleted: bool) -> str:
    """A glance's current state in words, for a conflict's message."""
    if deleted:
        return f"deleted by {glance['annotator']}"
    if glance["status"] == "proposed":
        return "proposed again"
    return f"{glance['status']} by {glance['reviewer']}"


class StoreBase:
    """Thread-safe access to the database: one connection per thread, short write transactions."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        db = self._connection()
        db.executescript(_SCHEMA)  # executescript manages its own transaction
        for table, column, declaration in _ADDED_COLUMNS:
            if column not in {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        db.executescript(_ASSIGNMENT_SCHEMA)

    def close(self) -> None:
        """Close this thread's connection (the next call opens another)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

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

    def upsert_video(self, record: VideoRecord, size: int, mtime_ns: int, times: list[float] | None = None,
                     seeks: list[float | None] | None = None) -> None:
        """Record a probed video; ``times``/``seeks``: its frames' presentation and seek times in the file served."""
        with self.write() as db:
            db.execute(
                "INSERT INTO videos (id, path, frames, fps, duration, width, height, size, mtime_ns, codec, proxy,"
                " times) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
                " path=excluded.path, frames=excluded.frames, fps=excluded.fps, duration=excluded.duration,"
                " width=excluded.width, height=excluded.height, size=excluded.size, mtime_ns=excluded.mtime_ns,"
                " codec=excluded.codec, proxy=excluded.proxy, times=excluded.times",
                (record.id, record.path, record.frames, record.fps, record.duration, record.width, record.height,
                 size, mtime_ns, record.codec, record.proxy,
                 None if times is None else json.dumps({"times": times, "seeks": seeks or times})),
            )

    def video_stat(self, video_id: str) -> tuple[str, int, int] | None:
        """``(path, size, mtime_ns)`` recorded when ``video_id`` was probed (``None``: unknown or never timed)."""
        row = self.read().execute("SELECT path, size, mtime_ns FROM videos WHERE id=? AND times IS NOT NULL",
                                  (video_id,)).fetchone()
        return None if row is None else (row["path"], row["size"], row["mtime_ns"])

    def video(self, video_id: str) -> VideoRecord:
        row = self.read().execute(
            "SELECT id, path, frames, fps, duration, width, height, codec, proxy FROM videos WHERE id=?", (video_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"unknown video {video_id!r}")
        return VideoRecord(**dict(row))

    def frame_times(self, video_id: str) -> list[float]:
        """Presentation time (s) of every frame of the file served for ``video_id``, in frame order."""
        return self._timing(video_id)["times"]

    def seek_times(self, video_id: str) -> list[float | None]:
        """The time to seek to to show each frame (see :func:`glancevad.annotate.library.frame_times`)."""
        return self._timing(video_id)["seeks"]

    def _timing(self, video_id: str) -> dict[str, list[Any]]:
        row = self.read().execute("SELECT times, frames, fps FROM videos WHERE id=?", (video_id,)).fetchone()
        if row is None:
            raise NotFound(f"unknown video {video_id!r}")
        if row["times"]:
            timing = json.loads(row["times"])
            times, seeks = timing["times"], timing["seeks"]
            # databases probed before seeks went to the middle of each frame's own interval at variable
            # rates marked frames None that a seek does show: give them that middle
            timing["seeks"] = [(t + u) / 2 if s is None and t < u else s
                               for t, u, s in zip(times, times[1:] + [times[-1]], seeks, strict=True)]
            return timing
        times = [i / row["fps"] for i in range(row["frames"])]
        return {"times": times, "seeks": [t + 0.5 / row["fps"] for t in times]}

    def version(self, video_id: str) -> int:
        row = self.read().execute("SELECT version FROM videos WHERE id=?", (video_id,)).fetchone()
        if row is None:
            raise NotFound(f"unknown video {video_id!r}")
        return row["version"]

    def list_version(self) -> str:
        """A token that changes whenever the video list could (any video's glances or states, the videos, the
        annotators, the assignments): pages poll it and reload the list only when it moves. Two queries."""
        db = self.read()
        videos = db.execute("SELECT TOTAL(version), COUNT(*), (SELECT COUNT(*) FROM annotators) FROM videos").fetchone()
        queued = db.execute("SELECT COUNT(*), TOTAL(assigned) FROM assignments").fetchone()
        return ":".join(str(value) for value in (*videos, *queued))

    def add_annotator(self, name: str, *, reviewer: bool = False, model: bool = False) -> str:
        """Register ``name`` (idempotent); ``reviewer=True`` also grants the reviewer role, ``model=True``
        marks a network whose proposals are exported only once a reviewer accepts them."""
        if not ANNOTATOR_NAME.match(name or ""):
            raise Invalid(f"annotator names are 1-40 letters, digits or . _ - @ (not {name!r})")
        with self.write() as db:
            db.execute("INSERT OR IGNORE INTO annotators (name, created) VALUES (?, ?)", (name, time.time()))
            if reviewer:
                db.execute("UPDATE annotators SET reviewer=1 WHERE name=?", (name,))
            if model:
                db.execute("UPDATE annotators SET model=1 WHERE name=?", (name,))
        return name

    def require_annotator(self, name: str) -> str:
        if self.read().execute("SELECT 1 FROM annotators WHERE name=?", (name,)).fetchone() is None:
            raise NotFound(f"unknown annotator {name!r}")
        return name

    def is_reviewer(self, name: str) -> bool:
        row = self.read().execute("SELECT reviewer FROM annotators WHERE name=?", (name,)).fetchone()
        return bool(row and row["reviewer"])

    def _require_reviewer(self, name: str, action: str) -> None:
        self.require_annotator(name)
        if not self.is_reviewer(name):
            raise Forbidden(f"only reviewers {action}; {name!r} is not one (start the server with --reviewer {name})")

    def annotators(self) -> list[str]:
        return [r["name"] for r in self.read().execute("SELECT name FROM annotators ORDER BY name")]

    def roles(self) -> list[dict[str, Any]]:
        """``[{"name", "reviewer", "model", "hue"}]`` for every annotator, by name.

        ``hue`` (degrees) is the annotator's colour on every page: the i-th annotator registered gets i
        golden angles, so any two of the first ten are at least 20 degrees apart and never change.
        """
        rows = self.read().execute("SELECT name, reviewer, model, rowid FROM annotators ORDER BY rowid").fetchall()
        roles = [{"name": r["name"], "reviewer": bool(r["reviewer"]), "model": bool(r["model"]),
                  "hue": round(i * GOLDEN_ANGLE % 360, 1)} for i, r in enumerate(rows)]
        return sorted(roles, key=lambda r: r["name"])

    def glances(self, video_id: str, *, annotator: str | None = None) -> list[dict[str, Any]]:
        self.video(video_id)
        rows = self.read().execute(
            f"SELECT {_GLANCE_COLUMNS} FROM glances"
            " WHERE video_id=? AND deleted IS NULL AND (?2 IS NULL OR annotator=?2) ORDER BY frame, id",
            (video_id, annotator),
        ).fetchall()
        return [dict(r) for r in rows]

    def snapshot(self, video_id: str) -> dict[str, Any]:
        """The video's version and every live glance: what a page that met a conflict is sent to catch up."""
        return {"version": self.version(video_id), "glances": self.glances(video_id)}

    @contextmanager
    def _video_write(self, video_id: str) -> Iterator[sqlite3.Connection]:
        """A write transaction on one video; its version (the change counter pages poll) goes up when it commits."""
        with self.write() as db:
            yield db
            db.execute("UPDATE videos SET version=version+1 WHERE id=?", (video_id,))

    @contextmanager
    def _glance_write(self, glance_id: int, revision: int | None) -> Iterator[tuple[sqlite3.Connection, dict]]:
        """A write transaction on one glance, read fresh inside it: :class:`NotFound` when it never existed or
        (with no ``revision``) is deleted; :class:`Conflict` when ``revision`` is given and the glance has been
        changed or deleted since. Yields the connection and the glance as it is."""
        with self.write() as db:
            row = db.execute(f"SELECT {_GLANCE_COLUMNS}, deleted FROM glances WHERE id=?", (glance_id,)).fetchone()
            if row is None or (row["deleted"] is not None and revision is None):
                raise NotFound(f"unknown glance {glance_id} (deleted, perhaps in another tab)")
            glance = dict(row)
            deleted = glance.pop("deleted") is not None
            if revision is not None and (deleted or glance["revision"] != revision):
                raise Conflict(glance["video_id"], glance_id, None if deleted else glance,
                               f"changed since you saw it: {_describe(glance, deleted)}")
            yield db, glance
            db.execute("UPDATE videos SET version=version+1 WHERE id=?", (glance["video_id"],))

    def add_glance(self, video_id: str, frame: int, annotator: str, *, status: str = "proposed") -> dict[str, Any]:
        """Add a glance; returns it with ``created``: ``False`` when the annotator already had one on that frame
        (nothing is written then). Never conflicts: a new glance changes no existing one."""
        video = self.video(video_id)
        self.require_annotator(annotator)
        self._check_glance(video, frame, status)
        if status != "proposed":
            self._require_reviewer(annotator, "add accepted glances")
        try:
            with self._video_write(video_id) as db:
                row = db.execute("SELECT id FROM glances WHERE video_id=? AND frame=? AND annotator=?"
                                 " AND deleted IS NULL", (video_id, frame, annotator)).fetchone()
                if row is not None:
                    raise _Unchanged(row["id"])  # rolls the transaction back: the version stays
                glance_id = self._insert_glance(db, video_id, frame, annotator, status)
                self._log(db, annotator, video_id, "add", {"glance": glance_id, "frame": frame, "touched": [glance_id]})
        except _Unchanged as existing:
            return self._glance(existing.glance_id) | {"created": False}
        return self._glance(glance_id) | {"created": True}

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

    def delete_glance(self, glance_id: int, annotator: str, *, revision: int | None = None) -> dict[str, Any]:
        """Delete one of the annotator's own glances; annotators who are not reviewers only unreviewed ones."""
        self.require_annotator(annotator)
        reviewer = self.is_reviewer(annotator)
        with self._glance_write(glance_id, revision) as (db, glance):
            if glance["annotator"] != annotator:
                raise Forbidden(f"glance #{glance_id} is {glance['annotator']}'s: only they can delete it"
                                " (a reviewer rejects it instead)")
            if glance["status"] != "proposed" and not reviewer:
                raise Forbidden(f"glance #{glance_id} was already {glance['status']} by a reviewer:"
                                " it cannot be deleted")
            db.execute("UPDATE glances SET deleted=?, revision=revision+1 WHERE id=?", (time.time(), glance_id))
            self._log(db, annotator, glance["video_id"], "delete",
                      {"glance": glance_id, "frame": glance["frame"], "touched": [glance_id]})
        return glance

    def _glance(self, glance_id: int) -> dict[str, Any]:
        row = self.read().execute(
            f"SELECT {_GLANCE_COLUMNS} FROM glances WHERE id=? AND deleted IS NULL", (glance_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"unknown glance {glance_id} (deleted, perhaps in another tab)")
        return dict(row)

    @staticmethod
    def _log(db: sqlite3.Connection, annotator: str, video_id: str, kind: str, payload: dict[str, Any]) -> None:
        db.execute("INSERT INTO actions (annotator, video_id, kind, payload, created) VALUES (?, ?, ?, ?, ?)",
                   (annotator, video_id, kind, json.dumps(payload), time.time()))
