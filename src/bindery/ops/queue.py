"""The job queue (huey), built from settings without touching the database at import time.

- embedded default: ``SqliteHuey`` in ``<VAR_DIR>/queue.sqlite3`` (its own file, so queue
  traffic never waits on the host database's write lock);
- PostgreSQL hosts: ``PostgresHuey`` inside the host's own database, so the queue moves with
  the cell; connections are opened from Django's current settings, which is also what makes
  tests use the throw-away test database;
- ``immediate``: jobs run inline (tests of code that enqueues).

Runs are durable rows in the host database (integration engine); the queue only wakes workers.
Tables are created by ``bindery migrate`` (:func:`initialize_queue`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections
from huey import Huey, PostgresHuey, SqliteHuey, signals

from bindery.ops.logs import correlation_id

logger = logging.getLogger("bindery.job")
QUEUE_NAME = "bindery"


def _postgres_connection() -> psycopg.Connection[Any]:
    params = connections["default"].get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("server_side_binding", None)
    return psycopg.connect(**params)


def build_huey(backend: str) -> Huey:
    if backend == "immediate":
        return Huey(QUEUE_NAME, immediate=True)
    if backend == "postgres":
        return PostgresHuey(QUEUE_NAME, connection=_postgres_connection, create_tables=False,
                            table_prefix="huey", utc=True)
    return SqliteHuey(QUEUE_NAME, filename=str(settings.BINDERY_QUEUE_FILE), create_tables=False,
                      utc=True, timeout=20)


huey = build_huey(settings.BINDERY_QUEUE)


def initialize_queue() -> None:
    """Create the queue's tables if missing (idempotent)."""
    if not huey.immediate:
        huey.storage.initialize_schema()


def queue_state() -> dict[str, Any]:
    """Return the queue's backend and how many jobs wait, for /healthz and ``bindery check``."""
    state: dict[str, Any] = {"backend": "immediate" if huey.immediate else settings.BINDERY_QUEUE}
    if huey.immediate:
        state["pending"] = 0
        state["scheduled"] = 0
        return state
    state["pending"] = huey.pending_count()
    state["scheduled"] = huey.scheduled_count()
    return state


# One log line per job, carrying the job id the way requests carry theirs.
_started: dict[str, float] = {}


@huey.pre_execute()
def _before_job(task: Any) -> None:
    correlation_id.set(f"job-{task.id}")
    _started[task.id] = time.perf_counter()


@huey.signal(signals.SIGNAL_COMPLETE, signals.SIGNAL_ERROR, signals.SIGNAL_RETRYING,
             signals.SIGNAL_CANCELED, signals.SIGNAL_EXPIRED)
def _after_job(signal: str, task: Any, exc: BaseException | None = None) -> None:
    started = _started.pop(task.id, None)
    logger.log(
        logging.ERROR if signal == signals.SIGNAL_ERROR else logging.INFO,
        "job",
        extra={
            "event": "job",
            "request_id": f"job-{task.id}",
            "task": task.name,
            "status": signal,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
            "error": type(exc).__name__ if exc else None,
        },
    )
    correlation_id.set(None)
