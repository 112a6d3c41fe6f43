"""A UCF-sized training cache read from a cold page cache: step time and peak memory.

The training cache of UCF-Crime's 1,610 training videos at 10 crops, N = 200, D = 1024 is 13.2 GB:
on a 24 GB machine it is not in the page cache when a run starts, and a step's 64 + 64 items
(105 MB) are random reads from disk. This suite writes such a cache (float32 noise: what the
features are does not change how fast they are read), empties the page cache (``drop_caches``:
root only; elsewhere the suite says so and stops), and times UR-DMU glance steps of the ``ucf``
preset in a fresh process, twice: with the trainer's read-ahead of the next batch
(:mod:`glancevad.engine.prefetch`) and without it, the page cache emptied before each. Each child
reports its steps' seconds, the seconds a step waited for its data, and its peak resident memory
(``VmHWM``).

The dataset around the cache (lists, lengths, glances) is a synthetic set of the same 1,610
training videos with 8-d features; its cache folder is built as usual and then its ``features.npy``
is replaced by the 1024-d one. ``python benchmarks/run.py cold-cache`` (about 10 minutes, 13 GB
of free disk); not part of the default ``make bench``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import PEAK_RSS_SNIPPET, Result

VIDEOS, CROPS, SNIPPETS, DIM = (810, 800), 10, 200, 1024   # (abnormal, normal) training videos, as UCF-Crime
STEPS = 4
DROP_CACHES = Path("/proc/sys/vm/drop_caches")

_STEPS = PEAK_RSS_SNIPPET + """
import json, sys, time
import numpy as np
from glancevad.config import resolve_config
from glancevad.engine.trainer import Trainer
data, cache, run, steps, prefetch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"
cfg = resolve_config("ucf", {"model": "urdmu", "supervision": "glance", "device": "cpu", "min_mining_step": 0})
trainer = Trainer(cfg, data, run, cache_dir=cache)
if not prefetch:   # every read on the spot: the step waits for its batch
    trainer.prefetcher.submit = lambda key, read: None
seconds, waits = [], []
for _ in range(steps):
    before = trainer.timer.data
    started = time.perf_counter()
    trainer.train_step()
    seconds.append(time.perf_counter() - started)
    waits.append(trainer.timer.data - before)
print(json.dumps({"seconds": seconds, "data_seconds": waits, "peak_rss_mb": _peak_rss_mb()}))
"""


def _write_dataset(folder: Path) -> Path:
    from glancevad.synth import synth_config, write_synthetic_dataset

    abnormal, normal = VIDEOS
    cfg = synth_config("default", train_normal=normal, train_abnormal=abnormal, test_normal=1, test_abnormal=1,
                       dim=8, crops=CROPS, min_snippets=SNIPPETS, max_snippets=SNIPPETS + 100)
    return write_synthetic_dataset(folder / "data", cfg)


def _write_cache(root: Path, cache_root: Path) -> Path:
    """The dataset's cache folder, with a ``[V, 10, 200, 1024]`` float32 ``features.npy``."""
    from glancevad.config import resolve_config
    from glancevad.data import load_dataset
    from glancevad.data.cache import build_or_open_cache

    num_snippets = resolve_config("ucf", {}).num_snippets
    cache = build_or_open_cache(load_dataset(root), cache_root, num_snippets=num_snippets)
    path = cache.folder / "features.npy"
    videos = len(cache.ids)
    block = np.random.default_rng(0).standard_normal((CROPS, num_snippets, DIM), dtype=np.float32)
    with open(path.with_suffix(".tmp"), "wb") as handle:
        np.lib.format.write_array_header_2_0(handle, {"descr": "<f4", "fortran_order": False,
                                                      "shape": (videos, CROPS, num_snippets, DIM)})
        for i in range(videos):
            block[0, 0, 0] = i   # no two videos alike
            handle.write(block.data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(path.with_suffix(".tmp"), path)
    return path


def _drop_page_cache() -> None:
    subprocess.run(["sync"], check=True)
    DROP_CACHES.write_text("3\n")


def _steps(root: Path, cache_root: Path, run: Path, *, prefetch: bool) -> dict:
    _drop_page_cache()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                                     os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-c", _STEPS, str(root), str(cache_root), str(run), str(STEPS),
                          "1" if prefetch else "0"], check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run() -> list[Result]:
    if not os.access(DROP_CACHES, os.W_OK):
        print(f"cold-cache: {DROP_CACHES} is not writable (root only): the page cache cannot be emptied; skipped")
        return []
    with tempfile.TemporaryDirectory(dir=os.environ.get("GLANCEVAD_BENCH_DIR")) as folder:
        tmp = Path(folder)
        root = _write_dataset(tmp)
        path = _write_cache(root, tmp / "cache")
        size_gb = path.stat().st_size / 1e9
        read_ahead = _steps(root, tmp / "cache", tmp / "run-prefetch", prefetch=True)
        on_the_spot = _steps(root, tmp / "cache", tmp / "run-plain", prefetch=False)
    shape = f"{sum(VIDEOS)} videos x {CROPS} crops x N = {SNIPPETS} x D = {DIM}, {size_gb:.1f} GB"

    def figures(child: dict) -> tuple[float, float]:   # median step, median wait (the first step included)
        return float(np.median(child["seconds"])), float(np.median(child["data_seconds"]))

    step, wait = figures(read_ahead)
    plain_step, plain_wait = figures(on_the_spot)
    return [
        Result(f"UR-DMU glance step, ucf preset, cold page cache, cache {shape}, median of {STEPS}", step, "s",
               f"reads on the spot: {plain_step:.2f} s (waiting {plain_wait:.2f} s for data)", step / plain_step,
               f"of it; the step waited {wait:.2f} s for data", percent=True),
        Result("peak resident memory of that training process", read_ahead["peak_rss_mb"], "MB",
               f"cache size: {1000 * size_gb:.0f} MB", read_ahead["peak_rss_mb"] / (1000 * size_gb),
               "of the cache", percent=True),
    ]
