"""Defaults shared across the package, each with the paper's or the field's value."""

#: Frames covered by one I3D snippet (non-overlapping 16-frame stacks).
FRAMES_PER_SNIPPET = 16

#: Ids of normal videos in the field's datasets: UCF-Crime's ``Normal_Videos...``, XD-Violence's
#: ``..._label_A`` and the ``normal_...`` ids that ``glancevad synth`` writes.
NORMAL_ID_PATTERN = r"Normal_Videos|_label_A$|^normal_"

#: File suffixes taken as videos when a folder is given (extraction, the annotation tool).
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv", ".flv")
