"""Exceptions for user errors: the CLI prints their message on one line, with no traceback."""


class GlanceVADError(Exception):
    """A problem the user can fix (bad input, bad option); never a bug in glancevad.

    Line breaks in the message (from a video id or a value quoted out of the user's file) are
    escaped, so every error stays the one line the CLI promises.
    """

    def __init__(self, message: object = "", *args: object):
        super().__init__(str(message).replace("\r", "\\r").replace("\n", "\\n"), *args)


class SettingError(GlanceVADError):
    """A setting's value is not allowed: ``"<setting> <requirement>"``. The library names the
    setting (``min_event``); the CLI names the flag the user typed (``--min-event``) instead."""

    def __init__(self, setting: str, requirement: str):
        super().__init__(f"{setting} {requirement}")
        self.setting, self.requirement = setting, requirement


class DataError(GlanceVADError):
    """A dataset file is missing, malformed or inconsistent; the message names the file and video."""


class GlanceVADWarning(UserWarning):
    """Something the user should know that did not stop the work; the CLI prints it on one line."""
