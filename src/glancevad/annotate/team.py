"""A team's annotation database, as the ``annotate`` commands use it: import, assignment, agreement, consensus.

Each function takes a :class:`~glancevad.annotate.store.GlanceStore` (or its path) and does one
command's work, checks included; the command line only parses options and prints what came back.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glancevad.annotate.agreement import (
    PairAgreement,
    TeamGlances,
    compared_videos,
    pair_agreements,
    team_consensus,
)
from glancevad.annotate.assign import assign
from glancevad.annotate.library import scan_videos
from glancevad.annotate.store import GlanceStore
from glancevad.errors import GlanceVADError, SettingError
from glancevad.fileio import write_json
from glancevad.intervals import Interval


def open_team(db: str | os.PathLike) -> tuple[TeamGlances, dict[str, float]]:
    """The people's glances of an existing database (``{video: {annotator: frames}}``) and each video's fps."""
    if not Path(db).is_file():
        raise GlanceVADError(f"{db}: database not found")
    store = GlanceStore(db)
    return store.team_glances(), {v["id"]: v["fps"] for v in store.videos()}


@dataclass(frozen=True)
class ImportResult:
    added: int
    videos: int
    skipped_glances: int = 0
    skipped_videos: tuple[str, ...] = ()


def import_glance_file(store: GlanceStore, glances: Mapping[str, Sequence[int]], source: str | os.PathLike,
                       videos: str | os.PathLike, *, annotator: str, status: str = "accepted", model: bool = False,
                       skip_unknown: bool = False) -> ImportResult:
    """Import a glance file's ``glances`` (read from ``source``) for the videos of the folder ``videos``.

    A video the folder lacks is an error naming it, unless ``skip_unknown`` (then counted and left out);
    a model's glances are imported as proposed, for a reviewer to accept.
    """
    if status not in ("accepted", "proposed"):
        raise SettingError("status", f"must be accepted or proposed, not {status!r}")
    if model and status != "proposed":
        raise SettingError("status", "must be proposed for a model's glances (a reviewer accepts them)")
    scan_videos(videos, store)
    known = {v["id"] for v in store.videos()}
    unknown = sorted(set(glances) - known)
    if unknown and not skip_unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise GlanceVADError(f"{source}: {len(unknown)} video(s) are not in the video folder: {shown}"
                             f" ({videos}; pass --skip-unknown to import the others)")
    kept = {vid: list(frames) for vid, frames in glances.items() if vid in known}
    added = store.import_glances(kept, annotator, status=status, model=model)
    return ImportResult(added, len(kept), sum(len(glances[vid]) for vid in unknown), tuple(unknown))


def assign_videos(store: GlanceStore, annotators: Sequence[str], *, rule: str, per_video: int = 1,
                  videos: Sequence[str] = (), replace: bool = False) -> tuple[int, list[str], dict[str, list[str]]]:
    """Assign ``videos`` (default: every video the database knows) to ``annotators`` by ``rule``.

    Returns ``(assignments added, the videos assigned, every annotator's queue)``.
    """
    ids = list(videos) or [v["id"] for v in store.videos()]
    if not ids:
        raise GlanceVADError(f"{store.path}: no videos to assign (give --videos DIR to scan a folder into it)")
    added = store.assign(assign(rule, ids, annotators, per_video=per_video), replace=replace)
    return added, ids, store.assignments()


@dataclass(frozen=True)
class AgreementReport:
    """Per pair and overall agreement on the videos two or more annotators took part in."""

    videos: list[str]
    pairs: list[PairAgreement]
    overall: PairAgreement
    truth: bool   # rates against ground-truth events (some compared video has them)

    @property
    def measure(self) -> str:
        return "same-event rate" if self.truth else "matched rate"

    def rates(self) -> dict[tuple[str, str], float]:
        """Each pair's rate of :attr:`measure`."""
        return {(p.first, p.second): p.same_event_rate if self.truth else p.matched_rate for p in self.pairs}

    def write(self, path: str | os.PathLike, **context: Any) -> Path:
        """``agreement.json``: ``context`` (database, ground truth, window), the videos, pairs and overall."""
        def nan_free(row: dict[str, Any]) -> dict[str, Any]:
            return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}

        return write_json(path, {**context, "videos": self.videos, "pairs": [nan_free(p.summary()) for p in self.pairs],
                                 "overall": nan_free(self.overall.summary())})


def team_agreement(team: TeamGlances, fps: Mapping[str, float], *, within_s: float,
                   events: Mapping[str, Sequence[Interval]] | None = None, where: str = "the database",
                   ) -> AgreementReport:
    """How far the annotators agree (see :func:`glancevad.annotate.agreement.pair_agreements`)."""
    videos = compared_videos(team)
    if not videos:
        raise GlanceVADError(f"{where}: no video has glances (or a done / no-anomaly mark) of two or more annotators")
    pairs, overall = pair_agreements(team, fps=fps, within_s=within_s, events=events)
    return AgreementReport(videos, pairs, overall, events is not None and overall.truth_videos > 0)


def consensus(team: TeamGlances, fps: Mapping[str, float], *, k: int, within_s: float,
              where: str = "the database") -> dict[str, list[int]]:
    """One glance per event ``k`` or more annotators found (:func:`~glancevad.annotate.agreement.team_consensus`)."""
    most = max((len(people) for people in team.values()), default=0)
    if k > most:
        raise GlanceVADError(f"{where}: --consensus {k} asks for events found by {k} annotators, but no video has"
                             f" more than {most} annotator(s) taking part")
    return team_consensus(team, fps=fps, k=k, within_s=within_s)
