"""The directory as this host sees it: which host serves a tenant, cached with a TTL.

Every request for a tenant asks :func:`lookup`. Entries come from the control database and
are kept ``BINDERY_DIRECTORY_TTL`` seconds. When the control database cannot be reached the
host keeps serving from what it has (stale entries included) and, for tenants it never
looked up, from its own ``LocalTenant`` rows: a tenant stored here and not fenced is served
here. So a control-plane outage never stops a host serving its own tenants. A fenced copy (a
tenant that moved away and is not pruned yet) is never served: without the directory the host
cannot say where the tenant went, so it answers 503 until the directory answers again.

After a failed attempt the control database is not asked again for a while (1 s, doubling up
to 10 s, reset by the first answer): without that back-off, every request whose entry had
expired waited for the connect timeout during an outage.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass

from django.conf import settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DirectoryEntry:
    tenant_id: uuid.UUID
    host_name: str
    public_url: str
    epoch: int

    @property
    def is_here(self) -> bool:
        return self.host_name == settings.BINDERY_HOST_NAME


class TenantElsewhere(Exception):
    """The tenant is served by another host: a redirect to ``entry``'s URL, or with no entry
    (moved away, and the directory cannot say where right now) a 503."""

    def __init__(self, entry: DirectoryEntry | None) -> None:
        super().__init__(f"tenant served by host {entry.host_name}" if entry else "tenant moved away")
        self.entry = entry


_lock = threading.Lock()
_cache: dict[uuid.UUID, tuple[DirectoryEntry | None, float]] = {}
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 10.0
_backoff = {"retry_at": 0.0, "wait": 0.0}  # when the control database may be asked again


def clear() -> None:
    with _lock:
        _cache.clear()
        _backoff.update(retry_at=0.0, wait=0.0)


def retry_at() -> float:
    """Return the monotonic time before which the control database is not asked (0: no outage seen)."""
    with _lock:
        return _backoff["retry_at"]


def _ttl() -> float:
    return float(getattr(settings, "BINDERY_DIRECTORY_TTL", 30))


def _from_control(tenant_id: uuid.UUID) -> DirectoryEntry | None:
    from bindery.control.models import Placement

    row = (Placement.objects.filter(tenant_id=tenant_id)
           .values_list("host__name", "host__public_url", "epoch").first())
    if row is None:
        return None
    return DirectoryEntry(tenant_id, row[0], row[1], row[2])


def lookup(tenant_id: uuid.UUID, *, now: float | None = None) -> DirectoryEntry | None:
    """Return where the tenant is served, or None if the directory does not know it."""
    now = time.monotonic() if now is None else now
    with _lock:
        cached = _cache.get(tenant_id)
    if cached is not None and now - cached[1] < _ttl():
        return cached[0]
    with _lock:
        backing_off = now < _backoff["retry_at"]
    if backing_off:  # a recent attempt failed: answer from what we know without waiting
        return cached[0] if cached is not None else None
    try:
        entry = _from_control(tenant_id)
    except Exception as exc:  # the control plane is down: keep serving from what we know
        with _lock:
            wait = _backoff["wait"] = min(max(_backoff["wait"] * 2, BACKOFF_FIRST), BACKOFF_MAX)
            _backoff["retry_at"] = now + wait
        logger.warning("directory unreachable", extra={"event": "directory.unreachable",
                                                       "error": type(exc).__name__, "retry_in_s": wait})
        from django.db import connections

        from bindery.control.routers import CONTROL

        connections[CONTROL].close_if_unusable_or_obsolete()
        if cached is not None:
            return cached[0]
        return None
    with _lock:
        _cache[tenant_id] = (entry, now)
        _backoff.update(retry_at=0.0, wait=0.0)
    return entry


def check_served_here(tenant_id: uuid.UUID) -> None:
    """Raise :class:`TenantElsewhere` when the directory places the tenant on another host.

    Unknown to the directory (or the directory unreachable with nothing cached): the host's own
    records decide: served here unless this host's copy is fenced (moved away), then
    ``TenantElsewhere(None)``.
    """
    entry = lookup(tenant_id)
    if entry is not None and not entry.is_here:
        raise TenantElsewhere(entry)
    if entry is None:
        from bindery.control.models import LocalTenant

        if LocalTenant.objects.filter(pk=tenant_id, fenced=True).exists():
            raise TenantElsewhere(None)


def redirect_url(entry: DirectoryEntry, full_path: str) -> str:
    return entry.public_url.rstrip("/") + full_path
