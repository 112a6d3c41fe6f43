"""``glancevad watch``: score live streams as they arrive and raise alarms with bounded latency.

Sources → scorer → sinks, one concept per module:

* :mod:`~glancevad.watch.settings`: :class:`WatchSettings`, the streams (:class:`StreamSpec`,
  SOURCE arguments or a ``cameras.yaml``);
* :mod:`~glancevad.watch.sources`: the :class:`Source` protocol and PyAV's file, followed file,
  URL and device, with stalls, drops and reconnects;
* :mod:`~glancevad.watch.loop`: every stream's snippets batched through I3D and the causal scorer,
  per-stream events and alarms;
* :mod:`~glancevad.watch.sinks`: the :class:`AlarmSink` protocol, its registry (stdout, JSON-lines
  file, webhook, MQTT) and the per-sink isolation;
* :mod:`~glancevad.watch.summary`: the records (alarm, stream summary, summary);
* :mod:`~glancevad.watch.metrics`: Prometheus metrics and ``/healthz`` (``--metrics-port``).
"""

from glancevad.watch.loop import Stream, watch
from glancevad.watch.settings import StreamSpec, WatchSettings, read_sources, specs_from_arguments
from glancevad.watch.sinks import SINKS, AlarmSink, SinkSet, build_sink
from glancevad.watch.sources import AVSource, Source, SourceLost
from glancevad.watch.summary import StreamSummary, WatchSummary

__all__ = ["SINKS", "AVSource", "AlarmSink", "SinkSet", "Source", "SourceLost", "Stream", "StreamSpec",
           "StreamSummary", "WatchSettings", "WatchSummary", "build_sink", "read_sources", "specs_from_arguments",
           "watch"]
