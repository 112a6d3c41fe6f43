"""Checkpoint selection on held-out training videos: the rules, and which steps may be chosen.

A rule maps the validation scores of one evaluation (``glancevad.engine.scoring.validation_scores``)
to one number; the highest wins and ties keep the earlier step. The test set is never looked at.
``selection_rule`` in the config names the rule; docs/training.md ("Which rule") shows how each rule's
choice compares with the last checkpoint and the best-on-test oracle (``glancevad experiment selection``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from glancevad.errors import GlanceVADError

Rule = Callable[[Mapping[str, float]], float]


def _first_defined(*values: float) -> float:
    for value in values:
        if not math.isnan(value):
            return value
    return -math.inf


def _ranking(val: Mapping[str, float]) -> float:
    """The glance AUC when defined, else the video AUC."""
    return _first_defined(val["glance_auc"], val["video_auc"])


def _ranking_minus_alarm(val: Mapping[str, float]) -> float:
    """The ranking score minus the share of held-out normal snippets scored >= 0.5."""
    alarm = val.get("normal_alarm", math.nan)
    return _ranking(val) - (0.0 if math.isnan(alarm) else alarm)


def _video(val: Mapping[str, float]) -> float:
    return _first_defined(val["video_auc"])


@dataclass(frozen=True)
class SelectionRule:
    """A rule: the score of one evaluation, and what it chooses in words (``summary.json``, reports)."""

    score: Rule
    description: str


#: The one place a rule is added; the config's ``selection_rule`` check and the selection study read it.
SELECTION_RULES: dict[str, SelectionRule] = {
    "glance_auc": SelectionRule(_ranking, "highest validation glance AUC (else video AUC)"),
    "glance_auc-alarm": SelectionRule(_ranking_minus_alarm, "highest validation glance AUC (else video AUC) minus "
                                                            "the share of held-out normal snippets scored >= 0.5"),
    "video_auc": SelectionRule(_video, "highest validation video-level AUC"),
}


def selection_value(val: Mapping[str, float], rule: str) -> float:
    """The score of one evaluation under ``rule`` (``-inf`` when undefined)."""
    if rule not in SELECTION_RULES:
        raise GlanceVADError(f"unknown selection rule {rule!r}; rules: {', '.join(SELECTION_RULES)}")
    return SELECTION_RULES[rule].score(val)


def first_eligible_step(*, mining: bool, min_mining_step: int, uses_glances: bool) -> int:
    """The first step whose checkpoint may become ``best.pt``.

    With mining on and glance-supervised videos in the run, a checkpoint is eligible only once at
    least one mining update is in its weights (the step counter before an update is compared with
    ``min_mining_step``, so update ``min_mining_step + 1`` is the first that mines): the glance AUC
    cannot see what mining changes, and an earlier checkpoint would leave mining untested.
    """
    return min_mining_step + 1 if mining and uses_glances else 1


def choose_step(evaluations: list[tuple[int, Mapping[str, float]]], rule: str, *, first_eligible: int,
                later_ties: bool = False) -> int:
    """The step a run selects from its evaluations ``[(step, validation scores), ...]`` in order.

    The same choice the trainer makes as it goes: the highest value among eligible steps, ties
    keeping the earlier (``later_ties``: the later, a variant the selection study measures); the
    last step when none is eligible.
    """
    best_step, best_value = None, -math.inf
    for step, val in evaluations:
        value = selection_value(val, rule)
        if replaces_best(step, value, best_step, best_value, first_eligible=first_eligible, later_ties=later_ties):
            best_step, best_value = step, value
    return best_step if best_step is not None else evaluations[-1][0]


def replaces_best(step: int, value: float, best_step: int | None, best_value: float, *, first_eligible: int,
                  later_ties: bool = False) -> bool:
    """Whether the checkpoint of ``step``, with selection value ``value``, replaces the best so far
    (``best_step`` None: none yet): it must be eligible and beat it; a tie keeps the earlier
    unless ``later_ties``."""
    if step < first_eligible:
        return False
    return best_step is None or value > best_value or (later_ties and value == best_value)
