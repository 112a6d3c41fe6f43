"""Events (``glancevad.events``): per-frame scores and events against brute-force definitions, and the
one home of the event settings: every command's default read from it, no event user importing ``detect``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glancevad.events import find_events, frame_scores


def test_frame_scores_cover_every_frame():
    scores = frame_scores(np.array([0.1, 0.9, 0.4]), 53, frames_per_snippet=16)
    assert scores.shape == (53,)
    assert np.all(scores[:16] == 0.1) and np.all(scores[16:32] == 0.9) and np.all(scores[32:] == 0.4)
    assert frame_scores(np.array([0.2, 0.3]), 10, frames_per_snippet=16).tolist() == [0.2] * 10
    with pytest.raises(ValueError, match="no snippet scores"):
        frame_scores(np.array([]), 10)


def _events_loop(scores, fps, threshold, min_event, merge_gap):
    """Frame-by-frame: open a run at a frame above threshold, join runs within the gap, drop short ones."""
    runs = []
    for frame, value in enumerate(scores):
        if value < threshold:
            continue
        if runs and frame - runs[-1][1] <= merge_gap * fps:
            runs[-1][1] = frame + 1
        else:
            runs.append([frame, frame + 1])
    return [(s, e - 1) for s, e in runs if (e - s) / fps >= min_event]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=300), st.sampled_from([10.0, 24.0, 30.0]),
       st.floats(0.05, 0.95), st.floats(0, 2), st.floats(0, 3))
def test_events_match_the_loop(values, fps, threshold, min_event, merge_gap):
    scores = np.array(values)
    events = find_events(scores, fps, threshold=threshold, min_event=min_event, merge_gap=merge_gap)
    assert [(e.start_frame, e.end_frame) for e in events] == _events_loop(scores, fps, threshold, min_event, merge_gap)
    for event in events:
        window = scores[event.start_frame : event.end_frame + 1]
        assert event.peak_score == window.max() and scores[event.peak_frame] == event.peak_score
        assert event.start_s == round(event.start_frame / fps, 3)
        assert event.end_s == round((event.end_frame + 1) / fps, 3)


def test_events_on_a_known_curve():
    scores = np.zeros(300)
    scores[30:90] = 0.8   # 2.0 s event
    scores[100:110] = 0.7  # joined with the first: gap of 10 frames = 0.33 s
    scores[200:205] = 0.9  # 0.17 s: too short
    events = find_events(scores, 30.0, threshold=0.5, min_event=1.0, merge_gap=2.0)
    assert [(e.start_frame, e.end_frame, e.start_s, e.end_s, e.peak_score) for e in events] == [
        (30, 109, 1.0, 3.667, 0.8)
    ]
    assert find_events(scores, 30.0, threshold=0.95) == []


def test_every_default_comes_from_the_event_settings():
    """Each default is written once, in ``EventSettings``: the functions, detect, watch and the CLI read it."""
    import inspect

    import typer.main

    from glancevad.cli import app
    from glancevad.detect import run_detection
    from glancevad.events import DEFAULTS, EventSettings, EventTracker, merged_runs
    from glancevad.watch import WatchSettings

    assert EventSettings() == DEFAULTS and (DEFAULTS.threshold, DEFAULTS.fps) == (0.5, 30.0)
    for function in (find_events, merged_runs, EventTracker.__init__, run_detection):
        for name, parameter in inspect.signature(function).parameters.items():
            if name in ("threshold", "min_event", "merge_gap"):
                assert parameter.default == getattr(DEFAULTS, name), (function, name)
    assert WatchSettings().events == DEFAULTS
    command = typer.main.get_command(app)
    seconds = {"threshold": DEFAULTS.threshold, "min_event": f"{DEFAULTS.min_event}s",
               "merge_gap": f"{DEFAULTS.merge_gap}s"}
    for name in ("detect", "watch"):
        options = {p.name: p.default for p in command.commands[name].params}
        assert {k: options[k] for k in seconds} == seconds, name
    assert {p.name: p.default for p in command.commands["propose"].params}["fps"] == DEFAULTS.fps


def test_bad_event_settings_name_the_setting():
    from glancevad.errors import GlanceVADError
    from glancevad.events import EventSettings

    # the library names the setting; the CLI names the flag the user typed (test_cli)
    for kwargs, message in (({"threshold": 1.5}, r"threshold must lie in \[0, 1\], got 1.5"),
                            ({"min_event": -1}, "min_event must be >= 0, got -1"),
                            ({"merge_gap": float("nan")}, "merge_gap must be >= 0, got nan"),
                            ({"fps": 0}, "fps must be a positive number, got 0")):
        with pytest.raises(GlanceVADError, match=message):
            EventSettings(**kwargs)


def test_event_users_do_not_import_detect():
    """``glancevad.events`` is the low module: assist and watch import it, never the offline orchestrator."""
    import ast
    from pathlib import Path

    import glancevad

    root = Path(glancevad.__file__).parent
    for package in ("assist", "watch", "events.py"):
        for path in [root / package] if package.endswith(".py") else sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module:
                    assert not node.module.startswith("glancevad.detect"), f"{path} imports {node.module}"
