"""Tenant isolation, scopes and path ids, generated over every sales route in the OpenAPI document.

The routes are collected from the live OpenAPI document, so a new sales route is covered as soon
as it exists; a route the tables below cannot exercise (an unknown path or query parameter, a
write without an example body) fails loudly instead of being skipped.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from bindery.api.main import api
from bindery.api.pagination import encode_cursor
from bindery.control.models import LocalTenant
from bindery.sales.actions import do_add_shipment, do_mark_order
from bindery.sales.models import Customer, Order, OrderStatus, Shipment
from bindery.sales.payloads import CustomerPayload
from tests.api.sales_api import (
    API,
    SALES_MODELS,
    make_token,
    order_body,
    sales_routes,
    snapshot,
    tenant_snapshot,
)
from tests.conftest import HttpsClient
from tests.sales.factories import SHOP_NODE, order_payload, store

pytestmark = pytest.mark.django_db(databases="__all__")

ROUTES = sales_routes()
ROUTE_IDS = [f"{method} {path.removeprefix(API)}" for method, path in ROUTES]
WRITE_ROUTES = [(m, p) for m, p in ROUTES if m != "GET"]
ID_ROUTES = [(m, p) for m, p in ROUTES if "{" in p]

B_NUMBER = "GLOBEX-1001"
B_EMAIL = "buyer@globex.example"

# A valid body for each write route (checked against the caller's own object as a control).
EXAMPLE_BODIES: dict[tuple[str, str], Any] = {
    ("POST", f"{API}/orders"): order_body(B_NUMBER),
    ("POST", f"{API}/orders/bulk"): {"items": [order_body(B_NUMBER)]},
    ("POST", f"{API}/orders/{{order_id}}/mark"): {"marked": False},
    ("POST", f"{API}/orders/{{order_id}}/status"): {"code": "completed"},
    ("POST", f"{API}/orders/{{order_id}}/shipments"): {"carrier": "BRT", "tracking_number": "TRK-B",
                                                       "status": "delivered", "weight_kg": "9"},
    ("PUT", f"{API}/order-statuses/{{status_id}}"): {"normalized": "cancelled"},
}


@dataclass
class World:
    a: LocalTenant
    b: LocalTenant
    a_ids: dict[str, str]
    b_ids: dict[str, str]
    b_all_ids: set[str]


@pytest.fixture
def world(tenant: LocalTenant, other_tenant: LocalTenant) -> World:
    """Tenant A (acme) and B (globex) each with an order, customer, status and shipment."""
    ids = {}
    for owner, number, email in ((tenant, "ACME-1", "buyer@acme.example"), (other_tenant, B_NUMBER, B_EMAIL)):
        order = store(owner, order_payload(number, customer=CustomerPayload(email=email, name="Buyer"))).order
        do_mark_order(order, True, actor="test")
        shipment = do_add_shipment(order, carrier="BRT", tracking_number="TRK-B", actor="test")
        assert order.status_id is not None
        assert order.customer_id is not None
        ids[owner.pk] = {"order_id": str(order.pk), "customer_id": str(order.customer_id),
                         "status_id": str(order.status_id), "shipment_id": str(shipment.pk)}
    b_all = {str(pk) for model in SALES_MODELS
             for pk in model.objects.for_tenant(other_tenant).values_list("pk", flat=True)}  # type: ignore[attr-defined]
    return World(a=tenant, b=other_tenant, a_ids=ids[tenant.pk], b_ids=ids[other_tenant.pk], b_all_ids=b_all)


def _url(path: str, ids: dict[str, str]) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in ids:
            pytest.fail(f"no test object for path parameter {name!r}: add it to the isolation world")
        return ids[name]

    return re.sub(r"\{(\w+)\}", fill, path)


def _body(method: str, path: str) -> Any:
    if method == "GET":
        return None
    if (method, path) not in EXAMPLE_BODIES:
        pytest.fail(f"no example body for {method} {path}: add one to EXAMPLE_BODIES")
    return EXAMPLE_BODIES[(method, path)]


def _call(client: HttpsClient, method: str, url: str, body: Any, headers: dict[str, str],
          query: dict[str, Any] | None = None) -> Any:
    if method == "GET":
        return client.get(url, query or {}, headers=headers)
    return client.generic(method, url, json.dumps(body), content_type="application/json", headers=headers)


def _query_values(world: World) -> dict[str, Any]:
    """A value that would select tenant B's rows, for each query parameter of the list routes."""
    return {
        "status": "processing", "normalized": "processing", "channel_order_number": B_NUMBER,
        "origin_node_id": str(SHOP_NODE), "marked": "true", "customer_id": world.b_ids["customer_id"],
        "order_id": world.b_ids["order_id"], "modified_since": "2000-01-01T00:00:00Z",
        "created_on_channel_from": "2000-01-01T00:00:00Z", "created_on_channel_to": "2100-01-01T00:00:00Z",
        "shipped_since": "2000-01-01T00:00:00Z", "email": B_EMAIL, "q": "globex", "carrier": "BRT",
        "cursor": encode_cursor(uuid.UUID(int=0)), "limit": 500,
    }


def _query_params(method: str, path: str) -> list[str]:
    operation = api.get_openapi_schema(path_prefix=f"{API}/")["paths"][path][method.lower()]
    return [param["name"] for param in operation.get("parameters", []) if param["in"] == "query"]


def test_routes_were_collected() -> None:
    """The OpenAPI document lists the sales routes this suite is generated from."""
    assert ("GET", f"{API}/orders") in ROUTES
    assert ("PUT", f"{API}/order-statuses/{{status_id}}") in ROUTES
    assert len(ROUTES) >= 11


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=ROUTE_IDS)
def test_other_tenants_objects_stay_out_of_reach(client: HttpsClient, world: World, method: str, path: str) -> None:
    """A's write token never reads, lists, filters or changes B's objects through this route."""
    headers = make_token(world.a, "sales:write")
    body = _body(method, path)
    b_before = tenant_snapshot(world.b)

    if "{" in path:
        everything_before = snapshot()
        response = _call(client, method, _url(path, world.b_ids), body, headers)
        assert response.status_code == 404, response.content
        assert response.json()["code"].endswith("_not_found")
        assert snapshot() == everything_before  # nothing written, for either tenant
        control = _call(client, method, _url(path, world.a_ids), body, headers)
        assert control.status_code in (200, 201), control.content
    elif method == "GET":
        values = _query_values(world)
        params = _query_params(method, path)
        unknown = [name for name in params if name not in values]
        assert not unknown, f"no isolation value for query parameters {unknown}: add them to _query_values"
        unfiltered = client.get(path, headers=headers)
        assert unfiltered.status_code == 200, unfiltered.content
        assert unfiltered.json()["items"], "control: A's own rows are listed"
        for query in [{}, *({name: values[name]} for name in params)]:
            response = client.get(path, query, headers=headers)
            assert response.status_code == 200, (query, response.content)
            leaked = world.b_all_ids & set(re.findall(r"[0-9a-f-]{36}", response.content.decode()))
            assert not leaked, f"{query} leaked tenant B's rows"
    else:
        response = _call(client, method, path, body, headers)
        assert response.status_code in (200, 201), response.content
        assert Order.objects.for_tenant(world.a).filter(channel_order_number=B_NUMBER).exists()
    assert tenant_snapshot(world.b) == b_before


def test_bulk_with_other_tenants_numbers_creates_own_rows(client: HttpsClient, world: World) -> None:
    """A bulk naming B's channel order numbers creates A-owned orders and leaves B's untouched."""
    b_order = Order.objects.for_tenant(world.b).get(channel_order_number=B_NUMBER)
    b_before = tenant_snapshot(world.b)
    body = {"items": [order_body(B_NUMBER, notes="from A"), order_body("ACME-1", notes="from A")]}
    response = client.post(f"{API}/orders/bulk", body, content_type="application/json",
                           headers=make_token(world.a, "sales:write"))
    results = response.json()["results"]
    assert [r["outcome"] for r in results] == ["created", "updated"]
    created = Order.objects.for_tenant(world.a).get(pk=results[0]["order_id"])
    assert created.pk != b_order.pk
    assert created.tenant_id == world.a.pk
    assert tenant_snapshot(world.b) == b_before


def test_shipment_posted_to_other_tenants_order_writes_nothing(client: HttpsClient, world: World) -> None:
    """POST /orders/{B's id}/shipments is 404 and no shipment appears for anyone."""
    before = Shipment.objects.unscoped().count()
    response = client.post(f"{API}/orders/{world.b_ids['order_id']}/shipments",
                           {"carrier": "DHL", "tracking_number": "NEW-1"}, content_type="application/json",
                           headers=make_token(world.a, "sales:write"))
    assert response.status_code == 404
    assert response.json() == {"code": "order_not_found", "message": "order not found"}
    assert Shipment.objects.unscoped().count() == before


def test_other_tenants_customer_is_not_merged_by_email(client: HttpsClient, world: World) -> None:
    """An order of A with B's customer e-mail creates A's own customer; B's stays as it was."""
    b_customer = Customer.objects.for_tenant(world.b).get()
    body = order_body("ACME-2", customer={"email": B_EMAIL, "name": "Changed by A"})
    response = client.post(f"{API}/orders", body, content_type="application/json",
                           headers=make_token(world.a, "sales:write"))
    assert response.status_code == 201, response.content
    assert response.json()["customer_id"] != str(b_customer.pk)
    assert Customer.objects.for_tenant(world.b).get().name == b_customer.name


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=ROUTE_IDS)
def test_no_token_is_401(client: HttpsClient, world: World, method: str, path: str) -> None:
    """Every sales route refuses a request without a token, with the error shape."""
    response = _call(client, method, _url(path, world.a_ids), _body(method, path), {})
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


@pytest.mark.parametrize(("method", "path"), WRITE_ROUTES, ids=[f"{m} {p.removeprefix(API)}" for m, p in WRITE_ROUTES])
def test_read_token_cannot_write(client: HttpsClient, world: World, method: str, path: str) -> None:
    """A sales:read token gets 403 on every write route, before its body is even validated."""
    headers = make_token(world.a, "sales:read")
    before = snapshot()
    response = _call(client, method, _url(path, world.a_ids), _body(method, path), headers)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_scope"
    assert _call(client, method, _url(path, world.a_ids), {"bogus": 1}, headers).status_code == 403
    assert snapshot() == before


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=ROUTE_IDS)
def test_catalog_token_cannot_use_sales(client: HttpsClient, world: World, method: str, path: str) -> None:
    """A token with only catalog scopes gets 403 on every sales route."""
    headers = make_token(world.a, "catalog:write")
    response = _call(client, method, _url(path, world.a_ids), _body(method, path), headers)
    assert response.status_code == 403
    assert "sales:" in response.json()["message"]


@pytest.mark.parametrize(("method", "path"), ID_ROUTES, ids=[f"{m} {p.removeprefix(API)}" for m, p in ID_ROUTES])
@pytest.mark.parametrize("bad_id", ["not-a-uuid", "1", "%00", "0190f3a0-0000-7000-8000-00000000000Z", "x" * 300])
def test_malformed_path_ids_are_422(client: HttpsClient, world: World, method: str, path: str, bad_id: str) -> None:
    """A malformed id in the path is a 422 naming the parameter, never a 500."""
    headers = make_token(world.a, "sales:write")
    url = re.sub(r"\{\w+\}", bad_id, path)
    response = _call(client, method, url, _body(method, path), headers)
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert body["field"] in {"order_id", "customer_id", "status_id", "shipment_id"}


@pytest.mark.parametrize(("method", "path"), ID_ROUTES, ids=[f"{m} {p.removeprefix(API)}" for m, p in ID_ROUTES])
def test_unknown_ids_are_404(client: HttpsClient, world: World, method: str, path: str) -> None:
    """A well-formed id that does not exist is a 404 with the error shape."""
    unknown = {name: "0190f3a0-0000-7000-8000-0000000000ff" for name in world.a_ids}
    response = _call(client, method, _url(path, unknown), _body(method, path), make_token(world.a, "sales:write"))
    assert response.status_code == 404
    assert set(response.json()) == {"code", "message"}


def test_status_map_is_per_tenant(client: HttpsClient, world: World) -> None:
    """Mapping A's status moves A's orders only, even though B has the same code on the same node."""
    response = client.put(f"{API}/order-statuses/{world.a_ids['status_id']}", {"normalized": "on_hold"},
                          content_type="application/json", headers=make_token(world.a, "sales:write"))
    assert response.status_code == 200
    assert response.json()["orders_moved"] == 1
    assert OrderStatus.objects.for_tenant(world.b).get().normalized == "processing"
    assert Order.objects.for_tenant(world.b).get().normalized_status == "processing"
