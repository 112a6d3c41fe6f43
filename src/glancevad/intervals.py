"""Frame intervals and 0/1 frame labels: a leaf module (numpy only) that data, glances and plots share."""

from __future__ import annotations

import numpy as np

#: An end-exclusive ``(start, end)`` range of frames.
Interval = tuple[int, int]


def label_intervals(labels: np.ndarray) -> list[Interval]:
    """The maximal runs of 1s in a 0/1 frame-label array, as end-exclusive ``(start, end)``.

    >>> label_intervals(np.array([0, 1, 1, 0, 1]))
    [(1, 3), (4, 5)]
    """
    padded = np.concatenate([[0], np.asarray(labels, dtype=np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return [(int(s), int(e)) for s, e in zip(edges[0::2], edges[1::2], strict=True)]
