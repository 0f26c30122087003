"""A read-rate limit for the backup site (``BINDERY_BACKUP_RATE_LIMIT``).

The site reads a host's snapshot stream or pg_dump's output no faster than the limit; the
sender then blocks on a full socket or pipe, so the host's (or PostgreSQL server's) share of
the work is spread over a longer time instead of taken in a burst — the same idea as
Barman's ``bandwidth_limit`` or pg_basebackup's ``--max-rate``.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class RateLimit:
    """Call :meth:`take` after reading each block; it sleeps while ahead of ``bytes_per_s``.

    ``bytes_per_s`` 0 means unlimited (``take`` returns at once).
    """

    def __init__(self, bytes_per_s: int, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if bytes_per_s < 0:
            raise ValueError("a rate limit cannot be negative")
        self.rate = bytes_per_s
        self._clock, self._sleep = clock, sleep
        self._started = clock()
        self.total = 0

    def take(self, n: int) -> None:
        self.total += n
        if not self.rate:
            return
        ahead = self.total / self.rate - (self._clock() - self._started)
        if ahead > 0:
            self._sleep(ahead)
