"""E-mail alerts: a failed procedure run and a late one reach the procedure's recipients, once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from bindery.control.models import LocalTenant
from bindery.integration.actions import do_create_connector, do_create_procedure, do_enqueue_run, do_update_procedure
from bindery.integration.errors import IntegrationError
from bindery.integration.models import Connector, Node, Run, RunStatus
from bindery.integration.runner import execute_run
from bindery.integration.scheduler import tick

pytestmark = pytest.mark.django_db(databases="__all__")


def test_a_failed_procedure_run_is_mailed(tenant: LocalTenant, hub_node: Node, warehouses: None,
                                          django_capture_on_commit_callbacks: object) -> None:
    broken = do_create_connector(tenant, "broken", hub_node, "stock_copy",
                                 config={"source_warehouse": "main", "target_warehouse": "gone"}, actor="test")
    procedure = do_create_procedure(tenant, "nightly", [broken], alert_emails=["Ops@Acme.example"], actor="test")
    run = do_enqueue_run(procedure=procedure, actor="test")
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        execute_run(run.pk, heartbeat=False)
    assert Run.objects.for_tenant(tenant).get(pk=run.pk).status == RunStatus.FAILED
    [message] = mail.outbox
    assert message.to == ["ops@acme.example"]
    assert message.subject == "[Bindery] nightly: run failed"
    assert "target warehouse 'gone' does not exist" in message.body
    assert f"/integration/runs/{run.pk}/" in message.body


def test_a_late_run_is_mailed_once(tenant: LocalTenant, stock_copy: Connector,
                                   django_capture_on_commit_callbacks: object) -> None:
    procedure = do_create_procedure(tenant, "hourly", [stock_copy], alert_emails=["ops@acme.example"],
                                    delay_alert_minutes=30, actor="test")
    run = do_enqueue_run(procedure=procedure, actor="test")
    later = timezone.now() + dt.timedelta(minutes=31)
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        assert tick(holder="a", now=timezone.now()).late == []
        assert tick(holder="a", now=later, stale_after=dt.timedelta(hours=2)).late == [str(run.pk)]
        assert tick(holder="a", now=later, stale_after=dt.timedelta(hours=2)).late == []
    assert [m.subject for m in mail.outbox] == ["[Bindery] hourly: run is late"]


def test_bad_alert_settings_are_field_errors(tenant: LocalTenant, stock_copy: Connector) -> None:
    with pytest.raises(IntegrationError) as bad:
        do_create_procedure(tenant, "p", [stock_copy], alert_emails=["not-an-address"], delay_alert_minutes=0,
                            actor="test")
    assert {e.field for e in bad.value.errors} == {"procedure.alert_emails", "procedure.delay_alert_minutes"}
    procedure = do_create_procedure(tenant, "p", [stock_copy], actor="test")
    do_update_procedure(procedure, alert_emails=["a@b.example"], actor="test")
    assert (procedure.alert_emails, procedure.delay_alert_minutes) == (["a@b.example"], None)
