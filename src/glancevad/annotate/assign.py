"""Work assignment: which annotator glances which video, by rule, as pure functions.

A rule maps ``(videos, annotators, per_video)`` to ``{annotator: videos}``; :data:`RULES` is the one
place rules are registered (the CLI's ``--rule`` choices read it).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence

from glancevad.errors import DataError, GlanceVADError, SettingError
from glancevad.parsing import read_text

Assignment = dict[str, list[str]]


def _check(videos: Sequence[str], annotators: Sequence[str]) -> None:
    if not annotators:
        raise GlanceVADError("name at least one annotator to assign videos to (--to NAME)")
    for what, names in (("annotator", annotators), ("video", videos)):
        twice = sorted(n for n, count in Counter(names).items() if count > 1)
        if twice:
            raise GlanceVADError(f"{what} named twice: {', '.join(twice)}")


def everyone(videos: Sequence[str], annotators: Sequence[str], *, per_video: int = 1) -> Assignment:
    """Every video to every annotator (an explicit list; ``per_video`` must be 1 or the number of annotators)."""
    _check(videos, annotators)
    if per_video not in (1, len(annotators)):
        raise GlanceVADError("--per-video goes with --rule round-robin (the rule 'everyone' gives each video"
                             " to every annotator named)")
    return {name: list(videos) for name in annotators}


def round_robin(videos: Sequence[str], annotators: Sequence[str], *, per_video: int = 1) -> Assignment:
    """Video ``i`` to annotators ``i*k, i*k+1, ..., i*k+k-1`` (mod ``n``), ``k = per_video``.

    Each video gets ``k`` different annotators (the overlap agreement is measured on) and the
    ``len(videos) * k`` assignments are dealt in turn, so loads differ by at most one video.

    >>> round_robin(["v0", "v1", "v2"], ["a", "b"], per_video=1)
    {'a': ['v0', 'v2'], 'b': ['v1']}
    """
    _check(videos, annotators)
    n = len(annotators)
    if not 1 <= per_video <= n:
        raise SettingError("per_video", f"must be from 1 to the number of annotators ({n}), not {per_video}")
    out: Assignment = {name: [] for name in annotators}
    for i, video in enumerate(videos):
        for j in range(per_video):
            out[annotators[(i * per_video + j) % n]].append(video)
    return out


RULES: dict[str, Callable[..., Assignment]] = {"everyone": everyone, "round-robin": round_robin}


def assign(rule: str, videos: Sequence[str], annotators: Sequence[str], *, per_video: int = 1) -> Assignment:
    """Apply the rule named ``rule`` (one of :data:`RULES`)."""
    if rule not in RULES:
        raise SettingError("rule", f"must be one of {', '.join(RULES)}, not {rule!r}")
    return RULES[rule](videos, annotators, per_video=per_video)


def read_video_list(path: str | os.PathLike) -> list[str]:
    """The video ids of a list file: one per line, blank lines and ``#`` comments skipped.

    A file naming no id is an error (an empty list must not mean "every video"), and so are a missing
    file, a folder and text that is not UTF-8 (:func:`glancevad.parsing.read_text`; a BOM is dropped).
    """
    ids = [line.strip() for line in read_text(path, what="video list").splitlines()
           if line.strip() and not line.lstrip().startswith("#")]
    if not ids:
        raise DataError(f"{path} lists no video ids (one id per line; # starts a comment)")
    return ids
