"""The orders API through the real URLs: list, read, upsert, bulk, mark, status and shipments."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from bindery.control.models import LocalTenant
from bindery.sales.actions import do_add_shipment, do_mark_order, do_set_order_status
from bindery.sales.models import Order, OrderStatus, Shipment
from tests.api.sales_api import API, make_token, order_body, small_order_body
from tests.conftest import HttpsClient
from tests.sales.factories import SHOP_NODE, order_payload, store

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def writer(tenant: LocalTenant) -> dict[str, str]:
    return make_token(tenant, "sales:write")


@pytest.fixture
def reader(tenant: LocalTenant) -> dict[str, str]:
    return make_token(tenant, "sales:read")


def test_post_order_creates_then_updates_then_is_unchanged(client: HttpsClient, tenant: LocalTenant,
                                                           writer: dict[str, str]) -> None:
    """POST /orders: 201 on creation, 200 on a change, 200 with nothing moved on the same body again."""
    body = order_body("1001")
    created = client.post(f"{API}/orders", body, content_type="application/json", headers=writer)
    assert created.status_code == 201, created.content
    order = created.json()
    assert order["channel_order_number"] == "1001"
    assert (order["net_total"], order["vat_total"], order["total"]) == ("32.5000", "7.1500", "39.6500")
    assert [row["sku"] for row in order["rows"]] == ["SKU-1", "SKU-2"]
    assert order["rows"][0]["quantity"] == "2.0000"
    assert order["billing_address"]["city"] == "Milano"
    assert order["delivery_address"]["city"] == "Torino"
    assert order["status"]["code"] == "wc-processing"
    assert order["normalized_status"] == "processing"
    assert order["shipments"] == []

    again = client.post(f"{API}/orders", body, content_type="application/json", headers=writer)
    assert again.status_code == 200
    assert again.json()["modified_at"] == order["modified_at"]

    body["notes"] = "leave at the door"
    changed = client.post(f"{API}/orders", body, content_type="application/json", headers=writer)
    assert changed.status_code == 200
    assert changed.json()["id"] == order["id"]
    assert changed.json()["notes"] == "leave at the door"
    assert Order.objects.for_tenant(tenant).count() == 1


def test_amounts_accepted_as_numbers_and_returned_as_strings(client: HttpsClient, writer: dict[str, str]) -> None:
    """JSON numbers are accepted for amounts (no float error creeps in) and come back as strings."""
    body = small_order_body("N-1", shipping_net=10.1, shipping_vat=2.22, net_total=10.1, vat_total=2.22,
                            total=12.32)
    response = client.post(f"{API}/orders", body, content_type="application/json", headers=writer)
    assert response.status_code == 201, response.content
    assert response.json()["total"] == "12.3200"
    assert response.json()["shipping_net"] == "10.1000"


def test_get_order_returns_rows_addresses_and_shipments(client: HttpsClient, tenant: LocalTenant,
                                                        reader: dict[str, str]) -> None:
    """GET /orders/{id} includes rows in position order, both addresses and the shipments."""
    order = store(tenant).order
    do_add_shipment(order, carrier="BRT", tracking_number="T1", weight_kg=Decimal("1.5"), actor="test")
    response = client.get(f"{API}/orders/{order.pk}", headers=reader)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == str(order.pk)
    assert body["hub_order_key"] == order.hub_order_key
    assert [row["position"] for row in body["rows"]] == [0, 1]
    assert body["shipments"][0]["tracking_number"] == "T1"
    assert body["shipments"][0]["weight_kg"] == "1.5000"
    assert body["payment_method"]["code"] == "paypal"
    assert body["customer_id"] == str(order.customer_id)


def test_pagination_walks_250_orders_without_gaps_or_duplicates(client: HttpsClient, tenant: LocalTenant,
                                                                reader: dict[str, str]) -> None:
    """Three pages of 100, 100 and 50 cover every order exactly once, oldest first."""
    for number in range(250):
        store(tenant, order_payload(f"P-{number:03}", rows=(), customer=None, billing_address=None,
                                    delivery_address=None))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"{API}/orders", query, headers=reader).json()
        pages += 1
        seen.extend(item["channel_order_number"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [f"P-{number:03}" for number in range(250)]


def test_default_limit_is_100_and_out_of_range_limits_are_refused(client: HttpsClient, tenant: LocalTenant,
                                                                  reader: dict[str, str]) -> None:
    """Without a limit a page holds 100; 0 and 501 are refused naming `limit`; a forged cursor is 400."""
    for number in range(101):
        store(tenant, order_payload(f"L-{number:03}", rows=(), customer=None, billing_address=None,
                                    delivery_address=None))
    page = client.get(f"{API}/orders", headers=reader).json()
    assert len(page["items"]) == 100
    assert page["next_cursor"]
    for limit in (0, 501):
        response = client.get(f"{API}/orders", {"limit": limit}, headers=reader)
        assert response.status_code == 422
        assert response.json()["field"] == "limit"
    forged = client.get(f"{API}/orders", {"cursor": "not-a-cursor"}, headers=reader)
    assert forged.status_code == 400
    assert forged.json()["field"] == "cursor"


def test_modified_since_returns_only_orders_changed_after_it(client: HttpsClient, tenant: LocalTenant,
                                                             reader: dict[str, str]) -> None:
    """Delta mode: an order changed after the watermark is listed, an untouched one is not."""
    old = store(tenant, order_payload("OLD")).order
    untouched = store(tenant, order_payload("UNTOUCHED")).order
    Order.objects.for_tenant(tenant).filter(pk__in=[old.pk, untouched.pk]).update(
        modified_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    watermark = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    do_mark_order(old, True, actor="test")
    response = client.get(f"{API}/orders", {"modified_since": watermark.isoformat()}, headers=reader)
    assert [item["id"] for item in response.json()["items"]] == [str(old.pk)]
    naive = client.get(f"{API}/orders", {"modified_since": "2024-06-01T00:00:00"}, headers=reader)
    assert naive.status_code == 422
    assert naive.json()["field"] == "modified_since"


def test_list_filters(client: HttpsClient, tenant: LocalTenant, reader: dict[str, str]) -> None:
    """Each filter narrows the list: status, number, node, marked, customer, channel dates."""
    first = store(tenant, order_payload("F-1")).order
    second = store(tenant, order_payload(
        "F-2", origin_node_id=None, customer=None,
        created_on_channel=dt.datetime(2024, 3, 1, tzinfo=dt.UTC))).order
    do_mark_order(second, True, actor="test")
    do_set_order_status(second, "cancelled", actor="test")

    def ids(**query: object) -> list[str]:
        response = client.get(f"{API}/orders", query, headers=reader)
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["items"]]

    assert ids(status="processing") == [str(first.pk)]
    assert ids(status="cancelled") == [str(second.pk)]
    assert ids(channel_order_number="F-2") == [str(second.pk)]
    assert ids(origin_node_id=str(SHOP_NODE)) == [str(first.pk)]
    assert ids(marked="true") == [str(second.pk)]
    assert ids(marked="false") == [str(first.pk)]
    assert ids(customer_id=str(first.customer_id)) == [str(first.pk)]
    assert ids(created_on_channel_to="2024-04-01T00:00:00Z") == [str(second.pk)]
    assert ids(created_on_channel_from="2024-04-01T00:00:00Z") == [str(first.pk)]
    assert client.get(f"{API}/orders", {"status": "lost"}, headers=reader).json()["field"] == "status"


def test_bulk_reports_one_result_per_item(client: HttpsClient, tenant: LocalTenant,
                                          writer: dict[str, str]) -> None:
    """A bulk of created, unchanged, updated and rejected items answers each; the bad one writes nothing."""
    store(tenant, order_payload("B-1"))
    store(tenant, order_payload("B-2"))
    updated = order_body("B-2", notes="changed")
    items = [order_body("B-NEW"), order_body("B-1"), updated, order_body("B-BAD", currency="XYZ"),
             {"channel_order_number": "B-WORSE"}]
    response = client.post(f"{API}/orders/bulk", {"items": items}, content_type="application/json", headers=writer)
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [(r["index"], r["outcome"]) for r in results] == [
        (0, "created"), (1, "unchanged"), (2, "updated"), (3, "rejected"), (4, "rejected")]
    assert results[0]["order_id"] == str(Order.objects.for_tenant(tenant).get(channel_order_number="B-NEW").pk)
    assert results[3]["code"] == "unknown_currency"
    assert results[3]["field"] == "currency"
    assert results[4]["code"] == "invalid"
    assert results[4]["field"] == "created_on_channel"
    numbers = set(Order.objects.for_tenant(tenant).values_list("channel_order_number", flat=True))
    assert numbers == {"B-1", "B-2", "B-NEW"}


def test_mark_order(client: HttpsClient, tenant: LocalTenant, writer: dict[str, str]) -> None:
    """POST /orders/{id}/mark sets and clears the flag."""
    order = store(tenant).order
    url = f"{API}/orders/{order.pk}/mark"
    response = client.post(url, {"marked": True}, content_type="application/json", headers=writer)
    assert response.status_code == 200, response.content
    assert response.json()["is_marked"] is True
    assert Order.objects.for_tenant(tenant).get().is_marked
    client.post(url, {"marked": False}, content_type="application/json", headers=writer)
    assert not Order.objects.for_tenant(tenant).get().is_marked
    assert client.post(url, {"marked": "yes"}, content_type="application/json",
                       headers=writer).json()["field"] == "marked"


def test_set_order_status_follows_the_map(client: HttpsClient, tenant: LocalTenant,
                                          writer: dict[str, str]) -> None:
    """POST /orders/{id}/status with a known code normalizes; an unseen code is added as unknown."""
    order = store(tenant).order
    url = f"{API}/orders/{order.pk}/status"
    response = client.post(url, {"code": "completed"}, content_type="application/json", headers=writer)
    assert response.status_code == 200, response.content
    assert response.json()["normalized_status"] == "completed"
    response = client.post(url, {"code": "x-waiting", "name": "Waiting"}, content_type="application/json",
                           headers=writer)
    assert response.json()["status"]["name"] == "Waiting"
    assert response.json()["normalized_status"] == "unknown"
    assert OrderStatus.objects.for_tenant(tenant).filter(code="x-waiting", origin_node_id=SHOP_NODE).exists()


def test_add_shipment_creates_then_updates(client: HttpsClient, tenant: LocalTenant,
                                           writer: dict[str, str]) -> None:
    """POST /orders/{id}/shipments: 201 for a new tracking number, 200 when the same one is resent."""
    order = store(tenant).order
    url = f"{API}/orders/{order.pk}/shipments"
    body = {"carrier": "BRT", "service": "express", "tracking_number": "TRK-1", "weight_kg": "2.5",
            "shipped_at": "2025-01-20T08:00:00+01:00"}
    first = client.post(url, body, content_type="application/json", headers=writer)
    assert first.status_code == 201, first.content
    shipment = first.json()
    assert shipment["order_id"] == str(order.pk)
    assert shipment["weight_kg"] == "2.5000"
    assert shipment["shipped_at"].startswith("2025-01-20T07:00:00")
    second = client.post(url, {**body, "status": "delivered"}, content_type="application/json", headers=writer)
    assert second.status_code == 200
    assert second.json()["id"] == shipment["id"]
    assert Shipment.objects.for_tenant(tenant).get().status == "delivered"



def test_list_query_count_does_not_grow_with_the_page(client: HttpsClient, tenant: LocalTenant,
                                                      reader: dict[str, str]) -> None:
    """Listing 2 or 6 orders (with status and methods) costs the same number of queries."""
    def queries() -> int:
        with CaptureQueriesContext(connections["default"]) as host:
            assert client.get(f"{API}/orders", headers=reader).status_code == 200
        return len(host.captured_queries)

    for number in range(2):
        store(tenant, order_payload(f"Q-{number}"))
    queries()  # the token's first use records it (at most once a minute); measure after that
    few = queries()
    for number in range(2, 6):
        store(tenant, order_payload(f"Q-{number}"))
    assert queries() == few
