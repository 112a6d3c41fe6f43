"""A run folder you can trust after any crash: one writer at a time, no stale temporary files,
and the saved state read back with errors that name the file.

``train`` holds :class:`RunLock` from before it writes anything until it returns; a second
``train`` into the same folder is refused with the owner's pid. The lock is an ``fcntl`` lock,
which the kernel releases when its process dies, so a killed run never leaves the folder locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import warnings
from pathlib import Path
from typing import Any

import yaml

from glancevad.checkpoint_selection import first_eligible_step
from glancevad.config import TrainConfig, make_config
from glancevad.errors import GlanceVADError, GlanceVADWarning
from glancevad.fileio import atomic_write, read_jsonl, remove_matching, remove_temporaries, write_json

LOCK_NAME = ".lock"
DATA_NAME = "data.json"


class RunLock:
    """An exclusive lock on a run folder (``<run>/.lock`` holds the owner's pid)."""

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise GlanceVADError(f"{self.run_dir}: not a folder (a file is in the way)") from None
        except PermissionError:
            raise GlanceVADError(f"{self.run_dir}: cannot create the run folder (permission denied)") from None
        path = self.run_dir / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError:
            raise GlanceVADError(f"{self.run_dir}: run folder is not writable (permission denied)") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise _busy(self.run_dir, owner) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing releases the lock
            self._fd = None


def _busy(run_dir: Path, owner: str) -> GlanceVADError:
    return GlanceVADError(f"{run_dir}: another glancevad process (pid {owner}) is training in this run folder")


def refuse_if_locked(run_dir: str | os.PathLike) -> None:
    """Raise the lock's error if a live process holds ``run_dir``'s lock; reads only, writes nothing."""
    path = Path(run_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _busy(Path(run_dir), os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown") from None
    finally:
        os.close(fd)   # closing releases a lock taken here


def remove_stale_temporaries(run_dir: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed writer left (``.<name>.*.tmp``, ``.<name>.link``)."""
    return remove_temporaries(run_dir) + remove_matching(run_dir, [".*.link"])


def read_run_config(run_dir: str | os.PathLike) -> TrainConfig:
    """The configuration a run was started with; any problem is an error naming ``config.yaml``."""
    path = Path(run_dir) / "config.yaml"
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GlanceVADError(f"{path}: missing; cannot resume this run") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise GlanceVADError(f"{path}: not a readable run configuration ({type(exc).__name__})") from None
    if not isinstance(values, dict):
        raise GlanceVADError(f"{path}: not a run configuration (expected key: value lines)")
    try:
        return make_config(values)
    except GlanceVADError as exc:
        raise GlanceVADError(f"{path}: {exc}") from None


def read_evaluations(run_dir: str | os.PathLike) -> list[tuple[int, dict[str, float]]]:
    """A run's validations, from its ``metrics.jsonl``: ``[(step, scores without the val_ prefix), ...]``."""
    return [(record["step"], {k[4:]: v for k, v in record.items() if k.startswith("val_")})
            for record in read_jsonl(Path(run_dir) / "metrics.jsonl") if "val_glance_auc" in record]


def read_first_eligible(run_dir: str | os.PathLike) -> int:
    """The first step a finished run could select (:func:`glancevad.checkpoint_selection.first_eligible_step`),
    from its configuration and ``summary.json``."""
    cfg = read_run_config(run_dir)
    summary = json.loads((Path(run_dir) / "summary.json").read_text(encoding="utf-8"))
    return first_eligible_step(mining=cfg.mining, min_mining_step=cfg.min_mining_step,
                               uses_glances=summary["abnormal_roles"]["glance"] > 0)


def write_run_data(run_dir: str | os.PathLike, *, data_root: str | os.PathLike, cache_dir: str | os.PathLike | None,
                   key: str) -> Path:
    """Record where a run's data and cache are (absolute) and the data's :func:`training_key`, so
    that ``train --resume RUN`` alone continues it and a ``--data`` given with it can be checked."""
    return write_json(Path(run_dir) / DATA_NAME, {
        "data": str(Path(data_root).resolve()),
        "cache_dir": None if cache_dir is None else str(Path(cache_dir).resolve()),
        "training_key": key,
    })


def read_run_data(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """What :func:`write_run_data` recorded; ``None`` for a run started before runs recorded it."""
    path = Path(run_dir) / DATA_NAME
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError):
        raise GlanceVADError(f"{path}: not a readable record of the run's data") from None
    if not isinstance(record, dict) or not isinstance(record.get("data"), str):
        raise GlanceVADError(f"{path}: not a record of the run's data (no 'data' entry)")
    return record


def truncate_log(path: str | os.PathLike, step: int) -> None:
    """Keep the log lines up to ``step`` (a run killed after its last checkpoint logged more).

    A torn last line (a kill in the middle of a write) is dropped with a warning; an unreadable
    line elsewhere is an error naming the file and line.
    """
    path = Path(path)
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    kept: list[str] = []
    for number, line in enumerate(lines, 1):
        if not line:
            continue
        try:
            record: Any = json.loads(line)
            record_step = int(record["step"])
        except (ValueError, TypeError, KeyError):
            if number == len(lines):
                warnings.warn(f"{path}: dropped a torn last line (line {number})", GlanceVADWarning, stacklevel=2)
                continue
            raise GlanceVADError(f"{path}: line {number} is not a log record") from None
        if record_step <= step:
            kept.append(line)
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in kept))
