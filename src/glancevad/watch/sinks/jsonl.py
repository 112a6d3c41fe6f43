"""The JSON-lines file sink: each record appended to a file as one line (``--alarms FILE``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glancevad.errors import GlanceVADError
from glancevad.watch.sinks.base import json_line


class JsonLinesSink:
    """Appends to ``target`` (a path; its folder is made), flushed after every record."""

    def __init__(self, target: str):
        if not target:
            raise GlanceVADError("the jsonl sink needs a file: --sink jsonl=alarms.jsonl")
        self.path = Path(target)
        self.name = f"jsonl {self.path}"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise GlanceVADError(f"{self.path}: cannot append alarms ({exc.strerror or exc})") from None

    def send(self, record: dict[str, Any]) -> None:
        self._file.write(json_line(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
