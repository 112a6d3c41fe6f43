"""The alarm sinks of ``glancevad watch``: the registry, isolation (a slow or failing sink delays
nobody and is counted), the stream list of a cameras.yaml, and the MQTT sink against a real broker."""

from __future__ import annotations

import io
import json
import threading
import time

import pytest

from glancevad.errors import GlanceVADError
from glancevad.watch import SINKS, SinkSet, build_sink, read_sources
from streams import Mosquitto

#: a valid target per registered sink: a sink added to the registry without one here fails this test
EXAMPLES = {"stdout": "", "jsonl": "{tmp}/alarms.jsonl", "webhook": "http://127.0.0.1:9/hook",
            "mqtt": "mqtt://127.0.0.1:9/glancevad/alarms"}


class Recorder:
    def __init__(self, name: str, gate: threading.Event | None = None, fail: bool = False):
        self.name, self.gate, self.fail = name, gate, fail
        self.records: list[dict] = []
        self.arrived = threading.Semaphore(0)
        self.closed = False

    def send(self, record: dict) -> None:
        if self.gate is not None:
            self.gate.wait()
        if self.fail:
            raise ConnectionError("broker down")
        self.records.append(record)
        self.arrived.release()

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("kind", sorted(SINKS))
def test_every_registered_sink_builds_from_its_target(kind, tmp_path):
    assert set(EXAMPLES) == set(SINKS)
    sink = build_sink(f"{kind}={EXAMPLES[kind].format(tmp=tmp_path)}")
    assert sink.name.startswith(kind)
    sink.close()


def test_bad_sinks_are_user_errors(tmp_path):
    for text, message in (("kafka=x", "unknown kind 'kafka'; choose from stdout, jsonl, webhook, mqtt"),
                          ("webhook=ftp://x", "webhook must be an http:// or https:// URL"),
                          ("mqtt=mqtt://host", "needs mqtt://HOST[:PORT]/TOPIC"),
                          ("mqtt=mqtt://host/a/#", "no + or #"), ("jsonl=", "needs a file")):
        with pytest.raises(GlanceVADError, match=message.replace("+", r"\+").replace("[", r"\[")):
            build_sink(text)


def test_a_slow_sink_delays_neither_the_caller_nor_another_sink():
    gate = threading.Event()
    slow, fast = Recorder("slow", gate), Recorder("fast")
    sinks = SinkSet([slow, fast])
    for i in range(3):
        sinks.emit({"n": i})            # returns at once although `slow` is blocked in its first send
    for _ in range(3):
        assert fast.arrived.acquire(timeout=30)
    assert [r["n"] for r in fast.records] == [0, 1, 2] and slow.records == []
    gate.set()
    sinks.close()
    assert [r["n"] for r in slow.records] == [0, 1, 2] and slow.closed and fast.closed
    assert sinks.stats() == {"slow": {"sent": 3, "failures": 0, "dropped": 0},
                             "fast": {"sent": 3, "failures": 0, "dropped": 0}}


def test_failures_and_drops_are_counted_and_reported():
    reports = []
    gate = threading.Event()
    failing, blocked = Recorder("failing", fail=True), Recorder("blocked", gate)
    sinks = SinkSet([failing, blocked], on_failure=lambda name, why: reports.append((name, why)), maxsize=1)
    for i in range(4):
        sinks.emit({"n": i})
    gate.set()
    sinks.close()
    stats = sinks.stats()
    assert stats["failing"]["failures"] + stats["failing"]["dropped"] == 4 and stats["failing"]["sent"] == 0
    # the blocked sink holds one record in send and one queued: the other two found the queue full
    assert stats["blocked"]["dropped"] >= 1 and stats["blocked"]["sent"] + stats["blocked"]["dropped"] == 4
    assert sinks.failures() == 4 + stats["blocked"]["dropped"]
    assert ("failing", "delivery failed: broker down") in reports
    assert any(name == "blocked" and "queue full" in why for name, why in reports)


def test_stdout_and_file_sinks_write_json_lines(tmp_path):
    from glancevad.watch.sinks import JsonLinesSink, StdoutSink

    stream = io.StringIO()
    sinks = SinkSet([StdoutSink(stream=stream), JsonLinesSink(str(tmp_path / "a" / "alarms.jsonl"))])
    sinks.emit({"kind": "alarm", "stream": "gate"})
    sinks.close()
    assert json.loads(stream.getvalue()) == {"kind": "alarm", "stream": "gate"}
    assert json.loads((tmp_path / "a" / "alarms.jsonl").read_text()) == {"kind": "alarm", "stream": "gate"}


def test_mqtt_sink_publishes_to_a_real_broker(tmp_path):
    with Mosquitto(tmp_path) as broker:
        sinks = SinkSet([build_sink(f"mqtt={broker.url}/glancevad/alarms")])
        for i in range(3):
            sinks.emit({"kind": "alarm", "stream": "gate", "event": i})
        sinks.close()              # waits for the broker's acknowledgements (QoS 1)
        deadline = time.time() + 30
        while len(broker.messages) < 3 and time.time() < deadline:
            time.sleep(0.05)
    assert [m["event"] for m in broker.messages] == [0, 1, 2]
    assert sinks.stats()[f"mqtt {broker.url}/glancevad/alarms"] == {"sent": 3, "failures": 0, "dropped": 0}


def test_mqtt_sink_without_a_broker_counts_failures():
    from cli_helpers import free_port
    from glancevad.watch.sinks import MqttSink

    reports = []
    sinks = SinkSet([MqttSink(f"mqtt://127.0.0.1:{free_port()}/glancevad/alarms", timeout=0.2)],
                    on_failure=lambda name, why: reports.append(why))
    sinks.emit({"kind": "alarm"})
    sinks.close()
    assert sinks.failures() == 1 and reports == ["delivery failed: not connected to the broker within 0.2 s"]


def test_sources_file(tmp_path):
    (tmp_path / "gate.mp4").write_bytes(b"")
    path = tmp_path / "cameras.yaml"
    path.write_text("streams:\n  - {name: gate, source: gate.mp4}\n"
                    "  - {name: yard, source: 'rtsp://10.0.0.2/live', follow: true}\n")
    specs = read_sources(path)
    assert [(s.name, s.source, s.follow) for s in specs] == [
        ("gate", str(tmp_path / "gate.mp4"), None), ("yard", "rtsp://10.0.0.2/live", True)]
    for text, message in (("[1, 2]", "expected 'streams:'"), ("streams: [{name: a}]", r"streams\[0\]: 'source' must"),
                          ("streams: [{name: a, source: x, fps: 3}]", "unknown field 'fps'"),
                          ("streams: [{name: a, source: x}, {name: a, source: y}]", "two streams are named 'a'"),
                          ("streams: [{name: a, source: x, follow: 'yes'}]", "'follow' must be true or false"),
                          ("streams: [", "not valid YAML")):
        path.write_text(text)
        with pytest.raises(GlanceVADError, match=message):
            read_sources(path)
    with pytest.raises(GlanceVADError, match="missing.yaml: cannot read"):
        read_sources(tmp_path / "missing.yaml")
