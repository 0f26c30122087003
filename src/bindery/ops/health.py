"""The state of this host's parts, for /healthz and ``bindery check``."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.db import connections
from django.utils import timezone

from bindery.ops.logs import redact_text
from bindery.ops.models import WorkerHeartbeat
from bindery.ops.queue import queue_state

# The probe job runs every minute; two missed beats mean the worker is not running jobs.
WORKER_STALE_AFTER = dt.timedelta(minutes=3)


def database_state(alias: str) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return {"status": "error", "error": redact_text(str(exc).strip().splitlines()[0][:300])}
    return {
        "status": "ok",
        "engine": connections[alias].vendor,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }


def worker_state(now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    beat = WorkerHeartbeat.objects.order_by("-last_seen").first()
    if beat is None:
        return {"status": "unknown", "detail": "no worker has reported yet"}
    age = (now - beat.last_seen).total_seconds()
    return {
        "status": "ok" if age <= WORKER_STALE_AFTER.total_seconds() else "stale",
        "last_seen_seconds_ago": round(age, 1),
        "worker": beat.worker,
    }


def host_health() -> dict[str, Any]:
    """Return every part's state and an overall ``status`` (``ok`` or ``error``).

    A worker that has not reported yet, or stopped, makes the host ``degraded`` but not down:
    the web and API still serve.
    """
    databases = {"control": database_state("control"), "host": database_state("default")}
    try:
        queue: dict[str, Any] = {"status": "ok", **queue_state()}
    except Exception as exc:
        queue = {"status": "error", "error": redact_text(str(exc).strip().splitlines()[0][:300])}
    if databases["host"]["status"] == "ok":
        try:
            queue["worker"] = worker_state()
        except Exception as exc:  # e.g. migrations not applied yet
            queue["worker"] = {"status": "error", "error": redact_text(str(exc)[:300])}
    failed = any(part["status"] == "error" for part in (*databases.values(), queue))
    degraded = queue.get("worker", {}).get("status") != "ok"
    status = "error" if failed else ("degraded" if degraded else "ok")
    return {"status": status, "databases": databases, "queue": queue}
