"""Alarm sinks and their registry: where ``glancevad watch`` delivers alarms.

A sink is a class with ``name``, ``send(record)`` and ``close()`` (:class:`AlarmSink`) built from
one target string. Adding one is one module in this package plus one :class:`SinkKind` line in
:data:`SINKS`; ``--sink KIND=TARGET``, its help and the tests read the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from glancevad.errors import GlanceVADError
from glancevad.watch.sinks.base import AlarmSink, IsolatedSink, SinkSet, SinkStats, json_line
from glancevad.watch.sinks.jsonl import JsonLinesSink
from glancevad.watch.sinks.mqtt import MqttSink
from glancevad.watch.sinks.stdout import StdoutSink
from glancevad.watch.sinks.webhook import WebhookSink


@dataclass(frozen=True)
class SinkKind:
    """A kind of sink: how it is built from a target string, that target's form, and what it does."""

    build: Callable[[str], AlarmSink]
    target: str
    description: str


#: kind -> its sink (``--sink KIND=TARGET``). The one place a sink is added; ``--sink``, its help,
#: the docs and the tests read the kinds, their targets and descriptions here.
SINKS: dict[str, SinkKind] = {
    "stdout": SinkKind(StdoutSink, "", "each record as a JSON line on standard output (always on)"),
    "jsonl": SinkKind(JsonLinesSink, "FILE", "each record appended to FILE as one JSON line"),
    "webhook": SinkKind(WebhookSink, "URL", "each record POSTed as JSON to an http(s) URL"),
    "mqtt": SinkKind(MqttSink, "mqtt://HOST[:PORT]/TOPIC", "each record published as JSON to an MQTT topic"),
}


def sinks_help() -> str:
    """``stdout; jsonl=FILE; ...``: each kind with its target, for ``--sink``'s help."""
    return "; ".join(kind + (f"={entry.target}" if entry.target else "") for kind, entry in SINKS.items())


def build_sink(text: str) -> AlarmSink:
    """The sink of ``KIND=TARGET`` (``KIND`` alone for a sink without a target, such as stdout)."""
    kind, _, target = text.partition("=")
    if kind not in SINKS:
        raise GlanceVADError(f"--sink {text!r}: unknown kind {kind!r}; choose from {', '.join(SINKS)}")
    return SINKS[kind].build(target)


__all__ = ["SINKS", "AlarmSink", "IsolatedSink", "SinkKind", "SinkSet", "SinkStats", "build_sink", "json_line",
           "sinks_help"]
