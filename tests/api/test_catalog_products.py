"""Catalog API: products, stock and prices through the real URL configuration."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.utils import timezone

from bindery.catalog.actions import (
    do_bulk_upsert_products,
    do_create_price_list,
    do_create_warehouse,
    do_upsert_product,
)
from bindery.catalog.models import Price, Product, StockLevel
from bindery.catalog.payloads import ProductData, StockData
from bindery.control.models import LocalTenant
from bindery.security.actions import do_create_api_token
from tests.conftest import HttpsClient

pytestmark = pytest.mark.django_db(databases="__all__")

API = "/api/v1"


def call(client: HttpsClient, method: str, path: str, token: str | None, body: Any = None,
         **query: Any) -> Any:
    headers = {"token": token} if token else {}
    if method in {"get", "delete"}:
        return getattr(client, method)(API + path, query, headers=headers)
    return getattr(client, method)(API + path, json.dumps(body), content_type="application/json", headers=headers)


@pytest.fixture
def writer(tenant: LocalTenant) -> str:
    do_create_warehouse(tenant, "main", actor="test")
    do_create_warehouse(tenant, "north", actor="test")
    do_create_price_list(tenant, "retail", "EUR", actor="test")
    return do_create_api_token(tenant, "erp", ["catalog:write"], actor="test")[1]


@pytest.fixture
def reader(tenant: LocalTenant) -> str:
    return do_create_api_token(tenant, "shop", ["catalog:read"], actor="test")[1]


FULL = {
    "sku": "SHIRT", "name": "Shirt", "language": "en", "weight": "1.25", "tags": ["summer"],
    "prices": [{"price_list": "retail", "net": "10.1234", "vat_rate": 22}],
    "stock": [{"warehouse": "main", "quantity": 5}, {"warehouse": "north", "quantity": "-1.5"}],
    "categories": ["Clothes|Shirts"],
    "attributes": [{"attribute": "material", "value": "cotton"}],
    "images": [{"url": "https://img.example/shirt.jpg"}],
    "variants": [{"sku": "SHIRT-S", "attributes": [{"attribute": "size", "value": "S", "kind": "variant"}],
                  "stock": [{"warehouse": "main", "quantity": 2}]}],
}


def test_post_creates_then_reports_unchanged_and_updated(client: HttpsClient, writer: str) -> None:
    """POST /products creates (201), then the same body is unchanged (200) and a change is updated (200)."""
    created = call(client, "post", "/products", writer, FULL)
    assert created.status_code == 201, created.content
    assert created.json()["outcome"] == "created"
    again = call(client, "post", "/products", writer, FULL)
    assert (again.status_code, again.json()["outcome"]) == (200, "unchanged")
    changed = call(client, "post", "/products", writer, {"sku": "SHIRT", "name": "Better shirt"})
    assert (changed.status_code, changed.json()["outcome"]) == (200, "updated")
    assert changed.json()["product"]["name"] == "Better shirt"
    assert changed.json()["product"]["id"] == created.json()["product"]["id"]


def test_get_product_returns_every_group_with_exact_decimals(client: HttpsClient, writer: str,
                                                            reader: str) -> None:
    """GET /products/{id} has variants, prices, stock per warehouse, categories, attributes and images."""
    product_id = call(client, "post", "/products", writer, FULL).json()["product"]["id"]
    body = call(client, "get", f"/products/{product_id}", reader).json()
    assert body["sku"] == "SHIRT"
    assert body["weight"] == "1.2500"
    assert body["tags"] == ["summer"]
    assert body["prices"][0] | {"modified_at": None} == body["prices"][0] | {
        "price_list": "retail", "currency": "EUR", "net": "10.1234", "gross": "12.3505", "vat_rate": "22.0000",
        "min_quantity": "1.0000", "modified_at": None}
    assert [(s["warehouse"], s["quantity"]) for s in body["stock"]] == [("main", "5.0000"), ("north", "-1.5000")]
    assert body["categories"] == ["Clothes|Shirts"]
    assert body["attributes"] == [{"attribute": "material", "value": "cotton", "kind": "descriptive"}]
    assert body["images"][0]["url"] == "https://img.example/shirt.jpg"
    [variant] = body["variants"]
    assert variant["sku"] == "SHIRT-S"
    assert variant["parent_id"] == product_id
    assert variant["stock"][0]["quantity"] == "2.0000"
    assert variant["attributes"] == [{"attribute": "size", "value": "S", "kind": "variant"}]


def test_product_stock_and_prices_routes(client: HttpsClient, writer: str, reader: str) -> None:
    """GET /products/{id}/stock and /prices list the product's own rows."""
    product_id = call(client, "post", "/products", writer, FULL).json()["product"]["id"]
    stock = call(client, "get", f"/products/{product_id}/stock", reader)
    assert stock.status_code == 200
    assert [(s["warehouse"], s["quantity"]) for s in stock.json()] == [("main", "5.0000"), ("north", "-1.5000")]
    prices = call(client, "get", f"/products/{product_id}/prices", reader)
    assert [(p["price_list"], p["net"]) for p in prices.json()] == [("retail", "10.1234")]


def test_put_updates_and_refuses_another_sku(client: HttpsClient, writer: str, tenant: LocalTenant) -> None:
    """PUT /products/{id} updates given fields only; a different SKU in the body is a 422 on `sku`."""
    product_id = call(client, "post", "/products", writer, FULL).json()["product"]["id"]
    response = call(client, "put", f"/products/{product_id}", writer, {"name": "Renamed", "sku": "SHIRT"})
    assert response.status_code == 200, response.content
    assert response.json()["outcome"] == "updated"
    assert response.json()["product"]["categories"] == ["Clothes|Shirts"]  # absent group left as is
    refused = call(client, "put", f"/products/{product_id}", writer, {"sku": "OTHER", "name": "x"})
    assert refused.status_code == 422
    assert refused.json()["field"] == "sku"
    assert Product.objects.for_tenant(tenant).get(pk=product_id).name == "Renamed"
    assert not Product.objects.for_tenant(tenant).filter(sku="OTHER").exists()


def test_delete_is_logical_and_hides_from_default_list(client: HttpsClient, writer: str, reader: str) -> None:
    """DELETE /products/{id} answers 204; the product and its variants move to the deleted=true list."""
    product_id = call(client, "post", "/products", writer, FULL).json()["product"]["id"]
    assert call(client, "delete", f"/products/{product_id}", writer).status_code == 204
    assert call(client, "get", "/products", reader).json()["items"] == []
    deleted = call(client, "get", "/products", reader, deleted="true").json()["items"]
    assert {p["sku"] for p in deleted} == {"SHIRT", "SHIRT-S"}
    assert call(client, "get", f"/products/{product_id}", reader).json()["deleted"] is True


def test_list_filters(client: HttpsClient, writer: str, reader: str, tenant: LocalTenant) -> None:
    """sku, sku_prefix, q, parent (id or none) and category (with subcategories) narrow the list."""
    product_id = call(client, "post", "/products", writer, FULL).json()["product"]["id"]
    call(client, "post", "/products", writer, {"sku": "MUG", "name": "Coffee mug", "categories": ["Kitchen"]})

    def skus(**query: Any) -> set[str]:
        response = call(client, "get", "/products", reader, **query)
        assert response.status_code == 200, response.content
        return {p["sku"] for p in response.json()["items"]}

    assert skus() == {"SHIRT", "SHIRT-S", "MUG"}
    assert skus(sku="MUG") == {"MUG"}
    assert skus(sku_prefix="SHIRT") == {"SHIRT", "SHIRT-S"}
    assert skus(q="coffee") == {"MUG"}
    assert skus(parent="none") == {"SHIRT", "MUG"}
    assert skus(parent=product_id) == {"SHIRT-S"}
    assert skus(category="Clothes") == {"SHIRT"}
    assert skus(category="Clothes|Shirts") == {"SHIRT"}
    assert skus(category="Cloth") == set()


def test_pagination_walks_250_products_without_gaps(client: HttpsClient, tenant: LocalTenant, reader: str) -> None:
    """Pages of 100 over 250 products return each exactly once, then no cursor."""
    do_bulk_upsert_products(tenant, [ProductData(sku=f"P{i:03}") for i in range(250)], actor="test")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        body = call(client, "get", "/products", reader, **query).json()
        seen.extend(p["sku"] for p in body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == [f"P{i:03}" for i in range(250)]
    assert len(seen) == len(set(seen))


def test_modified_since_returns_only_changed_products(client: HttpsClient, tenant: LocalTenant, reader: str) -> None:
    """The delta query returns products changed at or after the instant, a stock change included."""
    do_create_warehouse(tenant, "main", actor="test")
    do_bulk_upsert_products(tenant, [ProductData(sku=f"P{i}") for i in range(5)], actor="test")
    time.sleep(0.01)
    since = timezone.now()
    do_upsert_product(tenant, ProductData(sku="P3", stock=[StockData("main", 7)]), actor="test")
    do_upsert_product(tenant, ProductData(sku="NEW"), actor="test")
    response = call(client, "get", "/products", reader, modified_since=since.isoformat())
    assert {p["sku"] for p in response.json()["items"]} == {"P3", "NEW"}
    later = call(client, "get", "/products", reader, modified_since=timezone.now().isoformat())
    assert later.json()["items"] == []


def test_bulk_products_gives_one_result_per_item(client: HttpsClient, writer: str, tenant: LocalTenant) -> None:
    """POST /products/bulk: 200 with per-item outcomes; refused items (duplicated SKU, bad value) write nothing."""
    call(client, "post", "/products", writer, {"sku": "OLD", "name": "Old"})
    items = [
        {"sku": "A", "name": "A"},
        {"sku": "OLD", "name": "Old"},
        {"sku": "OLD", "name": "Changed"},  # a SKU twice in one payload: both refused
        {"sku": "NEG", "quantity_arriving": -1},
        {"sku": "WH", "stock": [{"warehouse": "nowhere", "quantity": 1}]},
        {"sku": "B", "prices": [{"price_list": "retail", "gross": "9.99"}]},
    ]
    response = call(client, "post", "/products/bulk", writer, {"items": items})
    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["outcome"] for r in body["results"]] == ["created", "error", "error", "error", "error", "created"]
    assert [r.get("code") for r in body["results"]] == [
        None, "duplicate_sku", "duplicate_sku", "negative_value", "unknown_warehouse", None]
    assert body["results"][3]["field"] == "quantity_arriving"
    assert body["results"][4]["field"] == "stock[0].warehouse"
    assert body["counts"] == {"created": 2, "updated": 0, "unchanged": 0, "error": 4}
    products = Product.objects.for_tenant(tenant)
    assert set(products.values_list("sku", flat=True)) == {"OLD", "A", "B"}
    assert products.get(sku="OLD").name == "Old"


def test_stock_bulk_groups_rows_per_sku(client: HttpsClient, writer: str, tenant: LocalTenant) -> None:
    """POST /stock/bulk sets several warehouses per SKU; unknown warehouses and repeated pairs are refused."""
    rows = [
        {"sku": "A", "warehouse": "main", "quantity": 3},
        {"sku": "A", "warehouse": "north", "quantity": "-2"},
        {"sku": "B", "warehouse": "nowhere", "quantity": 1},
        {"sku": "C", "warehouse": "main", "quantity": 1},
        {"sku": "C", "warehouse": "main", "quantity": 2},
    ]
    response = call(client, "post", "/stock/bulk", writer, {"items": rows})
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["outcome"] for r in results] == ["created", "created", "error", "error", "error"]
    assert (results[2]["code"], results[2]["field"]) == ("unknown_warehouse", "warehouse")
    assert results[3]["code"] == results[4]["code"] == "duplicate_key"
    levels = {(s.product.sku, s.warehouse.key): str(s.quantity)
              for s in StockLevel.objects.for_tenant(tenant).select_related("product", "warehouse")}
    assert levels == {("A", "main"): "3.0000", ("A", "north"): "-2.0000"}
    assert set(Product.objects.for_tenant(tenant).values_list("sku", flat=True)) == {"A"}
    again = call(client, "post", "/stock/bulk", writer, {"items": rows[:2]}).json()["results"]
    assert [r["outcome"] for r in again] == ["unchanged", "unchanged"]


def test_prices_bulk_sets_tiers_and_refuses_bad_rows(client: HttpsClient, writer: str, tenant: LocalTenant) -> None:
    """POST /prices/bulk sets tiers exactly; a negative price or unknown list refuses only its row."""
    rows = [
        {"sku": "A", "price_list": "retail", "net": "0.1", "vat_rate": "22"},
        {"sku": "A", "price_list": "retail", "net": 0.09, "vat_rate": 22, "min_quantity": 10},
        {"sku": "B", "price_list": "retail", "net": -1},
        {"sku": "C", "price_list": "wholesale", "net": 1},
        {"sku": "D", "price_list": "retail"},
    ]
    response = call(client, "post", "/prices/bulk", writer, {"items": rows})
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [(r["outcome"], r.get("code"), r.get("field")) for r in results] == [
        ("created", None, None), ("created", None, None), ("error", "negative_value", "net"),
        ("error", "unknown_price_list", "price_list"), ("error", "required", "net")]
    prices = sorted((str(p.min_quantity), str(p.net), str(p.gross)) for p in Price.objects.for_tenant(tenant))
    assert prices == [("1.0000", "0.1000", "0.1220"), ("10.0000", "0.0900", "0.1098")]
    assert set(Product.objects.for_tenant(tenant).values_list("sku", flat=True)) == {"A"}


def test_read_token_cannot_write_and_no_token_is_401(client: HttpsClient, reader: str, tenant: LocalTenant) -> None:
    """A catalog:read token gets 403 on writes and nothing is written; no token is 401."""
    response = call(client, "post", "/products", reader, {"sku": "X"})
    assert (response.status_code, response.json()["code"]) == (403, "forbidden_scope")
    assert call(client, "get", "/products", reader).status_code == 200
    assert call(client, "get", "/products", None).status_code == 401
    assert not Product.objects.for_tenant(tenant).exists()
