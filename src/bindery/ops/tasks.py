"""Jobs of the operations area."""

from __future__ import annotations

from django.db import close_old_connections
from huey import crontab

from bindery.ops.actions import do_record_worker_heartbeat
from bindery.ops.queue import huey, queue_state


@huey.periodic_task(crontab(minute="*"))
def probe_worker_health() -> None:
    """Record that a worker on this host is alive and how long the queue is (for /healthz)."""
    close_old_connections()
    try:
        do_record_worker_heartbeat(queue_pending=queue_state()["pending"])
    finally:
        close_old_connections()
