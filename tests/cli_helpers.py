"""Running the command line as a user does: a real subprocess, and the shape of a user error."""

from __future__ import annotations

import os
import subprocess
import sys


def run(*args, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
    """``python -m glancevad ARGS`` with a bare environment (the weights cache of this test session kept,
    and ``PYTHONPATH``, so that the command runs the code under test, e.g. a worktree's ``src``)."""
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin"}
    for name in ("GLANCEVAD_CACHE", "PYTHONPATH"):
        if os.environ.get(name):
            env[name] = os.environ[name]
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


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AnnotateServer:
    """``glancevad annotate`` in a real subprocess on a free port; ``kill()`` is SIGKILL."""

    def __init__(self, videos, db, *extra: str):
        import time

        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {"PATH": "/usr/bin:/bin", "COLUMNS": "200"}
        if os.environ.get("GLANCEVAD_CACHE"):  # model assistance may convert the I3D weights
            env["GLANCEVAD_CACHE"] = os.environ["GLANCEVAD_CACHE"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "glancevad", "annotate", "--videos", str(videos), "--db", str(db),
             "--port", str(self.port), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.proc.stderr.read()}")
            try:
                if httpx.get(f"{self.url}/api/config", timeout=1).status_code in (200, 401):
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.kill()
        raise AssertionError("server did not start within 60 s")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def __enter__(self) -> AnnotateServer:
        return self

    def __exit__(self, *exc) -> None:
        self.kill()
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()
