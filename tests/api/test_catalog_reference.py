"""Catalog API: categories, warehouses and price lists."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bindery.catalog.actions import do_create_warehouse
from bindery.catalog.models import Category, Warehouse
from bindery.control.models import LocalTenant
from bindery.security.actions import do_create_api_token
from tests.conftest import HttpsClient

pytestmark = pytest.mark.django_db(databases="__all__")

API = "/api/v1"


@pytest.fixture
def headers(tenant: LocalTenant) -> dict[str, str]:
    return {"token": do_create_api_token(tenant, "erp", ["catalog:write"], actor="test")[1]}


def post(client: HttpsClient, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.post(API + path, json.dumps(body), content_type="application/json", headers=headers)


def test_create_category_creates_ancestors_and_refuses_a_duplicate(client: HttpsClient, headers: dict[str, str],
                                                                   tenant: LocalTenant) -> None:
    """POST /categories creates the path (ancestors too, 201); the same path again is 409."""
    response = post(client, "/categories", {"path_key": " Clothes | Shirts ", "selection_tags": ["x"]}, headers)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["path_key"], body["name"], body["selection_tags"]) == ("Clothes|Shirts", "Shirts", ["x"])
    parent = Category.objects.for_tenant(tenant).get(path_key="Clothes")
    assert body["parent_id"] == str(parent.pk)
    again = post(client, "/categories", {"path_key": "Clothes|Shirts"}, headers)
    assert (again.status_code, again.json()["code"], again.json()["field"]) == (409, "already_exists", "path_key")
    listed = client.get(f"{API}/categories", headers=headers).json()
    assert [c["path_key"] for c in listed["items"]] == ["Clothes", "Clothes|Shirts"]
    assert listed["next_cursor"] is None


def test_warehouses_create_list_and_duplicate(client: HttpsClient, headers: dict[str, str]) -> None:
    """POST /warehouses answers 201 (name defaults to the key); a repeated key is 409 on `key`."""
    response = post(client, "/warehouses", {"key": "main", "kind": "supplier"}, headers)
    assert response.status_code == 201, response.content
    assert (response.json()["name"], response.json()["kind"]) == ("main", "supplier")
    duplicate = post(client, "/warehouses", {"key": "main"}, headers)
    assert (duplicate.status_code, duplicate.json()["field"]) == (409, "key")
    assert [w["key"] for w in client.get(f"{API}/warehouses", headers=headers).json()["items"]] == ["main"]


def test_price_lists_validate_currency(client: HttpsClient, headers: dict[str, str]) -> None:
    """POST /price-lists stores an ISO 4217 currency and channel keys; a repeated name is 409."""
    response = post(client, "/price-lists", {"name": "retail", "currency": "CHF", "channel_keys": {"shop": "r1"}},
                    headers)
    assert response.status_code == 201, response.content
    assert (response.json()["currency"], response.json()["channel_keys"]) == ("CHF", {"shop": "r1"})
    assert post(client, "/price-lists", {"name": "retail", "currency": "EUR"}, headers).status_code == 409
    listed = client.get(f"{API}/price-lists", headers=headers).json()["items"]
    assert [(p["name"], p["currency"]) for p in listed] == [("retail", "CHF")]


def test_reference_lists_paginate(client: HttpsClient, headers: dict[str, str], tenant: LocalTenant) -> None:
    """Warehouse pages follow the cursor to the end without repeats."""
    for i in range(7):
        do_create_warehouse(tenant, f"w{i}", actor="test")
    keys: list[str] = []
    query: dict[str, Any] = {"limit": 3}
    while True:
        body = client.get(f"{API}/warehouses", query, headers=headers).json()
        keys += [w["key"] for w in body["items"]]
        if not body["next_cursor"]:
            break
        query["cursor"] = body["next_cursor"]
    assert keys == [f"w{i}" for i in range(7)]
    assert Warehouse.objects.for_tenant(tenant).count() == 7
