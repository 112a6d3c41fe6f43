"""Exceptions for user errors: the CLI prints their message on one line, with no traceback."""


class GlanceVADError(Exception):
    """A problem the user can fix (bad input, bad option); never a bug in glancevad."""


class DataError(GlanceVADError):
    """A dataset file is missing, malformed or inconsistent; the message names the file and video."""
