"""``bindery privacy ...`` through the real argument parser, in-process against the test databases."""

from __future__ import annotations

import json

import pytest

from bindery.cli import CommandFailed
from bindery.control.models import LocalTenant
from bindery.privacy.models import Incident
from bindery.sales.models import Customer
from tests.privacy.people import EMAIL, make_people
from tests.privacy.stored import bindery

pytestmark = pytest.mark.django_db(databases="__all__")


def test_export_then_erase_then_replay(tenant: LocalTenant, capsys: pytest.CaptureFixture[str]) -> None:
    make_people(tenant)
    assert bindery("privacy", "export", "--tenant", "acme", "--email", EMAIL) == 0
    export = json.loads(capsys.readouterr().out)
    assert export["records"]["sales.Customer"][0]["surname"] == "Bianchi"
    assert bindery("privacy", "erase", "--tenant", "acme", "--email", EMAIL, "--reason", "ticket 9") == 0
    assert "Erased 8 row(s)" in capsys.readouterr().out
    assert not any(c.surname == "Bianchi" for c in Customer.objects.for_tenant(tenant))
    assert bindery("privacy", "replay", "--tenant", "acme") == 0
    assert "0 row(s) erased again" in capsys.readouterr().out
    assert bindery("privacy", "access-log", "--tenant", "acme") == 0
    log = capsys.readouterr().out
    assert "subject_export" in log
    assert "erase" in log
    assert EMAIL not in log


def test_bad_arguments_fail_with_one_line(tenant: LocalTenant) -> None:
    with pytest.raises(CommandFailed, match="no tenant 'nope'"):
        bindery("privacy", "export", "--tenant", "nope", "--email", EMAIL)
    with pytest.raises(CommandFailed, match="not an e-mail address"):
        bindery("privacy", "erase", "--tenant", "acme", "--email", "x", "--reason", "r")
    with pytest.raises(CommandFailed, match="--discovered"):
        bindery("privacy", "incident-open", "Leak", "--discovered", "yesterday")
    with pytest.raises(CommandFailed, match="no incident"):
        bindery("privacy", "incident", "123", "close")


def test_incident_lifecycle_and_records(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert bindery("privacy", "incident-open", "Stolen backup disk", "--data", "sales.Customer.email") == 0
    incident = Incident.objects.get()
    assert bindery("privacy", "incidents") == 0
    assert "h left" in capsys.readouterr().out
    assert bindery("privacy", "incident", str(incident.pk), "action", "disk reported to police") == 0
    assert bindery("privacy", "incident", str(incident.pk), "notified") == 0
    incident.refresh_from_db()
    assert incident.state == "notified"
    assert "disk reported to police" in incident.actions
    assert bindery("privacy", "records", "--format", "json") == 0
    capsys.readouterr()
    assert bindery("privacy", "records") == 0
    assert "`sales.Customer.email`" in capsys.readouterr().out
