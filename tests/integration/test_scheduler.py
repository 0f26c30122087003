"""Procedures and the scheduler: leader lease, due procedures, windows, recovery of lost runs, fencing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from bindery.control.models import LocalTenant
from bindery.integration.actions import (
    do_create_connector,
    do_create_procedure,
    do_enqueue_run,
    do_update_procedure,
)
from bindery.integration.errors import IntegrationError
from bindery.integration.models import Connector, Node, Procedure, ProcedureStep, Run, RunStatus
from bindery.integration.runner import RunContext, RunLost, execute_run
from bindery.integration.scheduler import acquire_lease, recover_run, tick
from bindery.integration.schemas import TimeWindow
from tests.integration.conftest import make_products

pytestmark = pytest.mark.django_db(databases="__all__")
NOW = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)  # a Monday


def test_one_leader_per_host() -> None:
    """The lease goes to one holder; another gets it only after expiry; the holder renews."""
    assert acquire_lease("a", now=NOW)
    assert not acquire_lease("b", now=NOW + dt.timedelta(seconds=30))
    assert acquire_lease("a", now=NOW + dt.timedelta(seconds=60))
    assert acquire_lease("b", now=NOW + dt.timedelta(seconds=200))
    assert not tick(holder="a", now=NOW + dt.timedelta(seconds=201)).leader


def test_tick_enqueues_due_procedures_once(tenant: LocalTenant, stock_copy: Connector) -> None:
    """Due procedures get one queued run and a next time; a still-active one is never queued twice."""
    procedure = do_create_procedure(tenant, "sync", [stock_copy], interval_minutes=15, actor="test")
    first = tick(holder="a", now=timezone.now())
    assert first.enqueued == [str(procedure.pk)]
    procedure.refresh_from_db()
    assert procedure.next_run_at is not None
    Procedure.objects.for_tenant(tenant).update(next_run_at=timezone.now() - dt.timedelta(minutes=1))
    second = tick(holder="a", now=timezone.now())
    assert (second.enqueued, second.skipped) == ([], [str(procedure.pk)])
    assert Run.objects.for_tenant(tenant).filter(procedure=procedure).count() == 1


def test_time_windows(tenant: LocalTenant, stock_copy: Connector) -> None:
    """Outside its window a due procedure waits; windows crossing midnight belong to their start day."""
    procedure = do_create_procedure(tenant, "office hours", [stock_copy],
                                    windows=[{"weekdays": [0, 1, 2, 3, 4], "start": "08:00", "end": "18:00"}],
                                    actor="test")
    saturday = dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC)
    assert tick(holder="a", now=saturday).skipped == [str(procedure.pk)]
    assert tick(holder="a", now=NOW).enqueued == [str(procedure.pk)]
    night = TimeWindow(weekdays=[4], start="22:00", end="02:00")  # Friday night
    assert night.contains(dt.datetime(2026, 12, 4, 23, 0, tzinfo=dt.UTC))
    assert night.contains(dt.datetime(2026, 12, 5, 1, 0, tzinfo=dt.UTC))
    assert not night.contains(dt.datetime(2026, 12, 5, 23, 0, tzinfo=dt.UTC))


def test_bad_procedure_input_gets_field_errors(tenant: LocalTenant, stock_copy: Connector) -> None:
    with pytest.raises(IntegrationError) as windows:
        do_create_procedure(tenant, "p", [stock_copy], windows=[{"weekdays": [7], "start": "25:00", "end": "x"}],
                            actor="test")
    assert {e.field for e in windows.value.errors} == {"procedure.windows.0.weekdays", "procedure.windows.0.start",
                                                       "procedure.windows.0.end"}
    with pytest.raises(IntegrationError) as interval:
        do_create_procedure(tenant, "p", [stock_copy], interval_minutes=0, actor="test")
    assert interval.value.field == "interval_minutes"
    with pytest.raises(IntegrationError) as twice:
        do_create_procedure(tenant, "p", [stock_copy, stock_copy], actor="test")
    assert twice.value.field == "connector_ids.1"
    assert not Procedure.objects.for_tenant(tenant).exists()


def test_procedure_runs_steps_in_order_and_stops_at_a_failure(tenant: LocalTenant, hub_node: Node,
                                                              stock_copy: Connector) -> None:
    """Each step is a child run; counters roll up; a failing step fails the procedure and skips the rest."""
    make_products(tenant, 4)
    broken = do_create_connector(tenant, "broken", hub_node, "stock_copy",
                                 config={"source_warehouse": "main", "target_warehouse": "gone"}, actor="test")
    procedure = do_create_procedure(tenant, "sync", [stock_copy, broken], actor="test")
    run = execute_run(do_enqueue_run(procedure=procedure, actor="test").pk, heartbeat=False)
    assert run is not None
    assert run.status == RunStatus.FAILED
    children = list(Run.objects.for_tenant(tenant).filter(parent=run).order_by("queued_at"))
    assert [(c.connector_id, c.status) for c in children] == [(stock_copy.pk, RunStatus.SUCCEEDED),
                                                              (broken.pk, RunStatus.FAILED)]
    assert (run.read_count, run.updated_count) == (4, 4)
    assert "step 2 (broken) failed" in run.error
    do_update_procedure(procedure, connectors=[broken, stock_copy], actor="test")
    steps = ProcedureStep.objects.for_tenant(tenant).filter(procedure=procedure).order_by("position")
    assert [s.connector_id for s in steps] == [broken.pk, stock_copy.pk]


def _running(tenant: LocalTenant, connector: Connector, *, attempt: int = 1, max_attempts: int = 3) -> Run:
    return Run.objects.create(tenant=tenant, connector=connector, status=RunStatus.RUNNING, attempt=attempt,
                              max_attempts=max_attempts, started_at=NOW, heartbeat_at=NOW, worker="dead:1")


def test_lost_runs_are_retried_then_failed_never_left_running(tenant: LocalTenant, stock_copy: Connector) -> None:
    """A silent run is re-queued with the next attempt; on its last attempt it fails with a clear error."""
    run = _running(tenant, stock_copy)
    result = tick(holder="a", now=NOW + dt.timedelta(minutes=10), stale_after=dt.timedelta(minutes=2))
    assert result.retried == [str(run.pk)]
    run.refresh_from_db()
    assert (run.status, run.attempt, run.worker) == (RunStatus.QUEUED, 2, "")
    Run.objects.for_tenant(tenant).filter(pk=run.pk).update(status=RunStatus.RUNNING, attempt=3, heartbeat_at=NOW)
    assert recover_run(run, now=NOW + dt.timedelta(minutes=10)) == "failed"
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "3 attempts are used up" in run.error
    _running(tenant, stock_copy)  # beat 30 s ago: alive
    fresh_result = tick(holder="a", now=NOW + dt.timedelta(seconds=30), stale_after=dt.timedelta(minutes=2))
    assert fresh_result.retried == []


def test_a_superseded_worker_is_fenced_off(tenant: LocalTenant, stock_copy: Connector) -> None:
    """After recovery re-queues a run, the old attempt's next checkpoint finds it no longer owns it."""
    run = _running(tenant, stock_copy)
    context = RunContext(run=run, tenant=tenant, connector=stock_copy, node=stock_copy.node, config={},
                         product_filter=None, order_filter=None, simulate=False, since=None,  # type: ignore[arg-type]
                         started_at=NOW)
    context.checkpoint(done=1)
    recover_run(run, now=NOW + dt.timedelta(minutes=10))
    with pytest.raises(RunLost):
        context.checkpoint(done=2)
