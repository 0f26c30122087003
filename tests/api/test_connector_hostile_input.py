"""Hostile bodies on connector URLs: refused with a clear error, and the hub is left as it was."""

from __future__ import annotations

import json

import pytest

from bindery.catalog.actions import do_create_price_list
from bindery.catalog.models import Product
from bindery.control.models import LocalTenant
from bindery.sales.models import Order, Shipment
from tests.api.connector_calls import BASE, api_node, connector, konga_body, konga_product, node_token
from tests.conftest import HttpsClient
from tests.sales.factories import store

pytestmark = pytest.mark.django_db(databases="__all__")

BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                  b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
                  b"<bindCommerceProducts><Products><Product><Code>&lol3;</Code></Product></Products>"
                  b"</bindCommerceProducts>")
EXTERNAL_ENTITY = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                   b"<bindCommerceProducts><Products><Product><Code>&xxe;</Code></Product></Products>"
                   b"</bindCommerceProducts>")
DEEP = (b"<bindCommerceProducts><Products>" + b"<a>" * 5000 + b"</a>" * 5000
        + b"</Products></bindCommerceProducts>")
HOSTILE_XML = {"billion laughs": BILLION_LAUGHS, "external entity": EXTERNAL_ENTITY, "deep nesting": DEEP,
               "not xml": b"\x00\x01\x02 not xml at all", "truncated": konga_body(konga_product("T-1"))[:-40]}


@pytest.fixture
def urls(tenant: LocalTenant) -> dict[str, tuple[str, str]]:
    do_create_price_list(tenant, "retail", "EUR", actor="test")
    node = api_node(tenant)
    logistics = api_node(tenant, "Warehouse", technology="logistics")
    return {
        "products": (f"{BASE}/{connector(tenant, node, 'import_products').pk}/products",
                     node_token(tenant, node, "catalog:write", "sales:write")),
        "documents": (f"{BASE}/{connector(tenant, node, 'import_documents').pk}/documents",
                      node_token(tenant, node, "sales:write")),
        "shipments": (f"{BASE}/{connector(tenant, logistics, 'shipping_update').pk}/shipments",
                      node_token(tenant, logistics, "sales:write")),
    }


def _hub(tenant: LocalTenant) -> tuple[int, int, int]:
    return (Product.objects.for_tenant(tenant).count(), Order.objects.for_tenant(tenant).count(),
            Shipment.objects.for_tenant(tenant).count())


@pytest.mark.parametrize("name", sorted(HOSTILE_XML))
@pytest.mark.parametrize("endpoint", ["products", "documents"])
def test_hostile_xml_is_refused_and_changes_nothing(client: HttpsClient, tenant: LocalTenant,
                                                    urls: dict[str, tuple[str, str]], endpoint: str,
                                                    name: str) -> None:
    store(tenant)
    before = _hub(tenant)
    url, token = urls[endpoint]
    response = client.post(url, HOSTILE_XML[name], content_type="text/xml", HTTP_TOKEN=token)
    assert response.status_code in (400, 403), response.content  # 403: the firewall saw it first
    if response.status_code == 400:
        answer = response.json()
        assert answer["status"] == "error"
        assert answer["message"]
    assert b"root:" not in response.content  # /etc/passwd never comes back
    assert _hub(tenant) == before


def test_xml_errors_name_line_and_column(client: HttpsClient, tenant: LocalTenant,
                                         urls: dict[str, tuple[str, str]]) -> None:
    url, token = urls["products"]
    body = b'<?xml version="1.0"?>\n<bindCommerceProducts>\n  <Products>\n    <Product><Code>A</Cod></Product>'
    answer = client.post(url, body, content_type="text/xml", HTTP_TOKEN=token).json()
    assert "line 4" in answer["message"]
    assert "column" in answer["message"]


def test_a_100_mb_body_is_refused_before_it_is_read(client: HttpsClient, tenant: LocalTenant,
                                                    urls: dict[str, tuple[str, str]]) -> None:
    url, token = urls["products"]
    response = client.post(url, b"<" + b"A" * (100 * 1024 * 1024), content_type="text/xml", HTTP_TOKEN=token)
    assert response.status_code in (403, 413)
    assert _hub(tenant) == (0, 0, 0)


def test_invalid_utf8_documents_and_shipments_get_a_clear_error(client: HttpsClient, tenant: LocalTenant,
                                                                urls: dict[str, tuple[str, str]]) -> None:
    key = store(tenant).order.hub_order_key
    before = _hub(tenant)
    url, token = urls["shipments"]
    body = json.dumps([{"OrderID": key, "TrackingCarrier": "UPS", "TrackingNumber": "1Z",
                        "ShippedTime": "2026:11:29 10:00:00"}]).encode().replace(b"UPS", b"UP\xff")
    response = client.post(url, body, content_type="application/json", HTTP_TOKEN=token)
    assert response.status_code in (400, 403)
    if response.status_code == 400:
        assert "UTF-8" in response.json()["message"]
    url, token = urls["documents"]
    response = client.post(url, b'<?xml version="1.0" encoding="UTF-8"?><Documents><Document><General><Number>'
                           b"\xff\xfe</Number></General></Document></Documents>", content_type="text/xml",
                           HTTP_TOKEN=token)
    assert response.status_code in (400, 403)
    assert _hub(tenant) == before


@pytest.mark.parametrize("body", [b"{}", b'"text"', b"[1, 2]", b"[" * 5000 + b"]" * 5000, b"[{\"OrderID\": true}]"])
def test_malformed_shipping_updates(client: HttpsClient, tenant: LocalTenant, urls: dict[str, tuple[str, str]],
                                    body: bytes) -> None:
    url, token = urls["shipments"]
    response = client.post(url, body, content_type="application/json", HTTP_TOKEN=token)
    assert response.status_code in (207, 400, 403)
    assert response.json().get("status") == "error" or response.status_code == 403
    assert _hub(tenant) == (0, 0, 0)


def test_wrong_content_type_is_415(client: HttpsClient, urls: dict[str, tuple[str, str]]) -> None:
    url, token = urls["products"]
    response = client.post(url, b"a=b", content_type="application/x-www-form-urlencoded", HTTP_TOKEN=token)
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"
