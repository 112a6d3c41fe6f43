"""The stdout sink: each record as a JSON line on standard output (always on in ``glancevad watch``)."""

from __future__ import annotations

import sys
from typing import IO, Any

from glancevad.watch.sinks.base import json_line


class StdoutSink:
    """JSON lines on a text stream (stdout unless ``stream`` is given); the target is ignored."""

    def __init__(self, target: str = "", *, stream: IO[str] | None = None):
        self.stream = stream or sys.stdout
        self.name = "stdout"

    def send(self, record: dict[str, Any]) -> None:
        self.stream.write(json_line(record) + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass
