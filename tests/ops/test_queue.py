"""The job queue: a real SQLite or PostgreSQL huey queue carries a job to a worker and back."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings

from bindery.ops import queue as queue_module
from bindery.ops.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def test_probe_job_runs_through_the_real_queue(tmp_path: Path) -> None:
    """The periodic probe, enqueued on this suite's database engine, is executed and records a heartbeat."""
    backend = "postgres" if connection.vendor == "postgresql" else "sqlite"
    with override_settings(BINDERY_QUEUE_FILE=tmp_path / "queue.sqlite3"):
        huey = queue_module.build_huey(backend)
    huey.storage.initialize_schema()
    huey.flush()
    from bindery.ops.tasks import probe_worker_health

    # Register the very function the periodic job runs on this freshly built, real queue.
    wrapped = huey.task()(probe_worker_health.func)
    result = wrapped()
    assert huey.pending_count() == 1
    task = huey.dequeue()
    assert task is not None
    huey.execute(task)
    assert huey.pending_count() == 0
    assert result.get() is None
    assert WorkerHeartbeat.objects.count() == 1


def test_periodic_probe_is_registered() -> None:
    """The scheduler sees the probe as a periodic job that is due every minute."""
    import datetime as dt

    from bindery.ops.queue import huey

    names = {task.name for task in huey.read_periodic(dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC))}
    assert "probe_worker_health" in names
