"""Larger than memory: peak resident memory while the dataset grows 1x -> 4x, and the cache build rate.

Each measurement runs in a fresh process (peak RSS is per process): building the training cache,
training from it, and testing. Flat means the 4x/1x ratio stays near 1: the training cache is read
with positional reads, the test reader maps one video at a time. The cache build rate (MB written
per second, reading, validating and resampling included) is set against a plain copy of the same
feature files measured in the same run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import PEAK_RSS_SNIPPET, Result
from glancevad.synth import synth_config, write_synthetic_dataset

_MEASURE = PEAK_RSS_SNIPPET + """
import json, sys, time
from glancevad.cli import main
started = time.perf_counter()
try:
    main(sys.argv[1:])
except SystemExit as exc:
    if exc.code:
        raise
print(json.dumps({"seconds": time.perf_counter() - started,
                  "peak_rss_mb": _peak_rss_mb()}))
"""

_BUILD_CACHE = PEAK_RSS_SNIPPET + """
import json, sys, time
from glancevad.data import load_dataset
from glancevad.data.cache import build_or_open_cache
dataset = load_dataset(sys.argv[1])
started = time.perf_counter()
cache = build_or_open_cache(dataset, sys.argv[2], num_snippets=200)
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "bytes": (cache.folder / "features.npy").stat().st_size,
                  "peak_rss_mb": _peak_rss_mb()}))
"""


def _child(code: str, *args) -> dict:
    import json

    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _measure(root: Path, work: Path) -> dict[str, dict]:
    cache = _child(_BUILD_CACHE, root, work / "cache")
    train = _child(_MEASURE, "train", "--data", root, "--model", "mil", "--steps", "40", "--batch-size", "8",
                   "--device", "cpu", "--set", "eval_every=40", "--cache-dir", work / "cache", "--out", work / "run")
    test = _child(_MEASURE, "test", "--checkpoint", work / "run" / "last.pt", "--data", root, "--out",
                  work / "test", "--plots", "0")
    return {"cache": cache, "train": train, "test": test}


def run(videos_per_class: int = 16) -> list[Result]:
    measured = {}
    with tempfile.TemporaryDirectory() as tmp:
        for scale in (1, 4):
            n = videos_per_class * scale
            cfg = synth_config("default", train_normal=n, train_abnormal=n, test_normal=n // 2, test_abnormal=n // 2,
                               dim=1024, crops=5, min_snippets=60, max_snippets=120)
            root = write_synthetic_dataset(Path(tmp) / f"data{scale}", cfg)
            measured[scale] = _measure(root, Path(tmp) / f"work{scale}")
            if scale == 4:
                started = time.perf_counter()
                shutil.copytree(root / "i3d" / "train", Path(tmp) / "copy")
                copy_seconds = time.perf_counter() - started
                copied = sum(p.stat().st_size for p in (Path(tmp) / "copy").iterdir())
    results = []
    for stage, label in (("cache", "building the training cache"), ("train", "training (40 steps, MIL)"),
                         ("test", "testing")):
        one, four = measured[1][stage]["peak_rss_mb"], measured[4][stage]["peak_rss_mb"]
        results.append(Result(f"peak RSS {label}, dataset 4x", four, "MB", f"1x: {one:.0f} MB", four / one,
                              "ratio 4x / 1x (goal ~1)"))
    cache = measured[4]["cache"]
    rate = cache["bytes"] / 1e6 / cache["seconds"]
    copy_rate = copied / 1e6 / copy_seconds
    results.append(Result(f"training cache build, {cache['bytes'] / 1e6:.0f} MB", rate, "MB/s",
                          f"plain copy of the features: {copy_rate:.0f} MB/s", rate / copy_rate,
                          "of the copy rate", percent=True))
    return results
