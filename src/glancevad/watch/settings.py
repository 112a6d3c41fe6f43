"""What ``glancevad watch`` takes besides its sources and the checkpoint, and which streams it watches."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from glancevad.constraints import Interval, check_fields, constrained
from glancevad.errors import GlanceVADError
from glancevad.events import EventSettings
from glancevad.features.extract import CROPS


@dataclass(frozen=True)
class WatchSettings:
    """Scoring, events and source handling, shared by every stream of one watch."""

    window: int = constrained(32, Interval(low=1))
    lookahead: int = constrained(0, Interval(low=0))    # and below window: checked with it
    events: EventSettings = field(default_factory=EventSettings)
    crops: int | None = constrained(None, CROPS)          # None: the checkpoint's, rounded up to I3D's
    precision: str = "fp32"
    device: str = "auto"
    weights: str = "rgb_scratch"
    realtime: bool = False
    follow: bool = False
    stall_timeout: float = constrained(5.0, Interval(low=0, closed="neither"))
    retries: int = constrained(5, Interval(low=0))
    backoff: float = constrained(1.0, Interval(low=0, closed="neither"))
    input_format: str | None = None
    # decoded snippets a stream may hold ahead of the scorer before its decoder waits
    queue_snippets: int = constrained(8, Interval(low=1))

    def __post_init__(self) -> None:
        from glancevad.causal import check_window

        check_window(self.window, self.lookahead)   # the relation first: it says what the window allows
        check_fields(self)


@dataclass(frozen=True)
class StreamSpec:
    """One stream to watch: its name (the tag of its alarms) and what PyAV opens; ``None`` takes the watch's."""

    name: str
    source: str
    follow: bool | None = None
    realtime: bool | None = None
    input_format: str | None = None


def specs_from_arguments(sources: list[str]) -> list[StreamSpec]:
    """A stream per SOURCE argument, named by the argument itself."""
    return check_names([StreamSpec(name=s, source=s) for s in sources], "the SOURCE arguments")


def read_sources(path: str | os.PathLike) -> list[StreamSpec]:
    """The streams of a ``cameras.yaml``: ``streams:`` a list of ``{name, source[, follow, realtime, input_format]}``.

    A relative file source is taken relative to the YAML file's folder.
    """
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GlanceVADError(f"{path}: cannot read the sources ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise GlanceVADError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    streams = data.get("streams") if isinstance(data, dict) else None
    if not isinstance(streams, list) or not streams:
        raise GlanceVADError(f"{path}: expected 'streams:' with a list of {{name, source}} entries")
    known = set(StreamSpec.__dataclass_fields__)
    specs = []
    for i, entry in enumerate(streams):
        where = f"{path}: streams[{i}]"
        if not isinstance(entry, dict):
            raise GlanceVADError(f"{where}: expected a mapping with 'name' and 'source'")
        unknown = sorted(set(entry) - known)
        if unknown:
            raise GlanceVADError(f"{where}: unknown field {unknown[0]!r} (fields: {', '.join(sorted(known))})")
        for key in ("name", "source"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise GlanceVADError(f"{where}: '{key}' must be a non-empty string")
        for key in ("follow", "realtime"):
            if key in entry and not isinstance(entry[key], bool):
                raise GlanceVADError(f"{where}: '{key}' must be true or false, not {entry[key]!r}")
        source = entry["source"]
        if "://" not in source and not Path(source).is_absolute():
            source = str(path.parent / source)
        specs.append(StreamSpec(**{**entry, "source": source}))
    return check_names(specs, str(path))


def check_names(specs: list[StreamSpec], where: str) -> list[StreamSpec]:
    """``specs``, unless two share a name (their alarms could not be told apart)."""
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise GlanceVADError(f"{where}: two streams are named {spec.name!r}")
        seen.add(spec.name)
    return specs
