"""Checkpoint selection on held-out training videos: the rules, and which steps may be chosen.

A rule maps the validation scores of one evaluation (``glancevad.engine.scoring.validation_scores``)
to one number; the highest wins, and a tie-break (``selection_tiebreak``) settles equal values. The
test set is never looked at. A rule with a ``ceiling`` (the AUCs: 1) can stop ranking: once held-out
scores reach it, every later evaluation ties, and the run says so (``summary.json``'s ``best``:
``ties``, ``at_ceiling``); the default tie-break then ranks the tied checkpoints by the held-out
loss, which has no ceiling.
``selection_rule`` and ``selection_tiebreak`` in the config name them; docs/training.md ("Which
rule") shows how each rule's choice compares with the last checkpoint and the best-on-test oracle
(``glancevad experiment selection``).
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


def _heldout_loss(val: Mapping[str, float]) -> float:
    """Minus the held-out BCE at glances and normal snippets, when defined, else the video AUC."""
    return _first_defined(-val.get("heldout_bce", math.nan), val["video_auc"])


def _margin(val: Mapping[str, float]) -> float:
    """The mean held-out glance score minus the mean normal snippet score, else the video AUC."""
    return _first_defined(val.get("glance_margin", math.nan), val["video_auc"])


@dataclass(frozen=True)
class SelectionRule:
    """A rule: the score of one evaluation, what it chooses in words (``summary.json``, reports), and
    the highest value it can take (``None``: none a network reaches)."""

    score: Rule
    description: str
    ceiling: float | None = None


#: The one place a rule is added; the config's ``selection_rule`` check and the selection study read it.
SELECTION_RULES: dict[str, SelectionRule] = {
    "glance_auc": SelectionRule(_ranking, "highest validation glance AUC (else video AUC)", 1.0),
    "glance_auc-alarm": SelectionRule(_ranking_minus_alarm, "highest validation glance AUC (else video AUC) minus "
                                                            "the share of held-out normal snippets scored >= 0.5", 1.0),
    "video_auc": SelectionRule(_video, "highest validation video-level AUC", 1.0),
    "heldout_bce": SelectionRule(_heldout_loss, "lowest held-out BCE at the glances (target 1) and the normal "
                                                "snippets (target 0), else highest video AUC"),
    "glance_margin": SelectionRule(_margin, "highest mean held-out glance score minus mean normal snippet score "
                                            "(else video AUC)"),
}


def selection_value(val: Mapping[str, float], rule: str) -> float:
    """The score of one evaluation under ``rule`` (``-inf`` when undefined)."""
    if rule not in SELECTION_RULES:
        raise GlanceVADError(f"unknown selection rule {rule!r}; rules: {', '.join(SELECTION_RULES)}")
    return SELECTION_RULES[rule].score(val)


#: How evaluations of equal value are ordered, in words; the config's ``selection_tiebreak`` check reads it.
TIEBREAKS: dict[str, str] = {
    "heldout_bce": "ties to the lower held-out BCE (then the earlier step)",
    "earlier": "ties to the earlier step",
    "later": "ties to the later step",
}


def selection_key(step: int, val: Mapping[str, float], rule: str, tiebreak: str = "earlier") -> tuple[float, ...]:
    """What a checkpoint is ranked by: ``(rule value, tie-break...)``; the highest key is the best."""
    if tiebreak not in TIEBREAKS:
        raise GlanceVADError(f"unknown selection tie-break {tiebreak!r}; tie-breaks: {', '.join(TIEBREAKS)}")
    value = selection_value(val, rule)
    if tiebreak == "later":
        return value, step
    if tiebreak == "heldout_bce":
        loss = val.get("heldout_bce", math.nan)
        return value, -math.inf if math.isnan(loss) else -loss, -step
    return value, -step


def first_eligible_step(*, mining: bool, min_mining_step: int, uses_glances: bool) -> int:
    """The first step whose checkpoint may become ``best.pt``.

    With mining on and glance-supervised videos in the run, a checkpoint is eligible only once at
    least one mining update is in its weights (the step counter before an update is compared with
    ``min_mining_step``, so update ``min_mining_step + 1`` is the first that mines): the glance AUC
    cannot see what mining changes, and an earlier checkpoint would leave mining untested.
    """
    return min_mining_step + 1 if mining and uses_glances else 1


def choose_step(evaluations: list[tuple[int, Mapping[str, float]]], rule: str, *, first_eligible: int,
                tiebreak: str = "earlier") -> int:
    """The step a run selects from its evaluations ``[(step, validation scores), ...]`` in order.

    The same choice the trainer makes as it goes: the highest :func:`selection_key` among eligible
    steps; the last step when none is eligible.
    """
    eligible = [(selection_key(step, val, rule, tiebreak), step) for step, val in evaluations if step >= first_eligible]
    return max(eligible)[1] if eligible else evaluations[-1][0]
