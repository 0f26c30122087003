"""The console's privacy page: owners and admins export and erase a person; others are refused."""

from __future__ import annotations

import json

import pytest

from bindery.accounts.models import Role
from bindery.control.models import LocalTenant
from bindery.privacy.models import ErasureRecord, PersonalDataAccess
from bindery.sales.models import Customer
from tests.privacy.people import EMAIL, make_people
from tests.web.console_data import signed_in

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_only_owners_and_admins_handle_requests(tenant: LocalTenant, role: Role) -> None:
    make_people(tenant)
    client = signed_in(tenant, role)
    assert client.get("/settings/privacy/").status_code == 403
    assert client.post("/settings/privacy/export/", {"email": EMAIL, "format": "json",
                                                      "purpose": "x"}).status_code == 403
    assert client.post("/settings/privacy/erase/", {"email": EMAIL, "reason": "x", "confirm": "on"}).status_code == 403
    assert any(c.surname == "Bianchi" for c in Customer.objects.for_tenant(tenant))


def test_export_downloads_json_and_is_logged(tenant: LocalTenant) -> None:
    make_people(tenant)
    client = signed_in(tenant, Role.ADMIN)
    response = client.post("/settings/privacy/export/", {"email": EMAIL, "format": "json", "purpose": "ticket 5"})
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    assert json.loads(response.content)["records"]["sales.Customer"][0]["surname"] == "Bianchi"
    page = client.get("/settings/privacy/")
    assert b"ticket 5" in page.content
    assert PersonalDataAccess.objects.for_tenant(tenant).filter(action="subject_export").count() == 1


def test_erase_needs_confirmation_and_a_reason(tenant: LocalTenant) -> None:
    make_people(tenant)
    client = signed_in(tenant, Role.OWNER)
    refused = client.post("/settings/privacy/erase/", {"email": EMAIL, "reason": "asked"})
    assert refused.status_code == 400
    assert ErasureRecord.objects.count() == 0
    done = client.post("/settings/privacy/erase/", {"email": EMAIL, "reason": "asked", "confirm": "on"}, follow=True)
    assert b"Erased: 8 row(s)" in done.content
    assert not any(c.surname == "Bianchi" for c in Customer.objects.for_tenant(tenant))


@pytest.mark.parametrize("email", ["not-an-email", "a" * 300 + "@x.io", "x@y.z\\x00", ""])
def test_bad_addresses_get_a_form_error(tenant: LocalTenant, email: str) -> None:
    client = signed_in(tenant, Role.OWNER)
    response = client.post("/settings/privacy/export/", {"email": email, "format": "json", "purpose": "p"})
    assert response.status_code == 400
    assert b'class="error"' in response.content


def test_access_log_filter(tenant: LocalTenant) -> None:
    people = make_people(tenant)
    client = signed_in(tenant, Role.OWNER)
    client.get(f"/sales/customers/{people.giulia.pk}/")
    client.get("/sales/orders.csv")
    page = client.get("/settings/privacy/?action=export")
    assert b"/sales/orders.csv" in page.content
    assert f"/sales/customers/{people.giulia.pk}/".encode() not in page.content
