"""Bad input to the sales API: a 4xx naming the field, the error shape, and nothing written."""

from __future__ import annotations

from typing import Any

import pytest

from bindery.control.models import LocalTenant
from bindery.privacy.fields import blind_index
from bindery.sales.models import Customer, Order
from tests.api.sales_api import API, make_token, order_body, snapshot
from tests.conftest import HttpsClient
from tests.sales.factories import store

pytestmark = pytest.mark.django_db(databases="__all__")


def _row0(**changes: Any) -> dict[str, Any]:
    body = order_body("BAD-1")
    body["rows"][0].update(changes)
    return body


def _set(**changes: Any) -> dict[str, Any]:
    body = order_body("BAD-1")
    body.update(changes)
    return body


def _customer(**changes: Any) -> dict[str, Any]:
    body = order_body("BAD-1")
    body["customer"].update(changes)
    return body


# (test id, body, status, code, field)
BAD_ORDERS = [
    ("number-not-text", _set(channel_order_number=1001), 422, "invalid", "channel_order_number"),
    ("number-empty", _set(channel_order_number=""), 422, "invalid", "channel_order_number"),
    ("number-too-long", _set(channel_order_number="9" * 101), 422, "invalid", "channel_order_number"),
    ("number-blank", _set(channel_order_number="   "), 422, "required", "channel_order_number"),
    ("b2b-not-bool", _set(is_b2b="yes"), 422, "invalid", "is_b2b"),
    ("node-not-uuid", _set(origin_node_id="shop"), 422, "invalid", "origin_node_id"),
    ("date-not-date", _set(created_on_channel="yesterday"), 422, "invalid", "created_on_channel"),
    ("date-naive", _set(created_on_channel="2025-01-15T10:00:00"), 422, "invalid", "created_on_channel"),
    ("date-missing", {k: v for k, v in order_body("BAD-1").items() if k != "created_on_channel"},
     422, "invalid", "created_on_channel"),
    ("unknown-field", _set(colour="red"), 422, "invalid", "colour"),
    ("unknown-row-field", _row0(colour="red"), 422, "invalid", "rows.0.colour"),
    ("unknown-customer-field", _customer(age=30), 422, "invalid", "customer.age"),
    ("rows-not-list", _set(rows="many"), 422, "invalid", "rows"),
    ("quantity-not-number", _row0(quantity="two"), 422, "invalid", "rows.0.quantity"),
    ("quantity-negative", _row0(quantity="-1"), 422, "invalid", "rows.0.quantity"),
    ("quantity-nan", _row0(quantity="NaN"), 422, "invalid", "rows.0.quantity"),
    ("quantity-huge", _row0(quantity="1e20"), 422, "out_of_range", "rows.0.quantity"),
    ("total-bool", _set(total=True), 422, "invalid", "total"),
    ("sku-too-long", _row0(sku="S" * 101), 422, "invalid", "rows.0.sku"),
    ("notes-too-long", _set(notes="n" * 10_001), 422, "invalid", "notes"),
    ("nul-in-text", _row0(description="a\x00b"), 422, "invalid_value", "rows.0.description"),
    ("currency-unknown", _set(currency="XYZ"), 422, "unknown_currency", "currency"),
    ("currency-lower", _set(currency="eur"), 422, "unknown_currency", "currency"),
    ("currency-long", _set(currency="EURO"), 422, "invalid", "currency"),
    ("row-currency-mismatch", _row0(currency="USD"), 422, "currency_mismatch", "rows.0.currency"),
    ("country-unknown", _customer(country="ZZ"), 422, "unknown_country", "customer.country"),
    ("country-alpha3", _customer(country="ITA"), 422, "unknown_country", "customer.country"),
    ("email-bad", _customer(email="not-an-email"), 422, "invalid_email", "customer.email"),
    ("total-mismatch", _set(total="1000.00"), 422, "totals_mismatch", "total"),
    ("row-total-mismatch", _row0(total_gross="99.00"), 422, "totals_mismatch", "rows.0.total_gross"),
    ("vat-rate-over-100", _row0(vat_rate="101"), 422, "out_of_range", "rows.0.vat_rate"),
    ("status-not-normalized", _set(status={"code": "x", "normalized": "lost"}), 422, "invalid", "status.normalized"),
    ("too-many-rows", _set(rows=[order_body()["rows"][0]] * 1001), 422, "invalid", "rows"),
]


@pytest.mark.parametrize(("body", "status", "code", "field"), [case[1:] for case in BAD_ORDERS],
                         ids=[case[0] for case in BAD_ORDERS])
def test_bad_order_is_refused_naming_the_field(client: HttpsClient, tenant: LocalTenant, body: dict[str, Any],
                                               status: int, code: str, field: str) -> None:
    """POST /orders with one bad value: the status, code and field say what is wrong; nothing is written."""
    before = snapshot()
    response = client.post(f"{API}/orders", body, content_type="application/json",
                           headers=make_token(tenant, "sales:write"))
    assert response.status_code == status, response.content
    error = response.json()
    assert (error["code"], error["field"]) == (code, field), error
    assert error["message"].startswith(f"{field}: ")
    assert snapshot() == before


@pytest.mark.parametrize(("raw", "status", "code"), [
    (b"[1, 2]", 422, "invalid"),
    (b'"order"', 422, "invalid"),
    (b"null", 422, "invalid"),
    (b'{"channel_order_number": "\xff\xfe"}', 400, None),
    (b'{"channel_order_number": ', 400, None),
], ids=["array", "string", "null", "invalid-utf8", "truncated-json"])
def test_malformed_bodies_get_the_error_shape(client: HttpsClient, tenant: LocalTenant, raw: bytes, status: int,
                                              code: str | None) -> None:
    """Bodies that are not a JSON object (or not UTF-8) get a 4xx with the error shape, never a 500."""
    before = snapshot()
    for url in (f"{API}/orders", f"{API}/orders/bulk"):
        response = client.post(url, raw, content_type="application/json", headers=make_token(tenant, "sales:write"))
        assert response.status_code == status, response.content
        assert {"code", "message"} <= set(response.json())
        if code is not None:
            assert response.json()["code"] == code
    assert snapshot() == before


def test_undecodable_bodies_are_malformed_body(client: HttpsClient, tenant: LocalTenant) -> None:
    """Invalid UTF-8 and truncated JSON are 400 with the parser's own code, malformed_body."""
    for raw in (b'{"channel_order_number": "\xff\xfe"}', b'{"channel_order_number": '):
        response = client.post(f"{API}/orders", raw, content_type="application/json",
                               headers=make_token(tenant, "sales:write"))
        assert response.json()["code"] == "malformed_body"


def test_bulk_over_the_limit_is_refused_whole(client: HttpsClient, tenant: LocalTenant) -> None:
    """1,001 items is a 422 naming `items`, and none of them is stored; an empty bulk is refused too."""
    items = [{"origin_node_id": None, "channel_order_number": f"X-{n}", "created_on_channel": "2025-01-15T10:00:00Z",
              "currency": "EUR"} for n in range(1001)]
    headers = make_token(tenant, "sales:write")
    before = snapshot()
    response = client.post(f"{API}/orders/bulk", {"items": items}, content_type="application/json", headers=headers)
    assert response.status_code == 422
    assert response.json()["field"] == "items"
    empty = client.post(f"{API}/orders/bulk", {"items": []}, content_type="application/json", headers=headers)
    assert empty.json()["field"] == "items"
    unknown = client.post(f"{API}/orders/bulk", {"items": items[:1], "dry_run": True},
                          content_type="application/json", headers=headers)
    assert unknown.json()["field"] == "dry_run"
    assert snapshot() == before


def test_bulk_rejected_item_writes_nothing_and_others_are_stored(client: HttpsClient, tenant: LocalTenant) -> None:
    """An item failing late (totals, after its customer would be known) leaves no customer or row behind."""
    bad = order_body("BULK-BAD", total="1.00")
    bad["customer"]["email"] = "only-in-bad@example.com"
    items = [bad, order_body("BULK-OK"), "not an object"]
    response = client.post(f"{API}/orders/bulk", {"items": items}, content_type="application/json",
                           headers=make_token(tenant, "sales:write"))
    results = response.json()["results"]
    assert [(r["outcome"], r.get("field")) for r in results] == [
        ("rejected", "total"), ("created", None), ("rejected", None)]
    assert results[0]["code"] == "totals_mismatch"
    assert list(Order.objects.for_tenant(tenant).values_list("channel_order_number", flat=True)) == ["BULK-OK"]
    missing = blind_index(tenant, "only-in-bad@example.com")
    assert not Customer.objects.for_tenant(tenant).filter(email_index=missing).exists()


def test_plan_limit_is_409(client: HttpsClient, tenant: LocalTenant) -> None:
    """A new order beyond the plan's 30-day allowance is a 409 conflict; updating a stored one still works."""
    store(tenant)
    LocalTenant.objects.filter(pk=tenant.pk).update(max_orders_30d=1)
    headers = make_token(tenant, "sales:write")
    response = client.post(f"{API}/orders", order_body("1002"), content_type="application/json", headers=headers)
    assert response.status_code == 409
    assert response.json()["code"] == "plan_limit_exceeded"
    again = client.post(f"{API}/orders", order_body("1001", notes="x"), content_type="application/json",
                        headers=headers)
    assert again.status_code == 200


@pytest.mark.parametrize(("suffix", "body", "field"), [
    ("mark", {}, "marked"),
    ("mark", {"marked": "true"}, "marked"),
    ("mark", {"marked": True, "extra": 1}, "extra"),
    ("status", {"code": ""}, "code"),
    ("status", {"code": "c" * 101}, "code"),
    ("status", {"code": "   "}, "status.code"),
    ("shipments", {"weight_kg": "-2"}, "weight_kg"),
    ("shipments", {"weight_kg": "100000000"}, "weight_kg"),
    ("shipments", {"shipped_at": "2025-01-01T10:00:00"}, "shipped_at"),
    ("shipments", {"status": "lost"}, "status"),
    ("shipments", {"tracking_number": "t" * 101}, "tracking_number"),
    ("shipments", {"carrier": "BRT", "courier": "BRT"}, "courier"),
], ids=["mark-missing", "mark-string", "mark-extra", "status-empty", "status-long", "status-blank",
        "ship-negative-weight", "ship-huge-weight", "ship-naive-time", "ship-bad-status", "ship-long-tracking",
        "ship-unknown-field"])
def test_bad_order_action_bodies(client: HttpsClient, tenant: LocalTenant, suffix: str, body: dict[str, Any],
                                 field: str) -> None:
    """Mark, status and shipment bodies with a bad value are a 422 naming the field; nothing is written."""
    order = store(tenant).order
    before = snapshot()
    response = client.post(f"{API}/orders/{order.pk}/{suffix}", body, content_type="application/json",
                           headers=make_token(tenant, "sales:write"))
    assert response.status_code == 422, response.content
    assert response.json()["field"] == field
    assert snapshot() == before


@pytest.mark.parametrize("body", [{"normalized": "lost"}, {}, {"normalized": "shipped", "code": "x"}],
                         ids=["unknown-status", "missing", "extra-field"])
def test_bad_status_mapping(client: HttpsClient, tenant: LocalTenant, body: dict[str, Any]) -> None:
    """PUT /order-statuses/{id} refuses anything but a known normalized status."""
    order = store(tenant).order
    before = snapshot()
    response = client.put(f"{API}/order-statuses/{order.status_id}", body, content_type="application/json",
                          headers=make_token(tenant, "sales:write"))
    assert response.status_code == 422
    assert response.json()["field"] in {"normalized", "code"}
    assert snapshot() == before


@pytest.mark.parametrize(("path", "query", "field"), [
    ("orders", {"customer_id": "nope"}, "customer_id"),
    ("orders", {"marked": "perhaps"}, "marked"),
    ("orders", {"created_on_channel_from": "last week"}, "created_on_channel_from"),
    ("customers", {"q": ""}, "q"),
    ("customers", {"email": "e" * 255}, "email"),
    ("shipments", {"order_id": "1"}, "order_id"),
    ("shipments", {"limit": "many"}, "limit"),
    ("order-statuses", {"normalized": "lost"}, "normalized"),
], ids=["orders-customer", "orders-marked", "orders-date", "customers-empty-q", "customers-long-email",
        "shipments-order", "shipments-limit", "statuses-normalized"])
def test_bad_list_filters_name_the_parameter(client: HttpsClient, tenant: LocalTenant, path: str,
                                             query: dict[str, str], field: str) -> None:
    """A malformed filter is a 422 naming the query parameter."""
    response = client.get(f"{API}/{path}", query, headers=make_token(tenant, "sales:read"))
    assert response.status_code == 422
    assert response.json()["field"] == field
