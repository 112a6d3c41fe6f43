"""The annotation tool's store of record: one SQLite database in WAL mode.

Every action is one short transaction committed before the server answers, with
``synchronous=FULL``, so an acknowledged glance survives a killed server (and a power cut).
Deleting a glance marks it deleted rather than removing the row, so undo can bring it back and the
history stays auditable. Each action an annotator takes is logged with what undoes it.

Many annotators and reviewers work on one video at once, so conflicts are detected per glance: every
glance carries a ``revision`` that each change to it (review, move, delete, undo) bumps, and a write
on a glance that names the revision it saw is refused with :class:`Conflict` when the glance has
changed since. Adding a glance never conflicts (it touches no existing glance). The video's
``version`` only counts changes, so that pages polling it know when to redraw.
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

from glancevad.annotate.progress import progress_table, queue_progress
from glancevad.annotate.review import review_reasons
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


class GlanceStore:
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

    # -- videos and annotators -------------------------------------------------------------

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

    # -- glances -------------------------------------------------------------------------------

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

    def review(self, glance_id: int, status: str, reviewer: str, *, revision: int | None = None) -> dict[str, Any]:
        """Accept or reject a glance (appendix A.2's quality control); reviewers only."""
        self._require_reviewer(reviewer, "accept or reject glances")
        if status not in ("accepted", "rejected"):
            raise Invalid("review status must be accepted or rejected")
        with self._glance_write(glance_id, revision) as (db, glance):
            self._set_statuses(db, glance, {glance_id: status}, reviewer, "review")
        return self._glance(glance_id)

    def keep(self, glance_id: int, reviewer: str, within: int, *, revision: int | None = None) -> dict[str, Any]:
        """Accept ``glance_id`` and reject every live glance at most ``within`` frames from it (its duplicates,
        as they are when the write runs)."""
        self._require_reviewer(reviewer, "resolve duplicates")
        with self._glance_write(glance_id, revision) as (db, kept):
            verdicts = {r["id"]: "rejected" for r in db.execute(
                "SELECT id FROM glances WHERE video_id=? AND deleted IS NULL AND status != 'rejected'"
                " AND frame BETWEEN ? AND ?", (kept["video_id"], kept["frame"] - within, kept["frame"] + within))}
            self._set_statuses(db, kept, verdicts | {glance_id: "accepted"}, reviewer, "keep")
        return self._glance(glance_id)

    def move(self, glance_id: int, frame: int, reviewer: str, *, revision: int | None = None) -> dict[str, Any]:
        """Move a proposed glance: reject it and add an accepted glance at ``frame`` by ``reviewer``, in one
        undoable action (a reviewer correcting a model's proposal). Returns the new glance."""
        self._require_reviewer(reviewer, "move glances")
        with self._glance_write(glance_id, revision) as (db, glance):
            if glance["status"] != "proposed":
                raise Invalid(f"glance #{glance_id} is {glance['status']}: only proposed glances are moved")
            self._check_glance(self.video(glance["video_id"]), frame, "accepted")
            db.execute("UPDATE glances SET status='rejected', reviewer=?, revision=revision+1 WHERE id=?",
                       (reviewer, glance_id))
            new = self._insert_glance(db, glance["video_id"], frame, reviewer, "accepted")
            self._log(db, reviewer, glance["video_id"], "move", {
                "glance": glance_id, "frame": glance["frame"], "to": frame, "new": new,
                "before": [{"id": glance_id, "status": glance["status"], "reviewer": glance["reviewer"]}],
                "touched": [glance_id, new]})
        return self._glance(new)

    def _set_statuses(self, db: sqlite3.Connection, glance: dict[str, Any], verdicts: dict[int, str], reviewer: str,
                      kind: str) -> None:
        """Give each glance of ``verdicts`` its status, in the caller's transaction, as one undoable action."""
        marks = ",".join("?" * len(verdicts))
        before = [dict(r) for r in db.execute(f"SELECT id, status, reviewer FROM glances WHERE id IN ({marks})",
                                              list(verdicts))]
        db.executemany("UPDATE glances SET status=?, reviewer=?, revision=revision+1 WHERE id=?",
                       [(status, reviewer, gid) for gid, status in verdicts.items()])
        self._log(db, reviewer, glance["video_id"], kind, {"glance": glance["id"], "frame": glance["frame"],
                                                          "status": verdicts[glance["id"]], "before": before,
                                                          "touched": list(verdicts)})

    def _glance(self, glance_id: int) -> dict[str, Any]:
        row = self.read().execute(
            f"SELECT {_GLANCE_COLUMNS} FROM glances WHERE id=? AND deleted IS NULL", (glance_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"unknown glance {glance_id} (deleted, perhaps in another tab)")
        return dict(row)

    # -- per-video state ------------------------------------------------------------------------

    def set_state(self, video_id: str, annotator: str, state: str) -> str:
        """Mark the video for ``annotator`` (each annotator has their own state: no one else's is touched)."""
        self.video(video_id)
        self.require_annotator(annotator)
        if state not in STATES:
            raise Invalid(f"state must be one of {', '.join(STATES)}")
        with self._video_write(video_id) as db:
            previous = self._state(db, video_id, annotator)
            self._set_state(db, video_id, annotator, state)
            self._log(db, annotator, video_id, "state", {"video": video_id, "state": previous, "new": state})
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

    # -- review queue ---------------------------------------------------------------------------

    def needs_review(self, video_id: str, within: int) -> list[str]:
        """Why ``video_id`` needs a reviewer: unreviewed, duplicate or disagreeing glances (empty: it does not)."""
        glances = self.glances(video_id)
        rows = self.read().execute("SELECT annotator, state FROM video_state WHERE video_id=?", (video_id,))
        return review_reasons(glances, {r["annotator"]: r["state"] for r in rows}, within)

    def needs_review_all(self, within: int) -> dict[str, list[str]]:
        """``{video-id: reasons}`` of every video needing review (:meth:`needs_review`), in two queries:
        the video list marks them."""
        glances: dict[str, list[dict[str, Any]]] = {}
        for row in self.read().execute(f"SELECT {_GLANCE_COLUMNS} FROM glances WHERE deleted IS NULL"
                                       " ORDER BY video_id, frame, id"):
            glances.setdefault(row["video_id"], []).append(dict(row))
        states: dict[str, dict[str, str]] = {}
        for row in self.read().execute("SELECT video_id, annotator, state FROM video_state"):
            states.setdefault(row["video_id"], {})[row["annotator"]] = row["state"]
        reasons = {vid: review_reasons(items, states.get(vid, {}), within) for vid, items in glances.items()}
        return {vid: why for vid, why in reasons.items() if why}

    def next_for_review(self, after: str | None, within: int) -> dict[str, Any] | None:
        """The first video after ``after`` (by id, wrapping round) that needs review, with its reasons."""
        pending = self.needs_review_all(within)
        ids = [r["id"] for r in self.read().execute("SELECT id FROM videos ORDER BY id")]
        start = ids.index(after) + 1 if after in ids else 0
        for video_id in ids[start:] + ids[:start]:
            if video_id in pending:
                return {"id": video_id, "reasons": pending[video_id]}
        return None

    # -- undo -------------------------------------------------------------------------------------

    @staticmethod
    def _log(db: sqlite3.Connection, annotator: str, video_id: str, kind: str, payload: dict[str, Any]) -> None:
        db.execute("INSERT INTO actions (annotator, video_id, kind, payload, created) VALUES (?, ?, ?, ?, ?)",
                   (annotator, video_id, kind, json.dumps(payload), time.time()))

    def undo(self, video_id: str, annotator: str) -> dict[str, Any] | None:
        """Invert the annotator's last action on ``video_id`` not yet undone; ``None`` when there is none.

        Returns the action with ``message``, a sentence saying what was undone. :class:`Conflict` (nothing
        undone) when someone else has changed a glance of that action since: undoing would wipe their work.
        """
        self.video(video_id)
        self.require_annotator(annotator)
        with self._video_write(video_id) as db:
            row = db.execute("SELECT id, kind, payload FROM actions WHERE annotator=? AND video_id=? AND undone=0"
                             " ORDER BY id DESC LIMIT 1", (annotator, video_id)).fetchone()
            if row is None:
                return None
            payload = json.loads(row["payload"])
            for gid in payload.get("touched", []):  # older logs do not say: not checked
                other = db.execute(
                    "SELECT annotator, kind FROM actions a WHERE id > ? AND undone = 0 AND annotator != ?"
                    " AND video_id = ? AND EXISTS (SELECT 1 FROM json_each(a.payload, '$.touched') WHERE value = ?)"
                    " ORDER BY id DESC LIMIT 1", (row["id"], annotator, video_id, gid)).fetchone()
                if other is not None:
                    glance = dict(db.execute(f"SELECT {_GLANCE_COLUMNS}, deleted FROM glances WHERE id=?",
                                             (gid,)).fetchone())
                    deleted = glance.pop("deleted") is not None
                    raise Conflict(video_id, gid, None if deleted else glance,
                                   f"was changed by {other['annotator']} ({other['kind']}) after your {row['kind']}:"
                                   " not undone, so their change stays")
            touch = "revision=revision+1"
            if row["kind"] == "add":
                db.execute(f"UPDATE glances SET deleted=?, {touch} WHERE id=?", (time.time(), payload["glance"]))
            elif row["kind"] == "delete":
                db.execute(f"UPDATE glances SET deleted=NULL, {touch} WHERE id=?", (payload["glance"],))
            elif row["kind"] in ("review", "keep", "move"):
                if row["kind"] == "move":
                    db.execute(f"UPDATE glances SET deleted=?, {touch} WHERE id=?", (time.time(), payload["new"]))
                db.executemany(f"UPDATE glances SET status=?, reviewer=?, {touch} WHERE id=?",
                               [(b["status"], b["reviewer"], b["id"]) for b in payload["before"]])
            elif row["kind"] == "state":
                self._set_state(db, video_id, annotator, payload["state"])
            db.execute("UPDATE actions SET undone=1 WHERE id=?", (row["id"],))
        return {"kind": row["kind"], **payload, "message": _undo_message(row["kind"], payload)}

    # -- work assignment and progress -----------------------------------------------------------

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

    # -- import / export ------------------------------------------------------------------------

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

    # -- agreement -------------------------------------------------------------------------------

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


def _undo_message(kind: str, payload: dict[str, Any]) -> str:
    """What undoing an action did, in words."""
    where = f"glance #{payload.get('glance')} at frame {payload.get('frame')}"
    return {
        "add": f"undid adding the {where}",
        "delete": f"undid deleting the {where}: it is back",
        "review": f"undid {payload.get('status')} on the {where}",
        "keep": f"undid keeping the {where} (its duplicates' reviews too)",
        "move": f"undid moving the {where} to frame {payload.get('to')}: it is proposed again",
        "state": f"undid marking the video {str(payload.get('new', '')).replace('_', ' ')}:"
                 f" it is {str(payload.get('state', '')).replace('_', ' ')} again",
    }[kind]
