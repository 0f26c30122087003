"""Executing a run: claim it, run the connector(s), heartbeat, finish, move the watermark.

Fencing: every write the runner makes to its run row is conditioned on ``status = running``
and the ``attempt`` it claimed. If the reaper gave up on this worker (heartbeat missing) and
re-queued the run, a still-alive old worker finds its updates match nothing and stops
(:class:`RunLost`) instead of racing the new attempt; it never moves the watermark.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connections, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from bindery.control.models import LocalTenant
from bindery.control.rls import tenant_scope
from bindery.control.routers import HOST
from bindery.integration import registry
from bindery.integration.actions import (
    add_log_line,
    bump_counters,
    do_advance_watermark,
    do_bind,
    do_bind_many,
    read_node_credentials,
)
from bindery.integration.alerts import alert_run_failed
from bindery.integration.errors import IntegrationError, RunCancelled
from bindery.integration.models import (
    Binding,
    Connector,
    LogLevel,
    Node,
    ProcedureStep,
    Run,
    RunItemFailure,
    RunStatus,
    RunTrigger,
    Watermark,
)
from bindery.integration.schemas import OrderFilter, ProductFilter
from bindery.ops.logs import REDACTED, redact_text

logger = logging.getLogger(__name__)

# Differential runs start a little before the watermark: clocks of writers differ slightly,
# and re-reading an item is harmless because every write is idempotent.
OVERLAP = dt.timedelta(seconds=5)
WORKER_ID = f"{socket.gethostname()[:60]}:{os.getpid()}"


class RunLost(RunCancelled):
    """This worker no longer owns the run (it was recovered and re-queued elsewhere)."""


def _worker_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{threading.get_ident() % 100000}"


@dataclass
class RunContext:
    """What a connector type's run function gets: its inputs and the run's instruments."""

    run: Run
    tenant: LocalTenant
    connector: Connector
    node: Node
    config: dict[str, Any]
    product_filter: ProductFilter
    order_filter: OrderFilter
    simulate: bool
    since: dt.datetime | None  # None: a full run
    started_at: dt.datetime
    _pending: dict[str, int] = field(default_factory=dict)

    @property
    def actor(self) -> str:
        return f"run:{self.run.pk}"

    def credentials(self) -> dict[str, Any]:
        return read_node_credentials(self.node)

    def scrub(self, text: str) -> str:
        """Remove this node's credential values (and URL passwords, tokens) from a text."""
        return scrub_secrets(redact_text(text), self.node)

    def log(self, message: str, *, level: str = LogLevel.INFO) -> None:
        add_log_line(self.run, self.scrub(message), level=level)

    def count(self, **counts: int) -> None:
        """Add to counters (read, created, updated, skipped, failed); flushed at checkpoints."""
        for name, value in counts.items():
            self._pending[name] = self._pending.get(name, 0) + value

    def fail_item(self, item: str, code: str, message: str, field_name: str | None = None) -> None:
        """Record one item that failed; the run goes on with the others."""
        RunItemFailure.objects.create(tenant_id=self.run.tenant_id, run=self.run, item=item[:200], code=code[:50],
                                      message=self.scrub(message)[:2000], field=(field_name or "")[:200])
        self.count(failed=1)

    def checkpoint(self, *, done: int | None = None, total: int | None = None) -> None:
        """Record progress and a heartbeat, flush counters, and stop if cancelled or superseded."""
        updates: dict[str, Any] = {"heartbeat_at": timezone.now()}
        if done is not None:
            updates["progress_done"] = done
        if total is not None:
            updates["progress_total"] = total
        owned = Run.objects.for_tenant(self.run.tenant_id).filter(
            pk=self.run.pk, status=RunStatus.RUNNING, attempt=self.run.attempt)
        if not owned.update(**updates):
            raise RunLost("this worker no longer owns the run")
        pending, self._pending = self._pending, {}
        bump_counters(self.run, **pending)
        parent_id = self.run.parent_id
        cancelled = Run.objects.for_tenant(self.run.tenant_id).filter(
            pk__in=[self.run.pk, *([parent_id] if parent_id else [])], cancel_requested=True).exists()
        if cancelled:
            raise RunCancelled("cancellation requested")

    def bind_many(self, entity_kind: str, pairs: list[tuple[str, uuid.UUID]]) -> None:
        """Bind a page of (external id, hub id) pairs; a conflicting pair is a failed item."""
        if self.simulate:
            return
        for external_id in do_bind_many(self.node, entity_kind, pairs):
            self.fail_item(external_id, "binding_conflict",
                           f"{entity_kind} {external_id!r} is bound to another hub record on this node")

    def bind(self, entity_kind: str, external_id: str, hub_id: uuid.UUID) -> Binding | None:
        """Bind an external id to a hub id on this connector's node (not in simulate mode)."""
        if self.simulate:
            return None
        return do_bind(self.node, entity_kind, external_id, hub_id)


@sensitive_variables("values")
def scrub_secrets(text: str, node: Node) -> str:
    """Replace every credential value of ``node`` found in ``text`` with ``[redacted]``.

    Vendors echo what they were sent ("invalid key abc123"), and run functions put exception
    texts in logs; this is the last wall before anything is stored or logged.
    """
    if not node.credentials_sealed:
        return text
    try:
        values = [str(v) for v in _flatten(read_node_credentials(node)) if len(str(v)) >= 4]
    except IntegrationError:
        return text
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [v for item in value.values() for v in _flatten(item)]
    if isinstance(value, list):
        return [v for item in value for v in _flatten(item)]
    return [value] if value not in (None, "", True, False) else []


# --- claiming and finishing -------------------------------------------------------------------


def _claim(run_id: uuid.UUID, worker: str) -> Run | None:
    """Mark a queued run running for ``worker``; None if taken, or if its tenant's schedules are paused.

    The paused flag is read again after the UPDATE, in the same transaction: the UPDATE's fence
    trigger holds the tenant row (``FOR KEY SHARE``) until commit, so either a move's pause waits
    for this claim to commit (and then sees the run running) or this claim sees the pause.
    """
    now = timezone.now()
    with transaction.atomic(using=HOST):
        claimed = Run.objects.unscoped().filter(pk=run_id, status=RunStatus.QUEUED).exclude(
            tenant_id__in=LocalTenant.objects.filter(paused=True).values("pk")).update(
            status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, worker=worker[:100], modified_at=now)
        if not claimed:
            return None
        tenant_id = Run.objects.unscoped().filter(pk=run_id).values_list("tenant_id", flat=True).get()
        if LocalTenant.objects.filter(pk=tenant_id, paused=True).exists():
            transaction.set_rollback(True, using=HOST)
            return None
    return Run.objects.unscoped().select_related("tenant", "connector", "procedure").get(pk=run_id)


def _finish(run: Run, status: str, *, error: str = "") -> bool:
    """Mark the run final if this attempt still owns it; return whether it did."""
    now = timezone.now()
    updated = Run.objects.for_tenant(run.tenant_id).filter(
        pk=run.pk, status=RunStatus.RUNNING, attempt=run.attempt,
    ).update(status=status, finished_at=now, heartbeat_at=now, error=error[:4000], modified_at=now)
    if updated:
        run.status, run.finished_at, run.error = status, now, error[:4000]
    return bool(updated)


class _Heartbeat(threading.Thread):
    """Beat while a long step runs between checkpoints, from its own database connection."""

    def __init__(self, run: Run, interval: float) -> None:
        super().__init__(name=f"heartbeat-{run.pk}", daemon=True)
        self.run_id, self.tenant_id, self.attempt = run.pk, run.tenant_id, run.attempt
        self.interval = interval
        self.stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop_event.wait(self.interval):
                try:
                    Run.objects.for_tenant(self.tenant_id).filter(
                        pk=self.run_id, status=RunStatus.RUNNING, attempt=self.attempt,
                    ).update(heartbeat_at=timezone.now())
                except Exception:  # a missed beat is what the reaper is for; never crash the run
                    logger.warning("heartbeat failed", extra={"event": "integration.heartbeat_failed",
                                                              "run": str(self.run_id)})
        finally:
            connections.close_all()


def heartbeat_interval() -> float:
    return max(1.0, settings.BINDERY_RUN_STALE_SECONDS / 4)


def execute_run(run_id: uuid.UUID | str, *, heartbeat: bool = True, worker: str | None = None) -> Run | None:
    """Execute one queued run to its end; return it, or None if someone else claimed it first."""
    run = _claim(uuid.UUID(str(run_id)), worker or _worker_id())
    if run is None:
        return None
    beat = _Heartbeat(run, heartbeat_interval()) if heartbeat else None
    with tenant_scope(run.tenant_id):
        if beat:
            beat.start()
        try:
            add_log_line(run, f"Started on {run.worker} (attempt {run.attempt} of {run.max_attempts}).")
            if run.procedure_id:
                _execute_procedure(run)
            else:
                assert run.connector is not None
                _execute_connector(run, run.connector)
        finally:
            if beat:
                beat.stop_event.set()
                beat.join(timeout=10)
    run.refresh_from_db()
    return run


def _execute_procedure(run: Run) -> None:
    steps = list(ProcedureStep.objects.for_tenant(run.tenant_id).filter(procedure_id=run.procedure_id)
                 .select_related("connector", "connector__node").order_by("position"))
    if not steps:
        add_log_line(run, "The procedure has no connectors; nothing to do.", level=LogLevel.WARNING)
    for number, step in enumerate(steps, start=1):
        parent = Run.objects.for_tenant(run.tenant_id).filter(pk=run.pk).values_list(
            "status", "attempt", "cancel_requested").first()
        if parent is None or parent[0] != RunStatus.RUNNING or parent[1] != run.attempt:
            return  # recovered elsewhere: the new attempt owns the procedure now
        if parent[2]:
            add_log_line(run, f"Cancelled before step {number}.", level=LogLevel.WARNING)
            _finish(run, RunStatus.CANCELLED)
            return
        connector = step.connector
        add_log_line(run, f"Step {number}/{len(steps)}: connector {connector.name!r}.")
        now = timezone.now()
        child = Run(tenant_id=run.tenant_id, connector=connector, parent=run, trigger=RunTrigger.PROCEDURE,
                    actor=f"run:{run.pk}", simulate=connector.simulate, status=RunStatus.RUNNING, started_at=now,
                    heartbeat_at=now, worker=run.worker, max_attempts=1)
        try:
            with transaction.atomic(using=HOST):
                child.save(force_insert=True)
        except IntegrityError:
            message = f"connector {connector.name!r} is already running elsewhere; the procedure stops here"
            add_log_line(run, message, level=LogLevel.ERROR)
            if _finish(run, RunStatus.FAILED, error=message) and run.procedure is not None:
                alert_run_failed(run.procedure, run)
            return
        _execute_connector(child, connector)
        Run.objects.for_tenant(run.tenant_id).filter(pk=run.pk, status=RunStatus.RUNNING).update(
            heartbeat_at=timezone.now(), progress_done=number, progress_total=len(steps))
        _rollup(run, child)
        if child.status != RunStatus.SUCCEEDED:
            add_log_line(run, f"Step {number} ended {child.status}; the procedure stops here.", level=LogLevel.ERROR)
            final = RunStatus.CANCELLED if child.status == RunStatus.CANCELLED else RunStatus.FAILED
            if _finish(run, final, error=f"step {number} ({connector.name}) {child.status}: {child.error}") \
                    and final == RunStatus.FAILED and run.procedure is not None:
                alert_run_failed(run.procedure, run)
            return
    if _finish(run, RunStatus.SUCCEEDED):
        add_log_line(run, "Procedure finished.")


def _rollup(run: Run, child: Run) -> None:
    child.refresh_from_db()
    bump_counters(run, read=child.read_count, created=child.created_count, updated=child.updated_count,
                  skipped=child.skipped_count, failed=child.failed_count)


def _execute_connector(run: Run, connector: Connector) -> None:
    node = connector.node
    fingerprint = connector.config_fingerprint
    if not (connector.enabled and node.enabled):
        message = f"connector {connector.name!r} or its node {node.name!r} is disabled"
        add_log_line(run, message, level=LogLevel.ERROR)
        _finish(run, RunStatus.FAILED, error=message)
        return
    try:
        ctype = registry.get(node.technology).connector_type(connector.connector_type)
    except IntegrationError as exc:
        add_log_line(run, exc.message, level=LogLevel.ERROR)
        _finish(run, RunStatus.FAILED, error=exc.message)
        return
    watermark = Watermark.objects.for_tenant(run.tenant_id).filter(connector=connector).first()
    since = None
    if connector.differential:
        if watermark is None:
            add_log_line(run, "Differential mode, but no successful run yet: this run is full.")
        elif watermark.config_fingerprint != fingerprint:
            add_log_line(run, "The configuration or filters changed since the last success: this run is full.")
        else:
            since = watermark.since - OVERLAP
            add_log_line(run, f"Differential: items changed since {since:%Y-%m-%d %H:%M:%S} UTC.")
    assert run.started_at is not None
    Run.objects.for_tenant(run.tenant_id).filter(pk=run.pk).update(differential_since=since,
                                                                   simulate=connector.simulate)
    if connector.simulate:
        add_log_line(run, "Simulation: everything is computed and logged, nothing is written.")
    context = RunContext(run=run, tenant=run.tenant, connector=connector, node=node, config=dict(connector.config),
                         product_filter=ProductFilter.model_validate(connector.product_filter or {}),
                         order_filter=OrderFilter.model_validate(connector.order_filter or {}),
                         simulate=connector.simulate, since=since, started_at=run.started_at)
    try:
        ctype.run(context)
        context.checkpoint()
    except RunLost:
        logger.warning("run lost", extra={"event": "integration.run_lost", "run": str(run.pk)})
        return
    except RunCancelled:
        bump_counters(run, **context._pending)
        if _finish(run, RunStatus.CANCELLED):
            add_log_line(run, "Cancelled.", level=LogLevel.WARNING)
        return
    except Exception as exc:
        message = context.scrub(f"{type(exc).__name__}: {exc}" if not isinstance(exc, IntegrationError)
                                else exc.message)
        # No traceback in the log: its frames and message may quote credentials.
        logger.error("run failed", extra={"event": "integration.run_failed", "run": str(run.pk),
                                          "error": message})
        bump_counters(run, **context._pending)
        if _finish(run, RunStatus.FAILED, error=message):
            add_log_line(run, f"Failed: {message}", level=LogLevel.ERROR)
        return
    with transaction.atomic(using=HOST):
        if not _finish(run, RunStatus.SUCCEEDED):
            return
        if not connector.simulate:
            # Only a committed success moves the watermark, and to this run's start: whatever
            # changed while it ran is taken again next time.
            do_advance_watermark(run, connector, since=run.started_at, fingerprint=fingerprint)
        add_log_line(run, "Finished.")


def close_connections() -> None:
    close_old_connections()
