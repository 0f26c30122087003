"""Pause Python's cyclic garbage collector around work that allocates much and makes no cycles.

Two places use it: the bulk upsert (decision 0009: the collector's sweeps cost 30-40% of the
Python time of checking a batch and found nothing, those objects are freed by reference
counting) and the application firewall (decision 0006: a full collection of a large process's
heap was charged to whichever request's CPU budget triggered it).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_pauses = 0
_was_enabled = False


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Disable the collector for the block; nested or concurrent pauses (threads) are counted.

    The collector comes back when the last pause ends, and only if it was enabled before the
    first began.
    """
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()
