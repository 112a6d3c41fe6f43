"""Keep freed host memory in the process, so that a training step does not page-fault its tensors in.

A training step allocates the same large tensors every time (UR-DMU at the UCF shape: hundreds of
megabytes of activations). glibc serves every block above its mmap threshold (at most 32 MB) with
a fresh ``mmap`` and returns it on ``free``, so each step touches new pages and the kernel zeroes
and maps them again: measured here, about a third of a UCF-shaped UR-DMU step was system time.
:func:`retain_freed_memory` tells glibc to serve large blocks from its heap and not to trim it,
so the second step reuses the first step's pages. The process's peak memory is unchanged (the
same tensors live at once); its resident memory stays at that peak instead of falling between
steps. A no-op where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_MMAP_MAX = -4
# glibc's documented defaults, restored by retain_freed_memory(False)
_DEFAULTS = {_M_TRIM_THRESHOLD: 128 * 1024, _M_MMAP_THRESHOLD: 128 * 1024, _M_MMAP_MAX: 65536}
_RETAIN = {_M_TRIM_THRESHOLD: 2**31 - 1, _M_MMAP_MAX: 0}


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return None
    return libc


def retain_freed_memory(retain: bool = True) -> bool:
    """Serve large allocations from the heap and keep freed memory (``retain``), or go back to
    glibc's default behaviour and hand free memory back to the system. Returns whether it applied
    (``False`` without glibc)."""
    libc = _libc()
    if libc is None:
        return False
    for option, value in (_RETAIN if retain else _DEFAULTS).items():
        libc.mallopt(option, value)
    if not retain:
        libc.malloc_trim(0)
    return True
