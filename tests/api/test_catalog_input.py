"""Catalog API: malformed and refused input is a 4xx naming the field, and writes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bindery.catalog.actions import do_create_price_list, do_create_warehouse
from bindery.catalog.models import PriceList, Product, StockLevel
from bindery.control.models import LocalTenant
from bindery.security.actions import do_create_api_token
from tests.conftest import HttpsClient

pytestmark = pytest.mark.django_db(databases="__all__")

API = "/api/v1"


@pytest.fixture
def headers(tenant: LocalTenant) -> dict[str, str]:
    do_create_warehouse(tenant, "main", actor="test")
    do_create_price_list(tenant, "retail", "EUR", actor="test")
    return {"token": do_create_api_token(tenant, "erp", ["catalog:write"], actor="test")[1]}


def post(client: HttpsClient, path: str, body: Any, headers: dict[str, str]) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(API + path, data, content_type="application/json", headers=headers)


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/products", {"sku": 5}, "sku"),
    ("/products", {"sku": "A", "featured": "maybe"}, "featured"),
    ("/products", {"sku": "A", "weight": "heavy"}, "weight"),
    ("/products", {"sku": "A", "weight": "NaN"}, "weight"),
    ("/products", {"sku": "A", "prices": {"price_list": "retail"}}, "prices"),
    ("/products", {"sku": "A", "bogus": 1}, "bogus"),
    ("/products", {"sku": "A", "prices": [{"price_list": "retail", "net": 1, "nett": 2}]}, "prices.0.nett"),
    ("/products", {"sku": "A", "variants": [{"sku": "B", "variants": []}]}, "variants.0.variants"),
    ("/products", {"sku": "x" * 101}, "sku"),
    ("/products", {"sku": "A", "name": "n" * 256}, "name"),
    ("/products", {"sku": ""}, "sku"),
    ("/products", {"name": "no sku"}, "sku"),
    ("/products/bulk", {"items": {"sku": "A"}}, "items"),
    ("/products/bulk", {"items": []}, "items"),
    ("/products/bulk", [{"sku": "A"}], None),
    ("/stock/bulk", {"items": [{"sku": "A", "warehouse": "main", "quantity": "abc"}]}, "items.0.quantity"),
    ("/stock/bulk", {"items": [{"sku": "A", "warehouse": "main"}]}, "items.0.quantity"),
    ("/prices/bulk", {"items": [{"sku": "A", "price_list": "retail", "net": True}]}, "items.0.net"),
    ("/prices/bulk", {"items": [{"sku": "A", "price_list": "retail", "net": 1, "discount_applies": "x"}]},
     "items.0.discount_applies"),
    ("/warehouses", {"key": "w", "kind": "mine"}, "kind"),
    ("/price-lists", {"name": "p", "currency": "EURO"}, "currency"),
    ("/categories", {"path_key": "A", "colour": "red"}, "colour"),
])
def test_malformed_bodies_are_422_naming_the_field(client: HttpsClient, headers: dict[str, str], tenant: LocalTenant,
                                                   path: str, body: Any, field: str | None) -> None:
    """Wrong types, unknown fields, over-long text and missing fields: 422 with the field, nothing written."""
    response = post(client, path, body, headers)
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "invalid"
    if field is not None:
        assert response.json()["field"] == field
    assert not Product.objects.for_tenant(tenant).exists()


@pytest.mark.parametrize(("path", "body", "code", "field"), [
    ("/products", {"sku": "A", "quantity_arriving": -1}, "negative_value", "quantity_arriving"),
    ("/products", {"sku": "A", "weight": "-0.5"}, "negative_value", "weight"),
    ("/products", {"sku": "A", "prices": [{"price_list": "retail", "net": -1}]}, "negative_value", "prices[0].net"),
    ("/products", {"sku": "A", "stock": [{"warehouse": "nowhere", "quantity": 1}]}, "unknown_warehouse",
     "stock[0].warehouse"),
    ("/products", {"sku": "A", "weight_unit": "st"}, "invalid_choice", "weight_unit"),
    ("/products", {"sku": " A"}, "invalid_value", "sku"),
    ("/products", {"sku": "A", "weight": "1e20"}, "invalid_decimal", "weight"),
    ("/products", {"sku": "A", "variants": [{"sku": "A"}]}, "duplicate_sku", "variants[0].sku"),
    ("/products", {"sku": "A", "images": [{"url": "javascript:alert(1)"}]}, "invalid_value", "images[0].url"),
    ("/price-lists", {"name": "p", "currency": "XYZ"}, "unknown_currency", "currency"),
    ("/price-lists", {"name": "p", "currency": "eur"}, "unknown_currency", "currency"),
    ("/categories", {"path_key": "A||B"}, "invalid_value", "path_key"),
])
def test_refused_values_are_422_with_the_catalog_code(client: HttpsClient, headers: dict[str, str],
                                                      tenant: LocalTenant, path: str, body: Any, code: str,
                                                      field: str, settings: Any) -> None:
    """Values the catalog checks refuse: 422 with their code and field; nothing is written.

    The application firewall would refuse some first (a ``javascript:`` image URL); these are the
    catalog's own checks behind it, so the firewall only records here.
    """
    settings.BINDERY_WAF_MODE = "detect"
    response = post(client, path, body, headers)
    assert response.status_code == 422, response.content
    assert (response.json()["code"], response.json()["field"]) == (code, field)
    assert not Product.objects.for_tenant(tenant).exists()
    assert set(PriceList.objects.for_tenant(tenant).values_list("name", flat=True)) == {"retail"}


def test_invalid_utf8_and_invalid_json_are_400(client: HttpsClient, headers: dict[str, str]) -> None:
    """A body that is not UTF-8, or not JSON, is a 400 malformed_body."""
    for body in (b'{"sku": "\xff\xfe"}', b'{"sku": '):
        response = post(client, "/products", body, headers)
        assert response.status_code == 400, response.content
        assert response.json()["code"] == "malformed_body"


@pytest.mark.parametrize("megabytes", [11, 50])
def test_body_over_the_size_limit_is_413(client: HttpsClient, headers: dict[str, str], tenant: LocalTenant,
                                         megabytes: int) -> None:
    """Bodies over the 10 MB limit (11 MB, 50 MB) are refused with 413 before any item is written."""
    body = json.dumps({"items": [{"sku": f"S{i}", "name": "n" * 2000} for i in range(5000)]}).encode()
    response = post(client, "/products/bulk", body.ljust(megabytes * 1024 * 1024), headers)
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"
    assert not Product.objects.for_tenant(tenant).exists()


def test_too_many_bulk_items_is_422_on_items(client: HttpsClient, headers: dict[str, str],
                                             tenant: LocalTenant) -> None:
    """More than 5,000 items in one call is refused whole, naming `items`."""
    for path, item in (("/products/bulk", {"sku": "A"}), ("/stock/bulk", {"sku": "A", "warehouse": "main",
                                                                           "quantity": 1})):
        response = post(client, path, {"items": [item] * 5001}, headers)
        assert response.status_code == 422, response.content
        assert response.json()["field"] == "items"
    assert not Product.objects.for_tenant(tenant).exists()


def test_duplicated_skus_in_bulk_refuse_those_items_only(client: HttpsClient, headers: dict[str, str],
                                                        tenant: LocalTenant) -> None:
    """A SKU twice in one bulk refuses both items (field `sku`); the rest is written; stock is not touched."""
    items = [{"sku": "A", "stock": [{"warehouse": "main", "quantity": 1}]},
             {"sku": "A", "stock": [{"warehouse": "main", "quantity": 2}]}, {"sku": "B"}]
    response = post(client, "/products/bulk", {"items": items}, headers)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["outcome"], r.get("code"), r.get("field")) for r in results] == [
        ("error", "duplicate_sku", "sku"), ("error", "duplicate_sku", "sku"), ("created", None, None)]
    assert list(Product.objects.for_tenant(tenant).values_list("sku", flat=True)) == ["B"]
    assert not StockLevel.objects.for_tenant(tenant).exists()


@pytest.mark.parametrize(("query", "status", "field"), [
    ({"limit": 0}, 400, "limit"),
    ({"limit": 501}, 400, "limit"),
    ({"limit": "many"}, 422, "limit"),
    ({"cursor": "not-a-cursor"}, 400, "cursor"),
    ({"parent": "nope"}, 422, "parent"),
    ({"modified_since": "yesterday"}, 422, "modified_since"),
    ({"deleted": "perhaps"}, 422, "deleted"),
])
def test_bad_list_parameters_name_the_parameter(client: HttpsClient, headers: dict[str, str], query: dict[str, Any],
                                                status: int, field: str) -> None:
    """Bad limits, cursors, parent ids and dates are a 4xx naming the query parameter."""
    response = client.get(f"{API}/products", query, headers=headers)
    assert response.status_code == status, response.content
    assert response.json()["field"] == field
