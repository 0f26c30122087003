"""Tenant isolation and scopes, generated over every catalog route in the OpenAPI document.

A new catalog route is picked up automatically: path routes are probed with the other tenant's
ids, list routes with the other tenant's filter values, and collection writes need an entry in
``WRITE_BODIES`` (the suite fails until one is added).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bindery.api.main import api
from bindery.catalog.actions import do_create_category, do_create_price_list, do_create_warehouse, do_upsert_product
from bindery.catalog.models import (
    Category,
    Price,
    PriceList,
    Product,
    ProductAttributeValue,
    ProductCategory,
    ProductImage,
    StockLevel,
    Warehouse,
)
from bindery.catalog.payloads import AttributeValueData, ImageData, PriceData, ProductData, StockData
from bindery.control.models import LocalTenant
from bindery.security.actions import do_create_api_token
from tests.conftest import HttpsClient

pytestmark = pytest.mark.django_db(databases="__all__")

API = "/api/v1"
B_SKU = "GLOBEX-SECRET"
B_NAME = "Globex secret product"
B_CATEGORY = "Secret|Stuff"


def _catalog_routes() -> list[tuple[str, str]]:
    schema = api.get_openapi_schema(path_prefix="")
    routes = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if any(tag.startswith("catalog") for tag in operation.get("tags", ())):
                routes.append((method, path))
    return sorted(routes)


ROUTES = _catalog_routes()
ROUTE_IDS = [f"{method.upper()} {path}" for method, path in ROUTES]

WRITE_BODIES: dict[str, Any] = {
    "/products": {"sku": B_SKU, "name": "A's own"},
    "/products/bulk": {"items": [{"sku": B_SKU, "name": "A's own"}, {"sku": f"{B_SKU}-0", "name": "A's"}]},
    "/stock/bulk": {"items": [{"sku": B_SKU, "warehouse": "main", "quantity": 1}]},
    "/prices/bulk": {"items": [{"sku": B_SKU, "price_list": "retail", "net": "1"}]},
    "/categories": {"path_key": B_CATEGORY},
    "/warehouses": {"key": "globex-only"},
    "/price-lists": {"name": "globex-only", "currency": "USD"},
}


def _snapshot(tenant: LocalTenant) -> dict[str, list[dict[str, Any]]]:
    models = [Product, Price, StockLevel, Category, Warehouse, PriceList, ProductCategory, ProductImage,
              ProductAttributeValue]
    return {model.__name__: sorted(model.objects.for_tenant(tenant).values(), key=lambda row: str(row["id"]))
            for model in models}


@pytest.fixture
def b_data(other_tenant: LocalTenant) -> dict[str, Any]:
    """The other tenant's catalog: every kind of row the routes can reach."""
    do_create_warehouse(other_tenant, "main", actor="test")
    do_create_warehouse(other_tenant, "globex-only", actor="test")
    do_create_price_list(other_tenant, "retail", "EUR", actor="test")
    do_create_price_list(other_tenant, "globex-only", "EUR", actor="test")
    do_create_category(other_tenant, B_CATEGORY, actor="test")
    result = do_upsert_product(other_tenant, ProductData(
        sku=B_SKU, name=B_NAME, categories=[B_CATEGORY], prices=[PriceData("retail", net=5)],
        stock=[StockData("main", 9)], attributes=[AttributeValueData("colour", "red")],
        images=[ImageData("https://img.example/secret.jpg")],
        variants=[ProductData(sku=f"{B_SKU}-0", stock=[StockData("main", 1)])]), actor="test")
    return {"product_id": str(result.product_id), "ids": {str(row["id"]) for rows in _snapshot(other_tenant).values()
                                                           for row in rows}}


@pytest.fixture
def a_token(tenant: LocalTenant) -> str:
    do_create_warehouse(tenant, "main", actor="test")
    do_create_price_list(tenant, "retail", "EUR", actor="test")
    return do_create_api_token(tenant, "all", ["catalog:write"], actor="test")[1]


def _request(client: HttpsClient, method: str, path: str, token: str | None, body: Any = None,
             query: dict[str, Any] | None = None) -> Any:
    headers = {"token": token} if token else {}
    if method in {"get", "delete"}:
        return getattr(client, method)(API + path, query or {}, headers=headers)
    return getattr(client, method)(API + path, json.dumps(body if body is not None else {}),
                                   content_type="application/json", headers=headers)


def _body_for(method: str, path: str) -> Any:
    if "{" in path or method in {"get", "delete"}:
        return {}
    if path not in WRITE_BODIES:
        pytest.fail(f"add a body for {method.upper()} {path} to WRITE_BODIES so isolation covers it")
    return WRITE_BODIES[path]


def test_catalog_routes_are_found() -> None:
    """The generated suite sees the catalog routes (a broken collection would silently test nothing)."""
    assert ("get", "/products/{id}") in ROUTES
    assert ("post", "/stock/bulk") in ROUTES
    assert len(ROUTES) >= 14


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=ROUTE_IDS)
def test_other_tenants_objects_are_invisible(client: HttpsClient, method: str, path: str, b_data: dict[str, Any],
                                            a_token: str, tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    """Tenant A's token never reads, lists, filters, changes or deletes tenant B's rows."""
    before = _snapshot(other_tenant)
    if "{id}" in path:
        concrete = path.replace("{id}", b_data["product_id"])
        response = _request(client, method, concrete, a_token, _body_for(method, path))
        assert response.status_code == 404, response.content
        assert response.json()["code"] == "not_found"
    elif method == "get":
        operation = api.get_openapi_schema(path_prefix="")["paths"][path][method]
        params = {p["name"] for p in operation.get("parameters", ())}
        probes: list[dict[str, Any]] = [{}]
        filter_values = {"sku": B_SKU, "sku_prefix": "GLOBEX", "q": "secret", "parent": b_data["product_id"],
                         "category": B_CATEGORY, "deleted": "true"}
        probes += [{name: value} for name, value in filter_values.items() if name in params]
        for query in probes:
            response = _request(client, method, path, a_token, query=query)
            assert response.status_code == 200, (query, response.content)
            text = response.content.decode()
            assert not any(row_id in text for row_id in b_data["ids"]), query
            assert not any(secret in text for secret in (B_SKU, B_NAME, "globex-only")), query
            if query and query.keys() <= filter_values.keys():
                assert response.json()["items"] == [], query
    else:
        response = _request(client, method, path, a_token, _body_for(method, path))
        assert response.status_code in {200, 201}, response.content
        text = response.content.decode()
        assert not any(row_id in text for row_id in b_data["ids"])
        assert "error" not in {r.get("outcome") for r in response.json().get("results", ())}, text
    assert _snapshot(other_tenant) == before


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=ROUTE_IDS)
def test_scopes_are_enforced(client: HttpsClient, method: str, path: str, tenant: LocalTenant,
                            a_token: str) -> None:
    """No token is 401; a token without the catalog scope the route needs is 403 and writes nothing."""
    do_upsert_product(tenant, ProductData(sku="MINE"), actor="test")
    product_id = str(Product.objects.for_tenant(tenant).get(sku="MINE").pk)
    concrete = path.replace("{id}", product_id)
    before = _snapshot(tenant)
    body = _body_for(method, path)
    anonymous = _request(client, method, concrete, None, body)
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "unauthenticated"
    needed = "catalog:read" if method == "get" else "catalog:write"
    lacking = ["sales:write"] if needed == "catalog:read" else ["catalog:read", "sales:write"]
    token = do_create_api_token(tenant, "narrow", lacking, actor="test")[1]
    refused = _request(client, method, concrete, token, body)
    assert refused.status_code == 403, refused.content
    assert refused.json()["code"] == "forbidden_scope"
    assert _snapshot(tenant) == before
    granted = do_create_api_token(tenant, "exact", [needed], actor="test")[1]
    assert _request(client, method, concrete, granted, body).status_code < 400


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if "{id}" in r[1]],
                         ids=[i for i, r in zip(ROUTE_IDS, ROUTES, strict=True) if "{id}" in r[1]])
@pytest.mark.parametrize("bad_id", ["not-a-uuid", "0", "%00", "01a221d2-c633-79b4-b46b-61360cee9c25x", "é" * 40])
def test_malformed_ids_are_404_with_the_error_shape(client: HttpsClient, method: str, path: str, bad_id: str,
                                                    a_token: str) -> None:
    """A malformed id in the path never causes a 500: 404 with the error shape."""
    response = _request(client, method, path.replace("{id}", bad_id), a_token, {})
    assert response.status_code == 404, response.content
    assert response.json()["code"] == "not_found"


def test_operations_declare_summaries_and_error_responses() -> None:
    """Every catalog operation has a summary and documents its 4xx answers with the error shape."""
    schema = api.get_openapi_schema(path_prefix="")
    for method, path in ROUTES:
        operation = schema["paths"][path][method]
        assert operation.get("summary"), (method, path)
        for status in (401, 403):
            ref = operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorOut"), (method, path, status)
