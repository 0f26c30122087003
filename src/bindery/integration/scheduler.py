"""The integration scheduler: one leader per host enqueues due procedures and recovers lost runs.

Leadership is a lease row (:class:`~bindery.integration.models.SchedulerLease`) taken with one
conditional UPDATE: whoever holds it, or finds it expired, renews it; everyone else skips the
tick. Several ``bindery worker --with-scheduler`` processes on one host are therefore safe.

Recovery: a running run whose heartbeat is older than ``BINDERY_RUN_STALE_SECONDS`` lost its
worker. It is re-queued for another attempt (counters and failures of the lost attempt are
cleared, the log keeps what happened) or, after ``max_attempts``, failed. It is never left
"running". Re-running is safe because every write a run makes is idempotent (upserts by SKU,
bindings and export references under unique constraints) and the watermark did not move.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from bindery.control.models import LocalTenant
from bindery.control.routers import HOST
from bindery.integration.actions import add_log_line, do_enqueue_run, wake_worker
from bindery.integration.alerts import alert_late_runs, alert_run_failed
from bindery.integration.errors import IntegrationError, IntegrationErrorCode
from bindery.integration.models import (
    FINAL_STATUSES,
    LogLevel,
    Procedure,
    Run,
    RunItemFailure,
    RunStatus,
    RunTrigger,
    SchedulerLease,
)
from bindery.integration.runner import WORKER_ID
from bindery.integration.schemas import in_windows

logger = logging.getLogger(__name__)
LEASE_NAME = "integration-scheduler"
LEASE_TTL = dt.timedelta(seconds=90)


@dataclass
class TickResult:
    leader: bool
    enqueued: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    pruned: int = 0


def acquire_lease(holder: str, *, now: dt.datetime, ttl: dt.timedelta = LEASE_TTL) -> bool:
    """Take or renew the scheduler lease; return whether ``holder`` leads until ``now + ttl``."""
    expires = now + ttl
    taken = SchedulerLease.objects.filter(name=LEASE_NAME).filter(Q(holder=holder) | Q(expires_at__lt=now)).update(
        holder=holder, expires_at=expires)
    if taken:
        return True
    try:
        with transaction.atomic(using=HOST):
            SchedulerLease.objects.create(name=LEASE_NAME, holder=holder, expires_at=expires)
    except IntegrityError:
        return False  # someone else holds it
    return True


def release_lease(holder: str) -> None:
    SchedulerLease.objects.filter(name=LEASE_NAME, holder=holder).delete()


def recover_run(run: Run, *, now: dt.datetime) -> str:
    """Re-queue or fail one run whose worker stopped beating; return what was done."""
    with transaction.atomic(using=HOST):
        run = Run.objects.unscoped().select_for_update().get(pk=run.pk)
        if run.status != RunStatus.RUNNING:
            return "untouched"
        children = Run.objects.unscoped().filter(parent=run, status__in=[RunStatus.QUEUED, RunStatus.RUNNING])
        children.update(status=RunStatus.FAILED, finished_at=now, error="the worker running it stopped")
        last = f"{run.heartbeat_at:%H:%M:%S} UTC" if run.heartbeat_at else "never"
        if run.cancel_requested:
            Run.objects.unscoped().filter(pk=run.pk).update(status=RunStatus.CANCELLED, finished_at=now)
            add_log_line(run, f"Worker {run.worker} stopped (last heartbeat {last}); the run was being cancelled, "
                              "so it stays cancelled.", level=LogLevel.WARNING)
            return "cancelled"
        if run.attempt < run.max_attempts:
            Run.objects.unscoped().filter(pk=run.pk).update(
                status=RunStatus.QUEUED, attempt=run.attempt + 1, worker="", heartbeat_at=None, started_at=None,
                progress_done=0, progress_total=None, read_count=0, created_count=0, updated_count=0,
                skipped_count=0, failed_count=0, modified_at=now)
            RunItemFailure.objects.unscoped().filter(run=run).delete()
            add_log_line(run, f"Worker {run.worker} stopped sending heartbeats (last {last}); retrying, attempt "
                              f"{run.attempt + 1} of {run.max_attempts}.", level=LogLevel.WARNING)
            transaction.on_commit(lambda: wake_worker(run.pk), using=HOST)
            return "retried"
        error = f"the worker stopped sending heartbeats (last {last}) and {run.max_attempts} attempts are used up"
        Run.objects.unscoped().filter(pk=run.pk).update(status=RunStatus.FAILED, finished_at=now, error=error,
                                                        modified_at=now)
        add_log_line(run, f"Failed: {error}.", level=LogLevel.ERROR)
        if run.procedure is not None:
            run.error = error
            alert_run_failed(run.procedure, run)
        return "failed"


PRUNE_BATCH = 1000


def prune_runs(*, now: dt.datetime, keep: dt.timedelta, max_batches: int = 50) -> int:
    """Delete finished top-level runs older than ``keep`` (with their steps, logs and failed items).

    The executions table must not grow forever (n8n's lesson); batches keep each transaction
    short. Return how many runs were deleted.
    """
    deleted = 0
    for _ in range(max_batches):
        ids = list(Run.objects.unscoped().filter(parent__isnull=True, status__in=FINAL_STATUSES,
                                                 finished_at__lt=now - keep).values_list("pk", flat=True)[:PRUNE_BATCH])
        if not ids:
            break
        with transaction.atomic(using=HOST):
            Run.objects.unscoped().filter(pk__in=ids).delete()
        deleted += len(ids)
    if deleted:
        logger.info("runs pruned", extra={"event": "integration.runs_pruned", "runs": deleted})
    return deleted


def stale_runs(*, now: dt.datetime, stale_after: dt.timedelta) -> list[Run]:
    cutoff = now - stale_after
    return list(Run.objects.unscoped().filter(status=RunStatus.RUNNING, parent__isnull=True).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)))


def paused_tenants() -> QuerySet[LocalTenant, Any]:
    """Tenants whose schedules a tenant move paused: nothing of theirs is enqueued or woken."""
    return LocalTenant.objects.filter(paused=True).values("pk")


def tick(*, holder: str = WORKER_ID, now: dt.datetime | None = None,
         stale_after: dt.timedelta | None = None) -> TickResult:
    """One scheduler pass: lead or step aside, recover lost runs, enqueue due procedures."""
    now = now or timezone.now()
    stale_after = stale_after if stale_after is not None else dt.timedelta(seconds=settings.BINDERY_RUN_STALE_SECONDS)
    if not acquire_lease(holder, now=now):
        return TickResult(leader=False)
    result = TickResult(leader=True)
    for run in stale_runs(now=now, stale_after=stale_after):
        outcome = recover_run(run, now=now)
        if outcome == "retried":
            result.retried.append(str(run.pk))
        elif outcome in ("failed", "cancelled"):
            result.failed.append(str(run.pk))
    # A queued run whose wake-up message was lost (queue flushed, enqueue failed after commit)
    # is woken again; claiming is conditional, so a duplicate wake-up is harmless.
    paused = paused_tenants()
    lost_wakeups = Run.objects.unscoped().filter(status=RunStatus.QUEUED, parent__isnull=True,
                                                 queued_at__lt=now - stale_after).exclude(pk__in=result.retried)
    lost_wakeups = lost_wakeups.exclude(tenant_id__in=paused)
    for run_id in lost_wakeups.values_list("pk", flat=True):
        wake_worker(run_id)
        result.requeued.append(str(run_id))
    result.late = alert_late_runs(now=now)
    if now.minute == 0:  # once an hour is plenty
        result.pruned = prune_runs(now=now, keep=dt.timedelta(days=settings.BINDERY_RUN_RETENTION_DAYS))
    due = Procedure.objects.unscoped().filter(enabled=True).filter(
        Q(next_run_at__isnull=True) | Q(next_run_at__lte=now)).exclude(tenant_id__in=paused)
    for procedure in due.order_by("next_run_at"):
        if not in_windows(procedure.windows, now):
            result.skipped.append(str(procedure.pk))
            continue
        try:
            do_enqueue_run(procedure=procedure, trigger=RunTrigger.SCHEDULE, actor="system:scheduler")
            result.enqueued.append(str(procedure.pk))
        except IntegrationError as exc:
            if exc.code != IntegrationErrorCode.ALREADY_RUNNING:
                raise
            result.skipped.append(str(procedure.pk))  # never two runs of one procedure at once
        Procedure.objects.unscoped().filter(pk=procedure.pk).update(
            next_run_at=now + dt.timedelta(minutes=procedure.interval_minutes))
    if result.enqueued or result.retried or result.failed:
        logger.info("integration tick", extra={"event": "integration.tick", "enqueued": len(result.enqueued),
                                               "retried": len(result.retried), "failed": len(result.failed)})
    return result
