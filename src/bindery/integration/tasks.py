"""Jobs of the integration engine: the scheduler's tick and run execution.

Jobs take ids and re-read everything: the durable run row is the truth, the queue only wakes
workers, so a lost or duplicated message never loses or doubles a run.
"""

from __future__ import annotations

from django.db import close_old_connections
from huey import crontab

from bindery.ops.queue import huey


@huey.task()
def execute_run_job(run_id: str) -> None:
    """Execute one queued run (no-op if another worker claimed it first)."""
    from bindery.integration.runner import execute_run

    if not huey.immediate:  # inline (tests, embedded): the caller's connection is in use
        close_old_connections()
    try:
        # Inline (immediate) queues run inside the caller's transaction: no heartbeat thread,
        # whose own connection could not see the caller's uncommitted rows.
        execute_run(run_id, heartbeat=not huey.immediate)
    finally:
        if not huey.immediate:
            close_old_connections()


@huey.task()
def process_webhook_job(event_id: str) -> None:
    """Act on one stored webhook event (no-op if it was processed already)."""
    import uuid

    from bindery.integration.webhooks import process_event

    if not huey.immediate:  # inline (tests, embedded): the caller's connection is in use
        close_old_connections()
    try:
        process_event(uuid.UUID(event_id))
    finally:
        if not huey.immediate:
            close_old_connections()


@huey.periodic_task(crontab(minute="*"))
def integration_tick() -> None:
    """Every minute: the leader enqueues due procedures and recovers runs that lost their worker."""
    from bindery.integration.scheduler import tick

    close_old_connections()
    try:
        tick()
    finally:
        close_old_connections()
