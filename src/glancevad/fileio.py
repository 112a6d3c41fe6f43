"""Atomic file output: write to a temporary name in the same folder, then rename.

A reader (or a resumed run) therefore sees either the old file or the complete new one,
never a half-written file.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

# The process's umask, read once at import (reading it means setting it, which is not thread-safe).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _file_mode(path: Path) -> int:
    """The permissions a written file gets: those of the file it replaces, else what ``open`` would
    give under the umask (``mkstemp`` alone would leave every output readable by its owner only)."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_UMASK


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_kw: Any) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _file_mode(path))
        with os.fdopen(fd, mode, **open_kw) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_temporaries(folder: str | os.PathLike, names: Iterable[str] | None = None) -> list[Path]:
    """Delete what a writer killed inside :func:`atomic_write` left: ``.<name>.*.tmp`` in ``folder``.

    Only for the given target ``names`` (every target when ``None``), so that a process sharing the
    folder (another extraction shard) keeps its own files in progress. Returns what was removed.
    """
    patterns = [".*.tmp"] if names is None else [f".{glob.escape(name)}.*.tmp" for name in names]
    return remove_matching(folder, patterns)


def remove_matching(folder: str | os.PathLike, patterns: Iterable[str]) -> list[Path]:
    """Delete the files of ``folder`` that match any glob pattern; returns what was removed."""
    folder = Path(folder)
    removed = []
    for pattern in patterns:
        for path in folder.glob(pattern):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def write_csv(path: str | os.PathLike, rows: list[dict[str, Any]]) -> Path:
    """Write dict rows as CSV atomically (columns: the first row's keys; no rows, an empty file)."""
    with atomic_write(path, "w", encoding="utf-8", newline="") as handle:
        if rows:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    return Path(path)


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a JSON-lines file (``metrics.jsonl``, ``test_trace.jsonl``), blank lines skipped."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line]


def write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON atomically and return the path."""
    with atomic_write(path, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, indent=indent)
        handle.write("\n")
    return Path(path)


def write_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Save one array as ``.npy`` atomically (no pickle) and return the path."""
    with atomic_write(path, "wb") as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
    return Path(path)


def save_figure(fig: Any, path: str | os.PathLike, **savefig_kw: Any) -> Path:
    """Save a matplotlib figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", **savefig_kw)
    plt.close(fig)
    return Path(path)


def check_output(path: str | os.PathLike, *, kind: str) -> Path:
    """Refuse, before any work, an output path that cannot be written: one error naming it.

    ``kind`` is ``"file"`` or ``"folder"``. Refused: a folder where a file is wanted and the
    reverse, a path below an existing file, and a place where the operating system will not let
    us create a file. The check asks the OS itself (``os.access`` says yes to root everywhere,
    ``/proc`` included): it creates the missing folders and a probe file in the folder the output
    goes to, then removes what it created, so a command refused later leaves nothing behind.
    """
    from glancevad.errors import GlanceVADError

    path = Path(path)
    if kind not in ("file", "folder"):
        raise ValueError(kind)
    if path.exists():
        if kind == "file" and path.is_dir():
            raise GlanceVADError(f"{path}: is a folder; give a file name to write")
        if kind == "folder" and not path.is_dir():
            raise GlanceVADError(f"{path}: is a file; give a folder to write into")
    folder = path if kind == "folder" else path.parent
    ancestor = folder
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise GlanceVADError(f"{path}: cannot be created, {ancestor} is a file")
    missing = [folder, *folder.parents][: len(folder.parts) - len(ancestor.parts)]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".glancevad-probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise GlanceVADError(f"{path}: cannot write there ({ancestor}: {reason})") from None
    finally:
        for created in missing:  # deepest first
            with contextlib.suppress(OSError):
                os.rmdir(created)
    return path
