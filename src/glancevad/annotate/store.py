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

The store is split by concern, one module each, assembled here into :class:`GlanceStore`:
persistence (:mod:`~glancevad.annotate.store_base`: schema, transactions, videos, annotators,
glances), the review policy and undo log (:mod:`~glancevad.annotate.store_review`), work
assignment and progress (:mod:`~glancevad.annotate.store_work`), and glances in and out for
import, export, agreement and consensus (:mod:`~glancevad.annotate.store_exchange`).
"""

from __future__ import annotations

from glancevad.annotate.store_base import (
    ANNOTATOR_NAME,
    STATES,
    STATUSES,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    VideoRecord,
)
from glancevad.annotate.store_exchange import GlanceExchange
from glancevad.annotate.store_review import ReviewAndUndo
from glancevad.annotate.store_work import WorkAndProgress

__all__ = ["ANNOTATOR_NAME", "STATES", "STATUSES", "Conflict", "Forbidden", "GlanceStore", "Invalid", "NotFound",
           "VideoRecord"]


class GlanceStore(ReviewAndUndo, WorkAndProgress, GlanceExchange):
    """Thread-safe access to the database: one connection per thread, short write transactions."""
