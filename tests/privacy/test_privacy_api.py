"""Subject requests through the API: export (JSON, CSV), erasure, scopes and hostile input."""

from __future__ import annotations

import pytest

from bindery.control.models import LocalTenant
from bindery.privacy.models import ErasureRecord
from bindery.sales.models import Customer
from tests.api.sales_api import API, make_token
from tests.conftest import HttpsClient
from tests.privacy.people import EMAIL, make_people

pytestmark = pytest.mark.django_db(databases="__all__")


def post(client: HttpsClient, path: str, body: object, headers: dict[str, str]) -> object:
    return client.post(f"{API}/privacy/{path}", body, content_type="application/json", headers=headers)


def test_export_json_and_csv(client: HttpsClient, tenant: LocalTenant) -> None:
    make_people(tenant)
    token = make_token(tenant, "privacy:read")
    response = post(client, "subject-exports", {"email": EMAIL.upper()}, token)
    assert response.status_code == 200, response.content  # type: ignore[attr-defined]
    assert response.json()["records"]["sales.Customer"][0]["surname"] == "Bianchi"  # type: ignore[attr-defined]
    as_csv = post(client, "subject-exports", {"email": EMAIL, "format": "csv"}, token)
    assert as_csv["Content-Type"].startswith("text/csv")  # type: ignore[index]
    assert b"Bianchi" in as_csv.content  # type: ignore[attr-defined]


def test_erasure_needs_the_write_scope_and_a_reason(client: HttpsClient, tenant: LocalTenant) -> None:
    make_people(tenant)
    assert post(client, "erasures", {"email": EMAIL, "reason": "request"},
                make_token(tenant, "privacy:read")).status_code == 403  # type: ignore[attr-defined]
    writer = make_token(tenant, "privacy:write")
    assert post(client, "erasures", {"email": EMAIL}, writer).status_code == 422  # type: ignore[attr-defined]
    assert ErasureRecord.objects.count() == 0
    done = post(client, "erasures", {"email": EMAIL, "reason": "art. 17"}, writer)
    assert done.status_code == 200
    assert done.json()["rows_erased"] == 8
    assert not any(c.surname == "Bianchi" for c in Customer.objects.for_tenant(tenant))


def test_sales_tokens_cannot_export_people(client: HttpsClient, tenant: LocalTenant) -> None:
    make_people(tenant)
    assert post(client, "subject-exports", {"email": EMAIL},
                make_token(tenant, "sales:write")).status_code == 403  # type: ignore[attr-defined]


@pytest.mark.parametrize("body", [
    {},
    {"email": "nobody"},
    {"email": "a@b.c" + "x" * 300},
    {"email": ["a@b.c"]},
    {"customer_ids": ["not-a-uuid"]},
    {"customer_ids": ["0190f3a0-0000-7000-8000-000000000001"] * 101},
    {"email": EMAIL, "format": "xml"},
    {"email": EMAIL, "purpose": ""},
])
def test_hostile_export_bodies_get_a_clear_422(client: HttpsClient, tenant: LocalTenant, body: object) -> None:
    response = post(client, "subject-exports", body, make_token(tenant, "privacy:read"))
    assert response.status_code == 422, response.content  # type: ignore[attr-defined]
    assert response.json()["message"]  # type: ignore[attr-defined]


def test_malformed_json_is_refused(client: HttpsClient, tenant: LocalTenant) -> None:
    response = client.post(f"{API}/privacy/erasures", "{not json", content_type="application/json",
                           headers=make_token(tenant, "privacy:write"))
    assert response.status_code in (400, 422)
    assert ErasureRecord.objects.count() == 0


def test_another_tenants_customers_are_out_of_reach(client: HttpsClient, tenant: LocalTenant,
                                                    other_tenant: LocalTenant) -> None:
    theirs = make_people(other_tenant)
    response = post(client, "subject-exports", {"customer_ids": [str(theirs.giulia.pk)]},
                    make_token(tenant, "privacy:read"))
    assert response.json()["records"] == {}  # type: ignore[attr-defined]
