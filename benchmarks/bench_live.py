"""Live detection (``glancevad watch``): real-time factor, alarm latency, memory over a long stream.

* Real-time factor: media seconds scored per wall second (decoding, resizing, crops, I3D, causal
  scoring, events) of a generated 640×360 video read as fast as it decodes, at 1 and 10 crops,
  fp32, and bf16 where the CPU has bf16 units. The reference is real time (1.0): above it a live camera is kept up with.
* Alarm latency: the same video read at its frame rate (``realtime``), every frame anomalous
  (threshold 0), so the event starts at frame 0 and its alarm is due once it lasts ``min_event``:
  the latency from the due time of the event's first frame to the alarm, set against that bound
  (ceil(min_event · fps / 16) snippets of media time); the rest is processing.
* Memory: peak RSS of a watch over a stream 4× longer, served at full speed, each in a fresh process.
* Streams held in real time (1 crop, bf16 where the CPU has bf16 units): N copies of the video read at
  their frame rate, watched by one process (its snippets batched through I3D and the scorer) or by N
  processes (one stream each, all started together once loaded), for N = 1, 2, … until one fails. A
  stream is held when it is watched to its end and the scoring keeps up with it: its lag (a snippet's
  last frame arriving to its score, sampled every 0.2 s) is no larger over the last quarter of the
  stream than over the second quarter, give or take ``LAG_GROWTH_S`` (a stream the scoring does not keep
  up with falls behind further with every snippet), and never above ``LAG_BOUND_S``. The alarm latency
  at that load: the event starts at frame 0 (threshold 0) and is due at ``HELD_MIN_EVENT_S``, well
  inside the stream, so the alarm comes at full load.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.bench_i3d import _WRITE_VIDEO
from benchmarks.common import PEAK_RSS_SNIPPET, Result, precisions
from glancevad.engine.checkpoint import save_checkpoint
from glancevad.events import EventSettings
from glancevad.models import build
from glancevad.watch import SinkSet, StreamSpec, WatchSettings, watch

FPS = 25  # the generated video's frame rate

_PEAK_RSS = PEAK_RSS_SNIPPET + """
import json, sys
from glancevad.watch import SinkSet, StreamSpec, WatchSettings, watch
summary = watch([StreamSpec("s", sys.argv[1])], sys.argv[2], WatchSettings(crops=1, precision="auto", device="cpu"),
                sinks=SinkSet([]))
print(json.dumps({"frames": summary.frames, "peak_rss_mb": _peak_rss_mb()}))
"""


LAG_GROWTH_S = 0.32      # half a snippet at 25 fps
LAG_BOUND_S = 3.0        # a lag beyond this makes alarms useless, kept up or not
HELD_MIN_EVENT_S = 8.0   # the alarm of the held-streams runs, due 8.32 s into a 16 s stream

_MANY = """
import json, pathlib, sys, threading, time
from glancevad.events import EventSettings
from glancevad.watch import SinkSet, StreamSpec, WatchSettings, watch
video, checkpoint, count, name, folder, min_event = sys.argv[1:7]
folder = pathlib.Path(folder)

samples = {}  # stream -> [(snippets in, lag s)], every 0.2 s

def sample(streams):
    while not all(s.done for s in streams):
        for s in streams:
            if not s.done and s.snippets_in:
                samples.setdefault(s.name, []).append((s.snippets_in, s.lag_s))
        time.sleep(0.2)

def ready(streams):  # loaded and warmed up: wait until every process is (the parent says go)
    (folder / f"ready-{name}").touch()
    while not (folder / "go").exists():
        time.sleep(0.01)
    threading.Thread(target=sample, args=(streams,), daemon=True).start()

settings = WatchSettings(crops=1, precision="auto", device="cpu", realtime=True,
                         events=EventSettings(threshold=0.0, min_event=float(min_event)))
summary = watch([StreamSpec(f"{name}-{i}", video) for i in range(int(count))], checkpoint, settings,
                sinks=SinkSet([]), on_start=ready)
print(json.dumps([{"lag": s.max_lag_s, "latency": s.max_latency_s, "ended": s.ended, "snippets": s.snippets,
                   "lags": samples.get(s.stream, [])} for s in summary.streams]))
"""


def _watch_streams(video: Path, checkpoint: Path, folder: Path, layout: list[int]) -> list[dict]:
    """Processes watching ``layout[i]`` copies of ``video`` each, released together; every stream's result."""
    for old in folder.glob("ready-*"):
        old.unlink()
    (folder / "go").unlink(missing_ok=True)
    procs = [subprocess.Popen([sys.executable, "-c", _MANY, str(video), str(checkpoint), str(count), f"p{i}",
                               str(folder), str(HELD_MIN_EVENT_S)], stdout=subprocess.PIPE, text=True)
             for i, count in enumerate(layout)]
    while len(list(folder.glob("ready-*"))) < len(procs):
        if any(p.poll() not in (None, 0) for p in procs):
            raise RuntimeError("a watch process failed before its streams began")
        time.sleep(0.05)
    (folder / "go").touch()
    streams = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"a watch process failed (exit {proc.returncode})")
        streams.extend(json.loads(out.strip().splitlines()[-1]))
    return streams


def _kept_up(stream: dict) -> bool:
    """The stream's lag over its last quarter is no larger than over its second quarter (± LAG_GROWTH_S)."""
    def mean_lag(lo: float, hi: float) -> float | None:
        lags = [lag for snippet, lag in stream["lags"] if lo * stream["snippets"] < snippet <= hi * stream["snippets"]]
        return sum(lags) / len(lags) if lags else None

    second, last = mean_lag(0.25, 0.5), mean_lag(0.75, 1.0)
    return second is not None and last is not None and last - second <= LAG_GROWTH_S


def _held(streams: list[dict]) -> bool:
    return all(s["ended"] == "end of stream" and s["lag"] is not None and s["lag"] <= LAG_BOUND_S and _kept_up(s)
               for s in streams)


def streams_held(video: Path, checkpoint: Path, folder: Path, *, separate: bool, most: int = 8) -> tuple[int, dict]:
    """The most streams held in real time (see the module docstring), and the worst stream's lag and latency there."""
    best, at = 0, {"lag": None, "latency": None}
    for count in range(1, most + 1):
        streams = _watch_streams(video, checkpoint, folder, [1] * count if separate else [count])
        if not _held(streams):
            break
        best = count
        at = {"lag": max(s["lag"] for s in streams),
              "latency": max((s["latency"] for s in streams if s["latency"] is not None), default=None)}
    return best, at


def _video(folder: Path, frames: int) -> Path:
    path = folder / f"stream_{frames}.mp4"
    if not path.exists():
        subprocess.run([sys.executable, "-c", _WRITE_VIDEO, str(frames), str(path)], check=True)
    return path


def _checkpoint(folder: Path) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(folder / "mil.pt", {"model_name": "mil", "model_kwargs": {"in_dim": 1024},
                                               "model_state": build("mil", in_dim=1024).state_dict(), "crops": 1})


def _peak_rss(video: Path, checkpoint: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _PEAK_RSS, str(video), str(checkpoint)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(rtf_frames: int = 96, latency_frames: int = 100, memory_frames: int = 400) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        checkpoint = _checkpoint(folder)
        video = _video(folder, rtf_frames)
        for crops in (1, 10):
            for precision in precisions():
                summary = watch([StreamSpec("s", str(video))], checkpoint,
                                WatchSettings(crops=crops, precision=precision, device="cpu"), sinks=SinkSet([]))
                results.append(Result(f"watch: real-time factor, {crops} crop(s), {precision}",
                                      summary.realtime_factor, "x real time",
                                      f"real time (1.0); {summary.snippets} snippets", summary.realtime_factor,
                                      "of real time (>= 1: keeps up with a live camera)"))
        video = _video(folder, latency_frames)
        for precision in precisions():
            settings = WatchSettings(crops=1, precision=precision, device="cpu", realtime=True,
                                     events=EventSettings(threshold=0.0, min_event=1.0))
            summary = watch([StreamSpec("s", str(video))], checkpoint, settings, sinks=SinkSet([]))
            bound = -(-settings.events.min_event * FPS // 16) * 16 / FPS
            latency = summary.max_latency_s
            results.append(Result(f"watch: alarm latency, 1 crop, {precision}, min-event 1.0 s, realtime stream",
                                  latency, "s", f"hysteresis bound: {bound:.2f} s of media", None,
                                  f"{latency - bound:+.2f} s of processing"))
        short = _peak_rss(_video(folder, memory_frames), checkpoint)
        long = _peak_rss(_video(folder, 4 * memory_frames), checkpoint)

    results.append(Result(f"watch: peak RSS over a {long['frames'] / FPS:.0f} s stream, 1 crop {precisions()[-1]}",
                          long["peak_rss_mb"], "MB", f"{short['frames'] / FPS:.0f} s: {short['peak_rss_mb']:.0f} MB",
                          long["peak_rss_mb"] / short["peak_rss_mb"], "ratio 4x / 1x length (goal ~1)"))
    return results


def run_streams(held_frames: int = 400) -> list[Result]:
    """Streams held in real time by one process vs separate processes, and the alarm latency at that load."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        checkpoint = _checkpoint(folder)
        video = _video(folder, held_frames)
        together, at = streams_held(video, checkpoint, folder, separate=False)
        apart, apart_at = streams_held(video, checkpoint, folder, separate=True)
    bound = -(-HELD_MIN_EVENT_S * FPS // 16) * 16 / FPS
    results = [Result(f"watch: 25 fps streams held in real time ({held_frames / FPS:.0f} s each), "
                      f"1 crop {precisions()[-1]}, one process", together, "streams", f"{apart} in separate processes",
                      together / apart if apart else None, "one process / separate processes")]
    for label, count, where in (("one process", together, at), ("separate processes", apart, apart_at)):
        if where["latency"] is not None:
            results.append(Result(f"watch: alarm latency at {count} stream(s), {label}, min-event "
                                  f"{HELD_MIN_EVENT_S:g} s", where["latency"], "s",
                                  f"hysteresis bound: {bound:.2f} s of media; largest lag {where['lag']:.2f} s", None,
                                  f"{where['latency'] - bound:+.2f} s of processing"))
    return results
