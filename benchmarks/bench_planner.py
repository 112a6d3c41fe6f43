"""The planner's estimate against the measured wall time of short runs at the UCF shape.

For each network, one run of the ``ucf`` preset (64 + 64 single-crop items, N = 200) on a UCF-shaped
synthetic set (8 + 8 training videos of 10 crops, D = 1024, 2 + 2 test videos): a few steps with a
validation pass every few steps, then the two tests (``best.pt``, ``last.pt``), as a grid worker runs
it (:func:`glancevad.experiments.runner.execute`, one thread, in a fresh process). The estimate is
what ``glancevad paper`` / ``experiment`` would print for that run
(:func:`glancevad.experiments.planning.estimate_plan`, its steps timed here at the run's shape). The
training cache is built before either, as the estimate leaves it out. ``python benchmarks/run.py
planner`` (about 6 minutes); not part of the default ``make bench``. Goal: within 25 %.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from benchmarks.bench_train_step import _dataset
from benchmarks.common import Result

STEPS, EVAL_EVERY = 6, 3
REPO = Path(__file__).resolve().parents[1]

_EXECUTE = """
import json, sys, time
from glancevad.experiments.runner import RunSpec, execute
spec = RunSpec(**json.loads(sys.argv[1]))
started = time.perf_counter()
execute(spec, threads=1)
print(json.dumps({"seconds": time.perf_counter() - started}))
"""


def _spec(name: str, data: Path, tmp: Path):
    from glancevad.config import resolve_config
    from glancevad.experiments.runner import RunSpec

    cfg = resolve_config("ucf", {"model": name, "device": "cpu", "precision": "fp32", "steps": STEPS,
                                 "eval_every": EVAL_EVERY, "min_mining_step": 0})
    return RunSpec(name, 0, cfg.to_dict(), str(data), str(tmp / f"run-{name}"), str(tmp / "cache"))


def measure(name: str, data: Path, tmp: Path) -> tuple[float, float]:
    """``(estimated, measured)`` seconds of one short run of ``name``."""
    from glancevad.experiments.planning import estimate_plan

    spec = _spec(name, data, tmp)
    estimated = estimate_plan([spec], parallel=1).wall_seconds
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-c", _EXECUTE, json.dumps(asdict(spec))], check=True, cwd=REPO,
                         env=env, capture_output=True, text=True)
    return estimated, json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def run() -> list[Result]:
    from glancevad.data import load_dataset
    from glancevad.data.cache import build_or_open_cache

    results = []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        data = _dataset(tmp)
        num_snippets = _spec("mil", data, tmp).config["num_snippets"]
        build_or_open_cache(load_dataset(data), tmp / "cache", num_snippets=num_snippets)
        for name in ("mil", "rtfm", "urdmu"):
            estimated, measured = measure(name, data, tmp)
            results.append(Result(f"planner estimate, one {name} run of the ucf preset ({STEPS} steps, validation "
                                  f"every {EVAL_EVERY}, two tests) on a UCF-shaped set, one thread", estimated, "s",
                                  f"measured: {measured:.0f} s", estimated / measured, "of measured (goal 75-125 %)",
                                  percent=True))
    return results
