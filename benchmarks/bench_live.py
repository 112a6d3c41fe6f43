"""Live detection (``glancevad watch``): real-time factor, alarm latency, memory over a long stream.

* Real-time factor: media seconds scored per wall second (decoding, resizing, crops, I3D, causal
  scoring, events) of a generated 640×360 video read as fast as it decodes, at 1 and 10 crops,
  fp32 and bf16. The reference is real time (1.0): above it a live camera is kept up with.
* Alarm latency: the same video read at its frame rate (``realtime``), every frame anomalous
  (threshold 0), so the event starts at frame 0 and its alarm is due once it lasts ``min_event``:
  the latency from the due time of the event's first frame to the alarm, set against that bound
  (ceil(min_event · fps / 16) snippets of media time); the rest is processing.
* Memory: peak RSS of a watch over a stream 4× longer, served at full speed, each in a fresh process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from benchmarks.bench_i3d import _WRITE_VIDEO
from benchmarks.common import PEAK_RSS_SNIPPET, Result
from glancevad.engine.checkpoint import save_checkpoint
from glancevad.events import EventSettings
from glancevad.models import build
from glancevad.watch import SinkSet, StreamSpec, WatchSettings, watch

FPS = 25  # the generated video's frame rate

_PEAK_RSS = PEAK_RSS_SNIPPET + """
import json, sys
from glancevad.watch import SinkSet, StreamSpec, WatchSettings, watch
summary = watch([StreamSpec("s", sys.argv[1])], sys.argv[2], WatchSettings(crops=1, precision="bf16", device="cpu"),
                sinks=SinkSet([]))
print(json.dumps({"frames": summary.frames, "peak_rss_mb": _peak_rss_mb()}))
"""


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
            for precision in ("fp32", "bf16"):
                summary = watch([StreamSpec("s", str(video))], checkpoint,
                                WatchSettings(crops=crops, precision=precision, device="cpu"), sinks=SinkSet([]))
                results.append(Result(f"watch: real-time factor, {crops} crop(s), {precision}",
                                      summary.realtime_factor, "x real time",
                                      f"real time (1.0); {summary.snippets} snippets", summary.realtime_factor,
                                      "of real time (>= 1: keeps up with a live camera)"))
        video = _video(folder, latency_frames)
        for precision in ("fp32", "bf16"):
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
    results.append(Result(f"watch: peak RSS over a {long['frames'] / FPS:.0f} s stream, 1 crop bf16",
                          long["peak_rss_mb"], "MB", f"{short['frames'] / FPS:.0f} s: {short['peak_rss_mb']:.0f} MB",
                          long["peak_rss_mb"] / short["peak_rss_mb"], "ratio 4x / 1x length (goal ~1)"))
    return results
