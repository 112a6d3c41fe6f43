"""Quality control of glances (appendix A.2 of the paper): duplicates and disagreements, as pure functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def duplicate_pairs(glances: Sequence[Mapping[str, Any]], within: int) -> list[tuple[int, int]]:
    """Ids of glance pairs (any annotators) whose frames are at most ``within`` apart; rejected ones excluded."""
    live = sorted((g for g in glances if g["status"] != "rejected"), key=lambda g: (g["frame"], g["id"]))
    pairs = []
    for i, first in enumerate(live):
        for second in live[i + 1 :]:
            if second["frame"] - first["frame"] > within:
                break
            pairs.append((first["id"], second["id"]))
    return pairs


def disagreements(glances: Sequence[Mapping[str, Any]], states: Mapping[str, str]) -> list[str]:
    """Annotators who marked the video "no anomaly" while another annotator glanced it."""
    glanced = {g["annotator"] for g in glances if g["status"] != "rejected"}
    return sorted(a for a, state in states.items() if state == "no_anomaly" and glanced - {a})


def review_summary(glances: Sequence[Mapping[str, Any]], states: Mapping[str, str], within: int) -> dict[str, Any]:
    """Everything the review page shows for one video."""
    by_annotator: dict[str, list[Mapping[str, Any]]] = {}
    for glance in glances:
        by_annotator.setdefault(glance["annotator"], []).append(glance)
    return {
        "annotators": {name: {"state": states.get(name, "todo"), "glances": items}
                       for name, items in sorted(by_annotator.items())}
        | {name: {"state": state, "glances": []} for name, state in states.items() if name not in by_annotator},
        "duplicates": duplicate_pairs(glances, within),
        "disagreement": disagreements(glances, states),
        "duplicate_frames": within,
    }


def review_reasons(glances: Sequence[Mapping[str, Any]], states: Mapping[str, str], within: int) -> list[str]:
    """Why a video needs a reviewer: unreviewed, duplicate or disagreeing glances (empty: it does not)."""
    reasons = []
    if unreviewed := sum(g["status"] == "proposed" for g in glances):
        reasons.append(f"{unreviewed} unreviewed")
    if pairs := duplicate_pairs(glances, within):
        reasons.append(f"{len(pairs)} possible duplicate pair(s)")
    if disagreements(glances, states):
        reasons.append("annotators disagree")
    return reasons
