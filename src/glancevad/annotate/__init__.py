"""The glance annotation tool: a SQLite store, a FastAPI server and a keyboard-first page."""

from glancevad.annotate.store import STATES, STATUSES, GlanceStore

__all__ = ["STATES", "STATUSES", "GlanceStore"]
