"""Defaults shared across the package, each with the paper's or the field's value."""

#: Frames covered by one I3D snippet (non-overlapping 16-frame stacks).
FRAMES_PER_SNIPPET = 16

#: Ids of normal videos in the field's datasets: UCF-Crime's ``Normal_Videos...``, XD-Violence's
#: ``..._label_A`` and the ``normal_...`` ids that ``glancevad synth`` writes.
NORMAL_ID_PATTERN = r"Normal_Videos|_label_A$|^normal_"

#: File suffixes taken as videos when a folder is given (extraction, the annotation tool).
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv", ".flv")

#: Top-k pooling in the released networks takes ``k = n // TOPK_DIVISOR + 1`` of ``n`` items
#: (snippets for the video score, memory slots for UR-DMU's memory score). Not FRAMES_PER_SNIPPET.
TOPK_DIVISOR = 16


def topk_count(n: int) -> int:
    """``k = n // 16 + 1``: how many of ``n`` items top-k pooling takes (the released choice)."""
    return n // TOPK_DIVISOR + 1


def rtfm_topk_count(n: int) -> int:
    """``k = n // 10`` (at least 1): RTFM's release (``num_segments // 10``, 3 of 32 snippets)."""
    return max(n // 10, 1)


#: Top-k rules a network's loss settings can name: ``{name: (count function, description)}``.
TOPK_RULES = {
    "urdmu": (topk_count, "k = T // 16 + 1 (UR-DMU's and GlanceVAD's release)"),
    "rtfm": (rtfm_topk_count, "k = T // 10, at least 1 (RTFM's release)"),
}
