"""Keep freed host memory in the process, so that a training step does not page-fault its tensors in.

A training step allocates the same large tensors every time (UR-DMU at the UCF shape: hundreds of
megabytes of activations). glibc serves every block above its mmap threshold with a fresh
``mmap`` and returns it on ``free``, so each step touches new pages and the kernel zeroes and maps
them again: measured here, about a third of a UCF-shaped UR-DMU step was system time.
:func:`retain_freed_memory` tells glibc to serve large blocks from its heap and not to trim it,
so the second step reuses the first step's pages. The process's peak memory is unchanged (the
same tensors live at once); its resident memory stays at that peak instead of falling between
steps. A no-op where the C library is not glibc.

**The setting is process-wide and permanent.** It is glibc's (``mallopt``), not a tensor's or a
trainer's: once :class:`glancevad.engine.trainer.Trainer` has started on the CPU, everything
later in that process allocates this way — validation, the callbacks, and in the grid
and paper workers (``glancevad experiment``, ``glancevad paper``) the tests of ``best.pt`` and
``last.pt`` that follow the training in the same process. It cannot be undone: setting
``M_MMAP_MAX`` or ``M_TRIM_THRESHOLD`` turns off glibc's dynamic mmap threshold for the rest of
the process, and no ``mallopt`` call brings that back (setting the documented defaults again
would pin a fixed 128 KiB threshold, which is not glibc's default behaviour either). Code that
must run as plain code would (the training benchmark's reference step) runs in a process that
never calls it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_RETAIN = {_M_TRIM_THRESHOLD: 2**31 - 1, _M_MMAP_MAX: 0}


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return None
    return libc


def retain_freed_memory() -> bool:
    """Serve large allocations from the heap and keep freed memory, for the rest of this process
    (see the module docstring: process-wide, and not undoable). Returns whether it applied
    (``False`` without glibc)."""
    libc = _libc()
    if libc is None:
        return False
    for option, value in _RETAIN.items():
        libc.mallopt(option, value)
    return True
