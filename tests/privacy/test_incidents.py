"""The incident register: validated records, the 72-hour clock, one alert before it runs out, owners told."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from bindery.accounts.actions import do_create_operator, do_create_user
from bindery.accounts.models import Operator, Role
from bindery.control.models import LocalTenant
from bindery.privacy.incidents import (
    IncidentError,
    alert_due_incidents,
    do_close_incident,
    do_mark_authority_notified,
    do_notify_tenant_owners,
    do_open_incident,
)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def operator(db: None) -> Operator:
    return do_create_operator("dpo@bindery.example", PASSWORD, actor="test")


def test_the_clock_runs_72_hours_from_discovery() -> None:
    found = timezone.now() - dt.timedelta(hours=10)
    incident = do_open_incident("Laptop lost", discovered_at=found, actor="operator:1",
                                data_classes=["sales.Customer.email"])
    assert incident.notify_by == found + dt.timedelta(hours=72)
    assert round(incident.hours_left(timezone.now())) == 62


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"title": " "}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"discovered_at": timezone.now() + dt.timedelta(days=1)}, "future"),
    ({"discovered_at": dt.datetime(2026, 1, 1)}, "time zone"),  # noqa: DTZ001 (the point of the test)
    ({"data_classes": ["sales.Customer.password"]}, "unknown data class"),
])
def test_bad_incident_records_are_refused(kwargs: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"title": "Breach", "discovered_at": timezone.now(), **kwargs}
    with pytest.raises(IncidentError, match=message):
        do_open_incident(values.pop("title"), actor="test", **values)  # type: ignore[arg-type]


def test_operators_are_alerted_once_when_the_deadline_is_near(operator: Operator) -> None:
    near = do_open_incident("Near", discovered_at=timezone.now() - dt.timedelta(hours=50), actor="test")
    far = do_open_incident("Far", discovered_at=timezone.now() - dt.timedelta(hours=1), actor="test")
    assert alert_due_incidents() == [near]
    assert len(mail.outbox) == 1
    assert "Near" in mail.outbox[0].subject
    assert mail.outbox[0].to == ["dpo@bindery.example"]
    assert alert_due_incidents() == []  # once only
    assert alert_due_incidents(now=far.discovered_at + dt.timedelta(hours=60)) == [far]


def test_notified_and_closed_incidents_raise_no_alert(operator: Operator) -> None:
    old = do_open_incident("Old", discovered_at=timezone.now() - dt.timedelta(hours=80), actor="test")
    do_mark_authority_notified(old, actor="test")
    assert alert_due_incidents() == []
    assert "supervisory authority notified" in old.actions
    do_close_incident(old, actor="test")
    with pytest.raises(IncidentError, match="closed"):
        do_mark_authority_notified(old, actor="test")


def test_owners_of_affected_tenants_are_notified(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    do_create_user(tenant, "boss@acme.example", PASSWORD, role=Role.OWNER, actor="test")
    do_create_user(tenant, "clerk@acme.example", PASSWORD, role=Role.VIEWER, actor="test")
    do_create_user(other_tenant, "boss@globex.example", PASSWORD, role=Role.OWNER, actor="test")
    incident = do_open_incident("Leak", discovered_at=timezone.now(), actor="test", tenant_ids=[str(tenant.pk)])
    assert do_notify_tenant_owners(incident, actor="operator:1") == 1
    assert [m.to for m in mail.outbox] == [["boss@acme.example"]]
    incident.refresh_from_db()
    assert incident.tenants_notified_at is not None
    assert "1 tenant owner(s) notified" in incident.actions
