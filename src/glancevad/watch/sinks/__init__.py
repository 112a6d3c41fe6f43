"""Alarm sinks and their registry: where ``glancevad watch`` delivers alarms.

A sink is a class with ``name``, ``send(record)`` and ``close()`` (:class:`AlarmSink`) built from
one target string. Adding one is one module in this package plus one line in :data:`SINKS`;
``--sink KIND=TARGET`` and the tests read the registry.
"""

from __future__ import annotations

from collections.abc import Callable

from glancevad.errors import GlanceVADError
from glancevad.watch.sinks.base import AlarmSink, IsolatedSink, SinkSet, SinkStats, json_line
from glancevad.watch.sinks.jsonl import JsonLinesSink
from glancevad.watch.sinks.mqtt import MqttSink
from glancevad.watch.sinks.stdout import StdoutSink
from glancevad.watch.sinks.webhook import WebhookSink

#: kind -> the sink built from a target string (``--sink KIND=TARGET``)
SINKS: dict[str, Callable[[str], AlarmSink]] = {
    "stdout": StdoutSink,
    "jsonl": JsonLinesSink,
    "webhook": WebhookSink,
    "mqtt": MqttSink,
}


def build_sink(text: str) -> AlarmSink:
    """The sink of ``KIND=TARGET`` (``KIND`` alone for a sink without a target, such as stdout)."""
    kind, _, target = text.partition("=")
    if kind not in SINKS:
        raise GlanceVADError(f"--sink {text!r}: unknown kind {kind!r}; choose from {', '.join(SINKS)}")
    return SINKS[kind](target)


__all__ = ["SINKS", "AlarmSink", "IsolatedSink", "SinkSet", "SinkStats", "build_sink", "json_line"]
