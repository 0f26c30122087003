"""Customers, shipments and order statuses through the real URLs."""

from __future__ import annotations

import datetime as dt

import pytest

from bindery.control.models import LocalTenant
from bindery.sales.actions import do_add_shipment
from bindery.sales.models import Customer, Order, OrderStatus
from bindery.sales.payloads import CustomerPayload
from tests.api.sales_api import API, make_token
from tests.conftest import HttpsClient
from tests.sales.factories import ERP_NODE, order_payload, store

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def reader(tenant: LocalTenant) -> dict[str, str]:
    return make_token(tenant, "sales:read")


def _ids(client: HttpsClient, path: str, headers: dict[str, str], **query: object) -> list[str]:
    response = client.get(f"{API}/{path}", query, headers=headers)
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


def test_customers_list_filters_and_detail(client: HttpsClient, tenant: LocalTenant, reader: dict[str, str]) -> None:
    """GET /customers filters by e-mail (any case), free text and modified_since; GET /customers/{id} reads one."""
    mario = store(tenant, order_payload("C-1")).order.customer
    anna = store(tenant, order_payload("C-2", customer=CustomerPayload(
        email="anna@example.com", name="Anna", company="Verdi Srl"))).order.customer
    assert mario is not None
    assert anna is not None
    assert _ids(client, "customers", reader) == [str(mario.pk), str(anna.pk)]
    assert _ids(client, "customers", reader, email="MARIO.ROSSI@EXAMPLE.COM") == [str(mario.pk)]
    assert _ids(client, "customers", reader, q="verdi") == [str(anna.pk)]
    Customer.objects.for_tenant(tenant).filter(pk=mario.pk).update(modified_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    assert _ids(client, "customers", reader, modified_since="2024-06-01T00:00:00Z") == [str(anna.pk)]
    page = client.get(f"{API}/customers", {"limit": 1}, headers=reader).json()
    assert len(page["items"]) == 1
    assert page["next_cursor"]
    detail = client.get(f"{API}/customers/{anna.pk}", headers=reader)
    assert detail.status_code == 200
    assert detail.json()["company"] == "Verdi Srl"
    assert detail.json()["email"] == "anna@example.com"


def test_shipments_list_filters(client: HttpsClient, tenant: LocalTenant, reader: dict[str, str]) -> None:
    """GET /shipments filters by order, carrier and shipped-since."""
    first = store(tenant, order_payload("S-1")).order
    second = store(tenant, order_payload("S-2")).order
    early = do_add_shipment(first, carrier="BRT", tracking_number="T-1",
                            shipped_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC), actor="test")
    late = do_add_shipment(second, carrier="DHL", tracking_number="T-2",
                           shipped_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC), actor="test")
    assert _ids(client, "shipments", reader) == [str(early.pk), str(late.pk)]
    assert _ids(client, "shipments", reader, order_id=str(second.pk)) == [str(late.pk)]
    assert _ids(client, "shipments", reader, carrier="BRT") == [str(early.pk)]
    assert _ids(client, "shipments", reader, shipped_since="2024-06-01T00:00:00Z") == [str(late.pk)]


def test_order_statuses_list_and_map(client: HttpsClient, tenant: LocalTenant) -> None:
    """GET /order-statuses lists the map; PUT moves the orders with that status at once."""
    order = store(tenant, order_payload("M-1")).order
    store(tenant, order_payload("M-2", origin_node_id=ERP_NODE))
    headers = make_token(tenant, "sales:write")
    listed = client.get(f"{API}/order-statuses", headers=headers).json()["items"]
    assert [(item["code"], item["normalized"]) for item in listed] == [("wc-processing", "processing")] * 2
    assert len(_ids(client, "order-statuses", headers, origin_node_id=str(ERP_NODE))) == 1
    response = client.put(f"{API}/order-statuses/{order.status_id}", {"normalized": "on_hold"},
                          content_type="application/json", headers=headers)
    assert response.status_code == 200, response.content
    assert response.json()["normalized"] == "on_hold"
    assert response.json()["orders_moved"] == 1
    assert Order.objects.for_tenant(tenant).get(pk=order.pk).normalized_status == "on_hold"
    assert OrderStatus.objects.for_tenant(tenant).filter(normalized="on_hold").count() == 1
    assert _ids(client, "order-statuses", headers, normalized="on_hold") == [str(order.status_id)]
    repeat = client.put(f"{API}/order-statuses/{order.status_id}", {"normalized": "on_hold"},
                        content_type="application/json", headers=headers)
    assert repeat.json()["orders_moved"] == 0


def test_openapi_documents_sales_routes(client: HttpsClient) -> None:
    """Every sales operation has a summary and declares its error responses; amounts are strings."""
    doc = client.get(f"{API}/openapi.json").json()
    operations = [(path, method, op) for path, ops in doc["paths"].items()
                  if path.startswith((f"{API}/orders", f"{API}/customers", f"{API}/shipments", f"{API}/order-statuses"))
                  for method, op in ops.items()]
    assert len(operations) >= 11
    for path, method, op in operations:
        assert op.get("summary"), (method, path)
        assert {"401", "403", "422"} <= set(op["responses"]), (method, path)
        if "{" in path:
            assert "404" in op["responses"], (method, path)
    assert doc["components"]["schemas"]["OrderOut"]["properties"]["total"]["type"] == "string"
    assert "additionalProperties" in doc["components"]["schemas"]["OrderIn"]
