"""Connector URLs (/api/connectors/<id>/...): each endpoint as a bindCommerce client calls it."""

from __future__ import annotations

import json
from decimal import Decimal

import defusedxml.ElementTree as ET
import pytest

from bindery.catalog.actions import do_create_price_list
from bindery.catalog.models import Price, Product, ProductCategory
from bindery.control.models import LocalTenant
from bindery.integration.models import ExportReference, Run, RunItemFailure, RunStatus, RunTrigger
from bindery.sales.models import Order, Shipment
from bindery.sales.payloads import StatusPayload
from tests.api.connector_calls import (
    BASE,
    api_node,
    connector,
    konga_body,
    konga_product,
    node_token,
)
from tests.conftest import HttpsClient
from tests.sales.factories import order_payload, store

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def retail(tenant: LocalTenant) -> None:
    """The price list the Konga bodies name."""
    do_create_price_list(tenant, "retail", "EUR", actor="test")


def _numbers(response: object) -> list[str]:
    root = ET.fromstring(response.content)  # type: ignore[attr-defined]
    return [d.findtext("General/bindCommerceNumber") or "" for d in root.findall("Document")]


def test_export_orders_returns_each_order_once_and_again_after_its_reference_is_deleted(
        client: HttpsClient, tenant: LocalTenant) -> None:
    node = api_node(tenant)
    export = connector(tenant, node, "export_orders")
    token = node_token(tenant, node, "sales:read")
    keys = sorted(store(tenant, order_payload(str(n))).order.hub_order_key for n in (1001, 1002, 1003))
    first = client.get(f"{BASE}/{export.pk}/orders", HTTP_TOKEN=token)
    assert first.status_code == 200
    assert first["Content-Type"] == "text/xml; charset=UTF-8"
    root = ET.fromstring(first.content)
    assert root.findtext("totalDocumentsFounded") == "3"
    assert sorted(_numbers(first)) == keys
    second = client.get(f"{BASE}/{export.pk}/orders", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert second.status_code == 200
    assert _numbers(second) == []
    assert ET.fromstring(second.content).findtext("totalDocumentsFounded") == "0"
    new = store(tenant, order_payload("1004")).order.hub_order_key
    assert _numbers(client.get(f"{BASE}/{export.pk}/orders", HTTP_TOKEN=token)) == [new]
    # deleting one reference exports that order again, with the same hub key
    ExportReference.objects.for_tenant(tenant).filter(hub_id=Order.objects.for_tenant(tenant).get(
        hub_order_key=keys[0]).pk).delete()
    assert _numbers(client.get(f"{BASE}/{export.pk}/orders", HTTP_TOKEN=token)) == [keys[0]]
    runs = Run.objects.for_tenant(tenant).filter(connector=export).order_by("queued_at")
    assert [r.trigger for r in runs] == [RunTrigger.CALL] * 4
    assert all(r.status == RunStatus.SUCCEEDED for r in runs)
    assert runs[0].read_count == 3


def test_export_orders_honours_the_order_filter_and_max_orders(client: HttpsClient, tenant: LocalTenant) -> None:
    node = api_node(tenant)
    export = connector(tenant, node, "export_orders", config={"max_orders": 2},
                       order_filter={"statuses": ["shipped"]})
    token = node_token(tenant, node, "sales:read")
    for n in range(5):
        code = "shipped" if n % 2 == 0 else "new"
        store(tenant, order_payload(str(2000 + n), status=StatusPayload(code=code)))
    shipped = Order.objects.for_tenant(tenant).filter(status__code="shipped").count()
    seen: list[str] = []
    for _ in range(3):
        page = _numbers(client.get(f"{BASE}/{export.pk}/orders", HTTP_TOKEN=token))
        assert len(page) <= 2
        seen += page
    assert len(seen) == len(set(seen)) == shipped


@pytest.mark.parametrize(("fmt", "content_type"), [("csv", "text/csv; charset=UTF-8"),
                                              ("json", "application/json; charset=UTF-8")])
def test_export_orders_in_csv_and_json_by_option(client: HttpsClient, tenant: LocalTenant, fmt: str,
                                                 content_type: str) -> None:
    node = api_node(tenant)
    export = connector(tenant, node, "export_orders", config={"format": fmt, "export_once": False})
    token = node_token(tenant, node, "sales:read")
    key = store(tenant).order.hub_order_key
    response = client.get(f"{BASE}/{export.pk}/orders", HTTP_TOKEN=token)
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    text = response.content.decode()
    assert key in text
    if fmt == "json":
        assert json.loads(text)["totalDocumentsFounded"] == 1
    # the query parameter overrides the connector's format
    assert client.get(f"{BASE}/{export.pk}/orders?format=xml", HTTP_TOKEN=token)["Content-Type"].startswith(
        "text/xml")
    bad = client.get(f"{BASE}/{export.pk}/orders?format=pdf", HTTP_TOKEN=token)
    assert bad.status_code == 400
    assert b"<errorCode>invalid</errorCode>" in bad.content


def test_import_products_stores_what_the_konga_client_meant(client: HttpsClient, tenant: LocalTenant,
                                                            retail: None) -> None:
    node = api_node(tenant)
    imports = connector(tenant, node, "import_products")
    token = node_token(tenant, node, "catalog:write")
    body = konga_body(konga_product("CAFÈ-1", title="Caffè \"Crema\" & Latte",
                                    description="<p>Select Drop Earrings — Union Square</p>", qty="3.000"))
    response = client.post(f"{BASE}/{imports.pk}/products", body, content_type="text/xml", HTTP_TOKEN=token)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["status"] == "success"
    assert answer["results"][0]["outcome"] == "created"
    product = Product.objects.for_tenant(tenant).get(sku="CAFÈ-1")
    assert product.name == 'Caffè "Crema" & Latte'
    assert product.description_html == "<p>Select Drop Earrings — Union Square</p>"
    assert product.quantity_available == Decimal(3)
    assert product.origin_node_id == node.pk
    run = Run.objects.for_tenant(tenant).get(connector=imports)
    assert run.status == RunStatus.SUCCEEDED
    assert run.created_count == 1


def test_import_products_latin1_body(client: HttpsClient, tenant: LocalTenant, retail: None) -> None:
    node = api_node(tenant)
    imports = connector(tenant, node, "import_products")
    token = node_token(tenant, node, "catalog:write")
    body = konga_body(konga_product("L-1", title="Mug", category="Cucina|Tazze e caffè")).decode().encode("latin-1")
    response = client.post(f"{BASE}/{imports.pk}/products", body, content_type="text/xml", HTTP_TOKEN=token)
    assert response.status_code == 200, response.content
    product = Product.objects.for_tenant(tenant).get(sku="L-1")
    links = ProductCategory.objects.for_tenant(tenant).filter(product=product).select_related("category")
    assert [link.category.path_key for link in links] == ["Cucina|Tazze e caffè"]


def test_variants_give_their_parent_the_sum_of_stock_and_the_lowest_price(client: HttpsClient,
                                                                          tenant: LocalTenant, retail: None) -> None:
    node = api_node(tenant)
    imports = connector(tenant, node, "import_products")
    token = node_token(tenant, node, "catalog:write")
    body = konga_body(konga_product("SHIRT", title="Shirt"),
                      konga_product("SHIRT-S", title="Shirt S", parent="SHIRT", qty="2", net="10", gross="12.2"),
                      konga_product("SHIRT-M", title="Shirt M", parent="SHIRT", qty="5", net="8", gross="9.76"),
                      konga_product("SOCK-S", title="Sock", parent="NOT-SENT", qty="1"))
    answer = client.post(f"{BASE}/{imports.pk}/products", body, content_type="text/xml", HTTP_TOKEN=token).json()
    outcomes = {r["sku"]: r["outcome"] for r in answer["results"]}
    assert outcomes == {"SHIRT": "created", "SHIRT-S": "created", "SHIRT-M": "created", "SOCK-S": "error"}
    parent = Product.objects.for_tenant(tenant).get(sku="SHIRT")
    assert parent.quantity_available == Decimal(7)
    assert Price.objects.for_tenant(tenant).get(product=parent).gross == Decimal("9.76")
    assert {v.sku for v in Product.objects.for_tenant(tenant).filter(parent=parent)} == {"SHIRT-S", "SHIRT-M"}


def test_delete_not_sent_marks_only_this_nodes_missing_products_deleted(client: HttpsClient,
                                                                        tenant: LocalTenant, retail: None) -> None:
    node = api_node(tenant)
    imports = connector(tenant, node, "import_products", config={"delete_not_sent": ["products"]})
    token = node_token(tenant, node, "catalog:write")
    other = api_node(tenant, "Other ERP")
    other_imports = connector(tenant, other, "import_products")
    other_token = node_token(tenant, other, "catalog:write")
    client.post(f"{BASE}/{other_imports.pk}/products", konga_body(konga_product("THEIRS")), content_type="text/xml",
                HTTP_TOKEN=other_token)
    client.post(f"{BASE}/{imports.pk}/products", konga_body(konga_product("A"), konga_product("B")),
                content_type="text/xml", HTTP_TOKEN=token)
    answer = client.post(f"{BASE}/{imports.pk}/products", konga_body(konga_product("A")), content_type="text/xml",
                         HTTP_TOKEN=token).json()
    assert answer["deleted"] == 1
    deleted = dict(Product.objects.for_tenant(tenant).values_list("sku", "deleted"))
    assert deleted == {"A": False, "B": True, "THEIRS": False}


def test_import_documents_answers_json_with_the_run_id(client: HttpsClient, tenant: LocalTenant) -> None:
    node = api_node(tenant)
    documents = connector(tenant, node, "import_documents")
    token = node_token(tenant, node, "sales:write")
    body = (b'<?xml version="1.0" encoding="UTF-8"?><Documents><Document><General><Number>INV-1</Number>'
            b"<Date>2026-11-29 10:00:00</Date></General><Rows><Row><Code>MUG-1</Code><Qty>2</Qty>"
            b"<PriceVatExcluded>5.00</PriceVatExcluded><Price>6.10</Price><VatRate>22</VatRate>"
            b"<TotalVatExcluded>10.00</TotalVatExcluded><TotalDiscounted>12.20</TotalDiscounted></Row></Rows>"
            b"<Amounts><Currency>EUR</Currency><TotalWithoutTax>10.00</TotalWithoutTax><VatAmount>2.20</VatAmount>"
            b"<Total>12.20</Total></Amounts></Document></Documents>")
    response = client.post(f"{BASE}/{documents.pk}/documents", body, content_type="text/xml", HTTP_TOKEN=token)
    answer = response.json()
    assert response.status_code == 200, answer
    assert answer["status"] == "success", answer
    assert answer["id_exec"] == str(Run.objects.for_tenant(tenant).get(connector=documents).pk)
    order = Order.objects.for_tenant(tenant).get(channel_order_number="INV-1")
    assert order.total == Decimal("12.20")
    assert answer["results"][0]["bindCommerceNumber"] == order.hub_order_key


def test_shipping_update_records_the_shipment(client: HttpsClient, tenant: LocalTenant) -> None:
    node = api_node(tenant, "Warehouse", technology="logistics")
    updates = connector(tenant, node, "shipping_update")
    token = node_token(tenant, node, "sales:write")
    key = store(tenant).order.hub_order_key
    body = json.dumps([{"OrderID": key, "TrackingCarrier": "UPS", "TrackingNumber": "1Z999",
                        "ShippedTime": "2026:11:29 10:30:00"},
                       {"OrderID": "nope", "TrackingCarrier": "UPS", "TrackingNumber": "1Z1",
                        "ShippedTime": "2026:11:29 10:30:00"}])
    response = client.post(f"{BASE}/{updates.pk}/shipments", body, content_type="application/json",
                           HTTP_TOKEN=token)
    assert response.status_code == 207
    assert [r["ok"] for r in response.json()["results"]] == [True, False]
    shipment = Shipment.objects.for_tenant(tenant).get()
    assert (shipment.carrier, shipment.tracking_number) == ("UPS", "1Z999")
    run = Run.objects.for_tenant(tenant).get(connector=updates)
    assert run.failed_count == 1
    assert RunItemFailure.objects.for_tenant(tenant).get(run=run).item == "nope"


def test_export_products_download(client: HttpsClient, tenant: LocalTenant, retail: None) -> None:
    node = api_node(tenant)
    imports = connector(tenant, node, "import_products")
    exports = connector(tenant, node, "export_products", config={"format": "csv"})
    client.post(f"{BASE}/{imports.pk}/products", konga_body(konga_product("P-1", title="Plate")),
                content_type="text/xml", HTTP_TOKEN=node_token(tenant, node, "catalog:write"))
    response = client.get(f"{BASE}/{exports.pk}/products", HTTP_TOKEN=node_token(tenant, node, "catalog:read"))
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    assert "P-1" in text
    assert "Plate" in text


def test_a_connector_serves_only_its_own_endpoint(client: HttpsClient, tenant: LocalTenant) -> None:
    node = api_node(tenant)
    export = connector(tenant, node, "export_orders")
    token = node_token(tenant, node, "*:*")
    response = client.post(f"{BASE}/{export.pk}/products", konga_body(konga_product("X")), content_type="text/xml",
                           HTTP_TOKEN=token)
    assert response.status_code == 404
    assert response.json()["error"] == "no_such_endpoint"
    assert not Product.objects.for_tenant(tenant).exists()


def test_a_second_call_while_one_runs_is_refused_busy(client: HttpsClient, tenant: LocalTenant) -> None:
    node = api_node(tenant)
    export = connector(tenant, node, "export_orders")
    token = node_token(tenant, node, "sales:read")
    Run.objects.create(tenant=tenant, connector=export, status=RunStatus.RUNNING, trigger=RunTrigger.CALL)
    response = client.get(f"{BASE}/{export.pk}/orders", HTTP_TOKEN=token)
    assert response.status_code == 409
    assert b"<errorCode>busy</errorCode>" in response.content


def test_the_openapi_document_lists_every_endpoint_with_its_authentication(client: HttpsClient, db: None) -> None:
    document = client.get(f"{BASE}/openapi.json").json()
    operations = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    assert operations == {"export_orders", "import_products", "import_documents", "shipping_update",
                          "export_products"}
    schemes = document["components"]["securitySchemes"]
    assert {s.get("scheme") or s.get("name") for s in schemes.values()} == {"token", "bearer", "basic"}
