"""I3D feature extraction: time per snippet and crop, GFLOP/s against a plain conv3d, and peak memory.

* seconds per 16-frame snippet per 224×224 crop, fp32 and bf16, network only and end to end
  (decode + resize + crop + network) on the real sample clip;
* achieved GFLOP/s of the I3D forward (FLOPs counted by ``torch.utils.flop_counter``) as a fraction
  of one large 3×3×3 conv3d in the same precision and memory layout, measured in the same run
  (goal >= 70 %);
* peak resident memory of a process extracting a generated video of 1× and 4× the length (goal:
  flat, ratio about 1).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import PEAK_RSS_SNIPPET, Result, best_time, precisions
from glancevad.features.extract import ExtractionSettings, SnippetExtractor
from glancevad.features.weights import load_i3d

SAMPLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "samples" / "shanghaitech_01_002.avi"

_PEAK_RSS = PEAK_RSS_SNIPPET + """
import sys
from glancevad.features.extract import ExtractionSettings, SnippetExtractor
from glancevad.features.weights import load_i3d
extractor = SnippetExtractor(load_i3d(), ExtractionSettings(crops=1), batch=1)
extractor.video(sys.argv[1])
print(_peak_rss_mb())
"""

_WRITE_VIDEO = """
import sys
import av, numpy as np
frames, path = int(sys.argv[1]), sys.argv[2]
container = av.open(path, mode="w")
stream = container.add_stream("mpeg4", rate=25)
stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
rng = np.random.default_rng(0)
for i in range(frames):
    picture = np.full((360, 640, 3), 40, np.uint8)
    x = (7 * i) % 560
    picture[140:220, x : x + 80] = 230
    picture += rng.integers(0, 20, picture.shape, dtype=np.uint8)
    for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
        container.mux(packet)
for packet in stream.encode():
    container.mux(packet)
container.close()
"""


def _gflops(model_call, flops: float, repeat: int) -> tuple[float, float]:
    seconds = best_time(model_call, repeat=repeat)
    return seconds, flops / seconds / 1e9


def _network(extractor: SnippetExtractor, clips: int) -> tuple[float, float]:
    """(seconds per clip, GFLOP/s) of the extractor's network on ``clips`` random 16-frame crops."""
    x = torch.randn(clips, 3, 16, 224, 224).to(extractor.dtype, memory_format=torch.channels_last_3d)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        extractor.model.features(x)
    with torch.no_grad():
        seconds, rate = _gflops(lambda: extractor.model.features(x), counter.get_total_flops(), repeat=5)
    return seconds / clips, rate


def _plain_conv3d(dtype: torch.dtype) -> float:
    """GFLOP/s of one large 3×3×3 conv3d (192 → 384 channels on 8×28×28, batch 2): the attainable rate."""
    conv = torch.nn.Conv3d(192, 384, 3, padding=1, bias=True).to(dtype, memory_format=torch.channels_last_3d)
    x = torch.randn(2, 192, 8, 28, 28).to(dtype, memory_format=torch.channels_last_3d)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        conv(x)
    with torch.no_grad():
        return _gflops(lambda: conv(x), counter.get_total_flops(), repeat=5)[1]


def _peak_rss_mb(frames: int, folder: Path) -> float:
    video = folder / f"long_{frames}.mp4"
    subprocess.run([sys.executable, "-c", _WRITE_VIDEO, str(frames), str(video)], check=True)
    out = subprocess.run([sys.executable, "-c", _PEAK_RSS, str(video)], check=True, capture_output=True, text=True)
    return float(out.stdout.split()[-1])


def run(clips: int = 2, short_frames: int = 320) -> list[Result]:
    model = load_i3d()
    results = []
    for precision in precisions():
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
        extractor = SnippetExtractor(model, ExtractionSettings(crops=1), precision=precision, batch=clips)
        per_clip, achieved = _network(extractor, clips)
        attainable = _plain_conv3d(dtype)
        results.append(Result(f"I3D network, {precision}", per_clip, "s/snippet/crop",
                              f"plain conv3d: {attainable:.0f} GFLOP/s", achieved / attainable,
                              f"of conv3d rate: {achieved:.0f} GFLOP/s (goal >= 70%)", percent=True))
        started = time.perf_counter()
        features = extractor.video(SAMPLE)
        end_to_end = (time.perf_counter() - started) / features.shape[0]
        results.append(Result(f"I3D extraction of the sample clip, {precision}, end to end", end_to_end,
                              "s/snippet/crop", f"network alone: {per_clip:.3f} s", per_clip / end_to_end,
                              "network share of the time", percent=True))
    with tempfile.TemporaryDirectory() as tmp:
        short = _peak_rss_mb(short_frames, Path(tmp))
        long = _peak_rss_mb(4 * short_frames, Path(tmp))
    results.append(Result(f"peak RSS extracting a {4 * short_frames}-frame video", long, "MB",
                          f"{short_frames} frames: {short:.0f} MB", long / short, "ratio 4x / 1x length (goal ~1)"))
    return results
