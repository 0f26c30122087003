"""A move pauses the tenant's schedules and waits for its running jobs before the cutover; the
schedules resume on the new host."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.utils import timezone

from bindery.control import moves
from bindery.control.databases import alias_for_host
from bindery.control.errors import ControlError, ControlErrorCode
from bindery.control.hosts import do_add_host, ensure_local_host
from bindery.control.models import Host, LocalTenant, MoveState, MoveStep, Tenant, TenantMove
from bindery.integration.actions import do_create_procedure, do_enqueue_run
from bindery.integration.models import Connector, Procedure, Run, RunStatus
from bindery.integration.runner import execute_run
from bindery.integration.scheduler import tick
from tests.integration.conftest import hub_node, stock_copy, warehouses  # noqa: F401  (fixtures)

UrlFactory = Callable[[], str]
pytestmark = pytest.mark.django_db(databases="__all__")


def _target(host_database_url: UrlFactory) -> Host:
    local = ensure_local_host()
    return do_add_host("host-b", datacenter=local.datacenter, public_url="https://host-b.example",
                       database_url=host_database_url(), actor="test")


def test_paused_tenant_is_not_scheduled_and_its_queued_runs_do_not_start(
        tenant: LocalTenant, other_tenant: LocalTenant, stock_copy: Connector) -> None:  # noqa: F811
    """While paused: the scheduler skips the tenant, no worker claims its queued run; resume runs it."""
    procedure = do_create_procedure(tenant, "sync", [stock_copy], interval_minutes=15, actor="test")
    moves.pause_schedules("default", tenant.pk)
    assert str(procedure.pk) not in tick(holder="a", now=timezone.now()).enqueued
    assert not Run.objects.for_tenant(tenant).exists()
    run = do_enqueue_run(procedure=procedure, actor="test")  # the immediate queue tries to run it at once
    assert execute_run(run.pk, heartbeat=False) is None
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED
    moves.pause_schedules("default", tenant.pk, paused=False)
    done = execute_run(run.pk, heartbeat=False)
    assert done is not None
    assert done.status == RunStatus.SUCCEEDED, done.error


def test_move_waits_for_running_jobs_and_stays_resumable(tenant: LocalTenant, stock_copy: Connector,  # noqa: F811
                                                         host_database_url: UrlFactory) -> None:
    """A running job blocks the cutover: after the timeout the move stops with a clear error,
    still resumable, schedules running again; once the job ends the move finishes and the
    schedules are paused on the target until the switch, then resumed there."""
    procedure = do_create_procedure(tenant, "sync", [stock_copy], interval_minutes=15, actor="test")
    run = Run.objects.create(tenant_id=tenant.pk, procedure=procedure, status=RunStatus.RUNNING,
                             started_at=timezone.now(), heartbeat_at=timezone.now(), worker="elsewhere:1")
    target = _target(host_database_url)
    dst = alias_for_host(target)
    control_tenant = Tenant.objects.get(pk=tenant.pk)
    with pytest.raises(ControlError) as waiting:
        moves.do_move_tenant(control_tenant, target, actor="test", job_wait_seconds=0.5)
    assert waiting.value.code == ControlErrorCode.MOVE_WAITING
    assert "still running" in str(waiting.value)
    assert "again" in str(waiting.value)
    move = TenantMove.objects.get(tenant_id=tenant.pk)
    assert (move.state, move.step) == (MoveState.RUNNING, MoveStep.CATCH_UP)
    local = LocalTenant.objects.get(pk=tenant.pk)
    assert (local.paused, local.fenced) == (False, False)
    assert LocalTenant.objects.using(dst).get(pk=tenant.pk).paused  # the copy on the target never runs jobs

    seen: dict[str, bool] = {}

    def on_progress(line: str) -> None:
        if line.startswith("schedules paused"):
            # Paused before the wait: the scheduler enqueues nothing now; the job finishes meanwhile.
            seen["paused"] = LocalTenant.objects.get(pk=tenant.pk).paused
            seen["enqueued"] = bool(tick(holder="a", now=timezone.now()).enqueued)
            Run.objects.for_tenant(tenant).filter(pk=run.pk).update(status=RunStatus.SUCCEEDED,
                                                                     finished_at=timezone.now())

    def on_step(step: str) -> None:
        if step == MoveStep.SWITCH:
            seen["target_paused_before_switch"] = LocalTenant.objects.using(dst).get(pk=tenant.pk).paused

    moves.after_step = on_step
    try:
        move = moves.do_move_tenant(control_tenant, target, actor="test", progress=on_progress, job_wait_seconds=30)
    finally:
        moves.after_step = None
    assert (move.state, move.step) == (MoveState.DONE, MoveStep.DONE)
    assert seen == {"paused": True, "enqueued": False, "target_paused_before_switch": True}
    assert not LocalTenant.objects.using(dst).get(pk=tenant.pk).paused  # schedules resume on the new host
    assert Procedure.objects.using(dst).for_tenant(tenant.pk).get().pk == procedure.pk
    assert Run.objects.using(dst).for_tenant(tenant.pk).get().status == RunStatus.SUCCEEDED
