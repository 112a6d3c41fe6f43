"""Reading the next batch on a background thread while the current step computes.

The trainer knows the next batch's items before it needs their features (the sampler can be
peeked without drawing), so the cache reads of step ``i + 1`` run during step ``i``'s forward and
backward. Reads are positional (``preadv``, which releases the GIL); with a cold page cache (a
13 GB UCF-sized cache on a 24 GB machine) they would otherwise stall every step. A read is keyed
by its items: a batch that is not the prefetched one (the first step, a resumed run) is read on
the spot, so prefetching never changes what a step trains on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class Prefetcher(Generic[T]):
    """One read ahead: :meth:`submit` starts ``read()`` on a thread, :meth:`take` returns its
    result when the key matches (else reads on the spot). Errors of the thread surface in :meth:`take`."""

    def __init__(self) -> None:
        self._key: Hashable | None = None
        self._thread: threading.Thread | None = None
        self._outcome: dict[str, object] = {}

    def submit(self, key: Hashable, read: Callable[[], T]) -> None:
        """Start reading ``key``'s data in the background (after the previous read has finished)."""
        self._wait()
        outcome: dict[str, object] = {}

        def run() -> None:
            try:
                outcome["value"] = read()
            except BaseException as error:   # handed to the main thread by take()
                outcome["error"] = error

        self._key, self._outcome = key, outcome
        self._thread = threading.Thread(target=run, name="glancevad-prefetch", daemon=True)
        self._thread.start()

    def take(self, key: Hashable, read: Callable[[], T]) -> T:
        """The data of ``key``: the prefetched read's when it was for ``key``, else ``read()`` now."""
        self._wait()
        outcome, hit = self._outcome, self._key == key
        self._key, self._outcome = None, {}
        if hit and "error" in outcome:
            raise outcome["error"]  # type: ignore[misc]
        if hit and "value" in outcome:
            return outcome["value"]  # type: ignore[return-value]
        return read()

    def _wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
