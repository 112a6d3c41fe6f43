"""The records a watch sends its sinks: alarms, each stream's summary, the watch's summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from glancevad.events import Event


def utc_now() -> str:
    """The wall clock as ISO 8601 UTC with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class StreamSummary:
    """What one stream did; sent as ``{"kind": "stream_summary", ...}`` when it ends, and inside the summary.

    ``max_lag_s``: the largest delay from a snippet's last frame arriving to its score (how far the
    scoring fell behind this stream); ``realtime_factor``: media seconds over the stream's wall seconds.
    """

    stream: str
    source: str
    frames: int = 0
    snippets: int = 0
    fps: float | None = None
    media_s: float = 0.0
    wall_s: float = 0.0
    realtime_factor: float | None = None
    alarms: int = 0
    events: list[dict] = field(default_factory=list)
    max_latency_s: float | None = None
    max_lag_s: float | None = None
    stalls: int = 0
    reconnects: int = 0
    ended: str = "end of stream"
    error: str | None = None


@dataclass
class WatchSummary:
    """What the watch did, over every stream; the last record every sink receives.

    ``ended``: "end of stream" when every stream ended cleanly, "source lost" when one was lost or
    failed, "interrupted (Ctrl+C)". ``realtime_factor``: media seconds of all streams per wall second.
    ``sinks``: records each sink delivered, failed and dropped up to this summary.
    """

    checkpoint: str
    model: str
    streams: list[StreamSummary] = field(default_factory=list)
    frames: int = 0
    snippets: int = 0
    media_s: float = 0.0
    wall_s: float = 0.0
    realtime_factor: float | None = None
    alarms: int = 0
    max_latency_s: float | None = None
    stalls: int = 0
    reconnects: int = 0
    sink_failures: int = 0
    sinks: dict[str, dict[str, int]] = field(default_factory=dict)
    ended: str = "end of stream"
    settings: dict[str, Any] = field(default_factory=dict)


def alarm_record(phase: str, event: Event, number: int, fps: float, stream: str, source: str,
                 latency_s: float | None) -> dict[str, Any]:
    """The JSON of one alarm: its stream, event times in media seconds and frames, the wall clock of emission."""
    record = {"kind": "alarm", "phase": phase, "stream": stream, "event": number, "source": source,
              "wall_time": utc_now(), **asdict(event), "peak_s": round(event.peak_frame / fps, 3)}
    if latency_s is not None:
        record["latency_s"] = round(latency_s, 3)
    return record
