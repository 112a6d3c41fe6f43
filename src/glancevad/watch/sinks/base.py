"""The alarm-sink protocol, and the isolation every sink runs behind.

A sink receives records (dicts: alarms, per-stream summaries, the final summary) and delivers them
somewhere. Each runs behind an :class:`IsolatedSink`: its own thread and a bounded queue, so a slow
or failing sink never delays the scoring or another sink. A record that finds the queue full is
dropped; a delivery that raises is a failure; both are counted and reported, never raised.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

QUEUE_RECORDS = 1000


class AlarmSink(Protocol):
    """Where alarms go. ``send`` may block or raise (it runs in the sink's own thread)."""

    name: str    # how reports and metrics name the sink, e.g. "webhook http://host/hook"

    def send(self, record: dict[str, Any]) -> None:
        """Deliver one record."""
        ...

    def close(self) -> None:
        """Release what the sink holds (files, connections) after the last record."""
        ...


def json_line(record: dict[str, Any]) -> str:
    """A record as one JSON line (no newline), the form every text sink writes."""
    return json.dumps(record, sort_keys=False)


@dataclass
class SinkStats:
    """What a sink did: records delivered, failed (raised), dropped (its queue was full)."""

    sent: int = 0
    failures: int = 0
    dropped: int = 0


class IsolatedSink:
    """``sink`` in its own thread behind a queue of ``maxsize`` records (see the module docstring)."""

    def __init__(self, sink: AlarmSink, *, on_failure: Callable[[str, str], None], maxsize: int = QUEUE_RECORDS):
        self.sink, self.on_failure = sink, on_failure
        self.stats = SinkStats()
        self._queue: queue.Queue[dict | None] = queue.Queue(maxsize=maxsize)
        self._thread = threading.Thread(target=self._run, name=f"glancevad-sink {sink.name}", daemon=True)
        self._thread.start()

    @property
    def name(self) -> str:
        return self.sink.name

    def put(self, record: dict[str, Any]) -> None:
        """Queue ``record`` without waiting; a full queue drops it (counted, reported)."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.stats.dropped += 1
            self.on_failure(self.name, "queue full: an alarm record was dropped (the sink is slower than the alarms)")

    def _run(self) -> None:
        while (record := self._queue.get()) is not None:
            try:
                self.sink.send(record)
                self.stats.sent += 1
            except Exception as exc:  # noqa: BLE001 - a sink's failure is counted, never raised
                self.stats.failures += 1
                self.on_failure(self.name, f"delivery failed: {exc}")

    def close(self, timeout: float) -> None:
        """Deliver what is queued (waiting at most ``timeout`` seconds), then close the sink."""
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout=timeout)
        try:
            self.sink.close()
        except Exception as exc:  # noqa: BLE001
            self.on_failure(self.name, f"close failed: {exc}")


class SinkSet:
    """Every sink of a watch: ``emit`` hands a record to each (never waiting on one)."""

    def __init__(self, sinks: list[AlarmSink], *, on_failure: Callable[[str, str], None] = lambda name, why: None,
                 maxsize: int = QUEUE_RECORDS, close_timeout: float = 10.0):
        self.close_timeout = close_timeout
        self.isolated = [IsolatedSink(s, on_failure=on_failure, maxsize=maxsize) for s in sinks]

    def emit(self, record: dict[str, Any]) -> None:
        for sink in self.isolated:
            sink.put(record)

    def stats(self) -> dict[str, dict[str, int]]:
        """``{sink name: {sent, failures, dropped}}``."""
        from dataclasses import asdict

        return {s.name: asdict(s.stats) for s in self.isolated}

    def failures(self) -> int:
        """Records not delivered, over every sink."""
        return sum(s.stats.failures + s.stats.dropped for s in self.isolated)

    def close(self) -> None:
        for sink in self.isolated:
            sink.close(self.close_timeout)
