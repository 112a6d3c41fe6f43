"""Prometheus metrics and a health check for a running watch (``--metrics-port``).

``GET /metrics``: the Prometheus text format (prometheus-client), read from the live streams at
each scrape: frames, snippets, alarms, stalls and reconnects (counters), real-time factor, backlog
(snippets queued), lag (seconds behind) and up (gauges), per stream; records delivered, failed and
dropped per sink. ``GET /healthz``: 200 ``{"status": "ok", ...}`` while the scoring loop runs and no
stream is lost or failed, else 503 with the reasons.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIRequestHandler, make_server

from glancevad.watch.sinks import SinkSet

HEARTBEAT_S = 30.0   # the scoring loop is taken as stuck after this long without a snippet or an idle wait


class WatchCollector:
    """A prometheus-client collector over the streams of a watch (set by :meth:`attach`)."""

    def __init__(self, sinks: SinkSet):
        self.sinks = sinks
        self.streams: list = []
        self.started = time.monotonic()

    def attach(self, streams: list) -> None:
        self.streams = streams

    def collect(self) -> Iterator:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        counters = {
            "frames": ("Frames decoded", lambda s: s.source.frames_read),
            "snippets": ("Snippets scored", lambda s: s.snippets_in),
            "alarms": ("Start alarms raised", lambda s: s.summary.alarms),
            "stalls": ("Stalls reported", lambda s: s.source.stalls),
            "reconnects": ("Reconnects after a stall or drop", lambda s: s.source.reconnects),
        }
        for name, (text, value) in counters.items():
            family = CounterMetricFamily(f"glancevad_watch_{name}", text, labels=["stream"])
            for stream in self.streams:
                family.add_metric([stream.name], value(stream))
            yield family
        gauges = {
            "realtime_factor": ("Media seconds per wall second since the stream's first snippet", _realtime_factor),
            "backlog_snippets": ("Snippets decoded and waiting for the scorer", lambda s: s.queue.qsize()),
            "lag_seconds": ("Delay from the last scored snippet's arrival to its score", lambda s: s.lag_s),
            "up": ("1 while the stream is watched, 0 once it ended", lambda s: 0 if s.done else 1),
        }
        for name, (text, value) in gauges.items():
            family = GaugeMetricFamily(f"glancevad_watch_{name}", text, labels=["stream"])
            for stream in self.streams:
                family.add_metric([stream.name], value(stream))
            yield family
        for name, text in (("sent", "Records delivered"), ("failures", "Deliveries that failed"),
                           ("dropped", "Records dropped on a full sink queue")):
            family = CounterMetricFamily(f"glancevad_watch_sink_{name}", f"{text}, per sink", labels=["sink"])
            for sink, stats in self.sinks.stats().items():
                family.add_metric([sink], stats[name])
            yield family


def _realtime_factor(stream) -> float:
    if stream.started is None or not stream.source.fps:
        return 0.0
    wall = (stream.finished_at or time.perf_counter()) - stream.started
    return stream.source.frames_read / stream.source.fps / wall if wall > 0 else 0.0


def health(streams: list, heartbeat: Callable[[], float]) -> tuple[bool, dict]:
    """Whether the watch is healthy, and why not: a lost or failed stream, or a scoring loop that stopped."""
    problems = [f"{s.name}: {s.summary.ended}" for s in streams
                if s.done and s.summary.ended in ("source lost", "failed")]
    if time.monotonic() - heartbeat() > HEARTBEAT_S:
        problems.append(f"the scoring loop has not run for {HEARTBEAT_S:g} s")
    return not problems, {"status": "ok" if not problems else "unhealthy", "problems": problems,
                          "streams": {s.name: "ended: " + s.summary.ended if s.done else "up" for s in streams}}


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


class MetricsServer:
    """``/metrics`` and ``/healthz`` on ``host:port`` in a background thread (port 0: a free one)."""

    def __init__(self, collector: WatchCollector, *, port: int, host: str = "127.0.0.1"):
        from prometheus_client import CollectorRegistry, make_wsgi_app
        from prometheus_client.exposition import ThreadingWSGIServer

        self.collector = collector
        self.beat = time.monotonic()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        metrics_app = make_wsgi_app(registry)

        def app(environ, start_response):
            if environ.get("PATH_INFO") == "/healthz":
                ok, body = health(collector.streams, lambda: self.beat)
                start_response("200 OK" if ok else "503 Service Unavailable",
                               [("Content-Type", "application/json")])
                return [json.dumps(body).encode()]
            return metrics_app(environ, start_response)

        try:
            self.server = make_server(host, port, app, server_class=ThreadingWSGIServer, handler_class=_Quiet)
        except OSError as exc:
            from glancevad.errors import GlanceVADError

            raise GlanceVADError(f"--metrics-port {port}: cannot listen on {host} ({exc.strerror or exc})") from None
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, name="glancevad-metrics", daemon=True)
        self.thread.start()

    def heartbeat(self) -> None:
        """The scoring loop is alive."""
        self.beat = time.monotonic()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
