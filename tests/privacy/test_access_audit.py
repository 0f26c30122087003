"""Reads of personal data through the console and the API leave an audit entry: who, what, when, why."""

from __future__ import annotations

import pytest

from bindery.accounts.models import Role
from bindery.control.models import LocalTenant
from bindery.privacy.audit import classify
from bindery.privacy.models import PersonalDataAccess
from tests.api.sales_api import API, make_token
from tests.conftest import HttpsClient
from tests.privacy.people import make_people
from tests.web.console_data import signed_in

pytestmark = pytest.mark.django_db(databases="__all__")


def test_api_read_of_a_customer_is_audited_with_the_stated_purpose(client: HttpsClient, tenant: LocalTenant) -> None:
    people = make_people(tenant)
    headers = {**make_token(tenant, "sales:read"), "X-Bindery-Purpose": "ERP sync of invoices"}
    assert client.get(f"{API}/customers/{people.giulia.pk}", headers=headers).status_code == 200
    entry = PersonalDataAccess.objects.for_tenant(tenant).get()
    assert entry.action == "api_read"
    assert entry.object_id == str(people.giulia.pk)
    assert entry.purpose == "ERP sync of invoices"
    assert entry.actor.startswith("apitoken:")
    assert entry.resource == f"{API}/customers/{people.giulia.pk}"


def test_api_list_of_orders_is_audited_with_a_default_purpose(client: HttpsClient, tenant: LocalTenant) -> None:
    make_people(tenant)
    assert client.get(f"{API}/orders", headers=make_token(tenant, "sales:read")).status_code == 200
    assert PersonalDataAccess.objects.for_tenant(tenant).get().purpose == "integration (API)"


def test_failed_and_refused_reads_are_not_recorded_as_access(client: HttpsClient, tenant: LocalTenant,
                                                             other_tenant: LocalTenant) -> None:
    other = make_people(other_tenant)
    token = make_token(tenant, "sales:read")
    assert client.get(f"{API}/customers/{other.giulia.pk}", headers=token).status_code == 404
    assert client.get(f"{API}/customers", headers=make_token(tenant, "catalog:read")).status_code == 403
    assert client.get(f"{API}/customers").status_code == 401
    assert PersonalDataAccess.objects.unscoped().count() == 0


def test_console_views_and_exports_are_audited(tenant: LocalTenant) -> None:
    people = make_people(tenant)
    browser = signed_in(tenant, Role.VIEWER)
    assert browser.get(f"/sales/customers/{people.giulia.pk}/").status_code == 200
    assert browser.get("/sales/orders.csv").status_code == 200
    assert browser.get("/catalog/products/").status_code == 200  # no personal data: not recorded
    entries = list(PersonalDataAccess.objects.for_tenant(tenant).order_by("created_at"))
    assert [(e.action, e.object_id) for e in entries] == [("view", str(people.giulia.pk)), ("export", "")]
    assert all(e.actor.startswith("user:") and e.purpose for e in entries)


@pytest.mark.parametrize(("path", "expected"), [
    ("/api/v1/customers", ("api_read", "")),
    ("/api/v1/orders/0190f3a0-0000-7000-8000-000000000001", ("api_read", "0190f3a0-0000-7000-8000-000000000001")),
    ("/sales/shipments.csv", ("export", "")),
    ("/sales/orders/", ("view", "")),
    ("/api/v1/products", None),
    ("/api/v1/customers/../products", None),
    ("/sales/orders/x/mark/", None),
])
def test_route_classification(path: str, expected: tuple[str, str] | None) -> None:
    assert classify(path) == expected


def test_access_log_api_is_tenant_scoped_and_needs_the_privacy_scope(client: HttpsClient, tenant: LocalTenant,
                                                                     other_tenant: LocalTenant) -> None:
    people = make_people(tenant)
    client.get(f"{API}/customers/{people.giulia.pk}", headers=make_token(tenant, "sales:read"))
    log = client.get(f"{API}/privacy/access-log", headers=make_token(tenant, "privacy:read"))
    assert log.status_code == 200
    assert [i["object_id"] for i in log.json()["items"]] == [str(people.giulia.pk)]
    other = client.get(f"{API}/privacy/access-log", headers=make_token(other_tenant, "privacy:read"))
    # The other tenant's list holds only its own reads: its request to the access log itself is not personal data.
    assert other.json()["items"] == []
    assert client.get(f"{API}/privacy/access-log", headers=make_token(tenant, "sales:read")).status_code == 403
