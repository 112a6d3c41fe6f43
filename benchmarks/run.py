"""``make bench``: every benchmark, each against a reference measured in the same run.

Prints a table and writes the raw numbers to ``runs/bench/bench.json``. ``python benchmarks/run.py
i3d tgs`` runs only the named suites.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks import (  # noqa: E402
    bench_cold_cache,
    bench_crop_sampling,
    bench_i3d,
    bench_live,
    bench_memory,
    bench_metrics,
    bench_planner,
    bench_tgs,
    bench_train_step,
    bench_training,
)
from benchmarks.common import precisions  # noqa: E402
from glancevad.fileio import write_json  # noqa: E402

SUITES = {
    "metrics": bench_metrics.run,
    "tgs": bench_tgs.run,
    "training": bench_training.run,
    "train-step": bench_train_step.run,
    "crop-sampling": bench_crop_sampling.run,
    "i3d": bench_i3d.run,
    "memory": bench_memory.run,
    "live": bench_live.run,
    "live-streams": bench_live.run_streams,
}

#: not part of the default run: one network's train-step suite alone (``train-step`` runs all three), and
#: the 13 GB cold-cache suite, and the planner's estimate against short runs at the UCF shape
ALIASES = {**{f"train-step-{name}": bench_train_step.run_one(name) for name in ("mil", "rtfm", "urdmu")},
           "cold-cache": bench_cold_cache.run, "planner": bench_planner.run}


def main() -> None:
    console = Console(width=150)
    suites = {**SUITES, **ALIASES}
    if {"-h", "--help"} & set(sys.argv[1:]):
        console.print(f"usage: python benchmarks/run.py [SUITE ...]\n\n{__doc__.strip()}\n\n"
                      f"suites (default: all of these): {', '.join(SUITES)}\n"
                      f"also: {', '.join(ALIASES)} (one network's train-step suite; a 13 GB cache from a cold page "
                      "cache; the planner against short runs)", markup=False, highlight=False)
        return
    chosen = sys.argv[1:] or list(SUITES)
    unknown = [name for name in chosen if name not in suites]
    if unknown:
        sys.exit(f"unknown benchmark suite(s) {', '.join(unknown)}; choose from {', '.join(suites)}")
    results = []
    for name, suite in ((n, suites[n]) for n in chosen):
        console.print(f"running [bold]{name}[/] ...")
        results.extend(suite())
    table = Table(title="glancevad benchmarks (this machine, one run)")
    for column in ("benchmark", "value", "reference (same run)", "ratio"):
        table.add_column(column)
    for r in results:
        if r.ratio is None:
            ratio = r.goal
        else:
            ratio = f"{100 * r.ratio:.0f}% {r.goal}" if r.percent else f"{r.ratio:.1f}x {r.goal}"
        table.add_row(r.name, f"{r.value:.2f} {r.unit}", r.reference, ratio)
    console.print(table)
    if "bf16" not in precisions():
        console.print("bf16 rows left out: this CPU has no bf16 units (AMX or AVX512-BF16), where bf16 is emulated "
                      "and 10-25x slower than fp32; `precision: auto` trains in fp32 here")
    out = write_json(Path("runs/bench/bench.json"), [asdict(r) for r in results])
    console.print(f"raw numbers: [bold]{out}[/]")


if __name__ == "__main__":
    main()
