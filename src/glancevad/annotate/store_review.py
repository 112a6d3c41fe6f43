"""The store's review policy and undo log: reviews, keeps and moves, video states, what needs review, undo."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from glancevad.annotate.review import review_reasons
from glancevad.annotate.store_base import (
    _GLANCE_COLUMNS,
    STATES,
    Conflict,
    Invalid,
    StoreBase,
)


class ReviewAndUndo(StoreBase):
    """Reviewing glances, marking videos, and undoing an annotator's last action on a video."""

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
        if only_from_todo and ReviewAndUndo._state(db, video_id, annotator) != "todo":
            return
        db.execute(
            "INSERT INTO video_state VALUES (?, ?, ?, ?) ON CONFLICT(video_id, annotator)"
            " DO UPDATE SET state=excluded.state, updated=excluded.updated",
            (video_id, annotator, state, time.time()),
        )

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
