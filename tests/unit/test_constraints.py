"""Constraints declared once: the config's check and ``train``'s options read the same declaration,
so that at every boundary they accept and refuse the same values."""

from __future__ import annotations

import math

import pytest

from glancevad.cli import main
from glancevad.config import CONSTRAINTS, FIELDS, TrainConfig
from glancevad.constraints import Interval, OneOf
from glancevad.errors import GlanceVADError

#: The ``train`` options that set a config key of the same name.
TRAIN_KEYS = ["model", "supervision", "glance_fraction", "weak_fraction", "steps", "batch_size", "crop_sampling",
              "precision", "seed"]


def _probes(key: str) -> list[str]:
    """Values on, just inside and just outside every bound (or each choice and a wrong one), as typed."""
    constraint = CONSTRAINTS[key]
    if isinstance(constraint, OneOf):
        return [*constraint.choices(), "nope", ""]
    step = 1 if FIELDS[key].type == "int" else 1e-9
    values = [v + d for v in (constraint.low, constraint.high) if v is not None for d in (-step, 0, step)]
    floats = ["nan", "inf", "-inf"] if FIELDS[key].type == "float" else []
    return [f"{v:.10g}" if isinstance(v, float) else str(v) for v in values] + floats


def _config_accepts(key: str, text: str) -> bool:
    value = {"int": int, "float": float, "str": str}[FIELDS[key].type](text)
    others = {"glance_fraction": 0.0, "weak_fraction": 0.0}  # their sum has a limit of its own
    try:
        TrainConfig(**{**others, key: value})
    except GlanceVADError as exc:
        assert key in str(exc)
        return False
    return True


def _cli_accepts(key: str, text: str, capsys) -> bool:
    """``train --KEY TEXT`` without --out: past the options it stops at the missing run folder."""
    option = "--" + key.replace("_", "-")
    with pytest.raises(SystemExit) as stop:
        main(["train", option, text])
    error = capsys.readouterr().err
    assert stop.value.code == 2 and len(error.splitlines()) == 1, error
    if "give exactly one of --out" in error:
        return True
    assert error.startswith(f"error: {option} "), error   # the refusal names the option
    return False


def test_every_train_option_of_a_config_key_is_constrained():
    assert set(TRAIN_KEYS) <= set(CONSTRAINTS)


@pytest.mark.parametrize("key", TRAIN_KEYS)
def test_cli_and_config_refuse_the_same_values_at_every_boundary(key, capsys):
    probes = _probes(key)
    verdicts = {text: (_cli_accepts(key, text, capsys), _config_accepts(key, text)) for text in probes}
    assert all(cli == config for cli, config in verdicts.values()), verdicts
    assert any(cli for cli, _ in verdicts.values()) and not all(cli for cli, _ in verdicts.values()), verdicts


def test_train_help_shows_each_range_and_choice(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")   # one line an option
    main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for key in TRAIN_KEYS:
        constraint = CONSTRAINTS[key]
        shown = "|".join(constraint.choices()) if isinstance(constraint, OneOf) else f"({constraint.describe()})"
        assert shown in text, (key, shown)


@pytest.mark.parametrize(("interval", "inside", "outside", "words"), [
    (Interval(0, 1), [0, 0.5, 1], [-1e-12, 1 + 1e-12, math.nan], "in [0, 1]"),
    (Interval(0, 1, closed="right"), [1e-12, 1], [0, 1.1], "in (0, 1]"),
    (Interval(0, 1, closed="left"), [0, 0.999], [1, -0.1], "in [0, 1)"),
    (Interval(low=0, closed="neither"), [1e-300, 1e300], [0, -1, math.inf], "a positive number"),
    (Interval(low=1), [1, 10**9], [0, 0.5, True], ">= 1"),
])
def test_interval_bounds_by_hand(interval, inside, outside, words):
    assert all(interval.allows(v) for v in inside) and not any(interval.allows(v) for v in outside)
    assert interval.describe() == words


def test_one_of_reads_its_registry_when_it_checks():
    registry = {"a": 1}
    choice = OneOf(registry)
    assert not choice.allows("b")
    registry["b"] = 2
    assert choice.allows("b") and choice.describe() == "one of a, b"


def test_settings_declare_their_constraints_once_and_errors_name_the_setting():
    """Extraction, event and watch settings check their fields from the one declaration; an unset
    optional field is allowed; the CLI names the flag only where the user typed one."""
    from glancevad.cli import _flag_of
    from glancevad.constraints import constraints
    from glancevad.errors import SettingError
    from glancevad.events import EventSettings
    from glancevad.features.extract import ExtractionSettings
    from glancevad.watch.settings import WatchSettings

    assert set(constraints(EventSettings)) == {"threshold", "min_event", "merge_gap", "fps"}
    assert {"crops", "stack", "step", "fps"} <= set(constraints(ExtractionSettings))
    assert {"window", "lookahead", "crops", "stall_timeout", "retries", "backoff"} <= set(constraints(WatchSettings))
    assert ExtractionSettings(fps=None).fps is None and WatchSettings(crops=None).crops is None
    bad = ((lambda: ExtractionSettings(crops=3), "crops"), (lambda: ExtractionSettings(stack=1), "stack"),
           (lambda: WatchSettings(retries=-1), "retries"), (lambda: WatchSettings(crops=2), "crops"),
           (lambda: WatchSettings(window=4, lookahead=4), "lookahead"))
    for build, setting in bad:
        with pytest.raises(SettingError) as caught:
            build()
        assert caught.value.setting == setting and str(caught.value).startswith(f"{setting} must")
    assert _flag_of("min_event", ["detect", "v.mp4", "--min-event", "-1"]) == "--min-event"
    assert _flag_of("min_event", ["detect", "v.mp4", "--min-event=-1"]) == "--min-event"
    assert _flag_of("alpha", ["train", "--set", "alpha=2"]) == "alpha"
