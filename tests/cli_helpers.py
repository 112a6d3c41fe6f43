"""Running the command line as a user does: a real subprocess, and the shape of a user error."""

from __future__ import annotations

import os
import subprocess
import sys


def run(*args, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
    """``python -m glancevad ARGS`` with a bare environment (the weights cache of this test session kept)."""
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin"}
    if os.environ.get("GLANCEVAD_CACHE"):
        env["GLANCEVAD_CACHE"] = os.environ["GLANCEVAD_CACHE"]
    proc = subprocess.run([sys.executable, "-m", "glancevad", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def assert_user_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit 2, no traceback, and a last line ``error: …`` containing every fragment."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]
