"""Helpers for the sales API tests: tokens, JSON order bodies and a snapshot of every sales row."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from bindery.control.models import LocalTenant
from bindery.sales.models import (
    Address,
    Customer,
    Order,
    OrderRow,
    OrderStatus,
    PaymentMethod,
    Shipment,
    ShippingMethod,
)
from bindery.security.actions import do_create_api_token
from tests.sales.factories import order_payload

API = "/api/v1"
SALES_PREFIXES = (f"{API}/orders", f"{API}/customers", f"{API}/shipments", f"{API}/order-statuses")
SALES_MODELS = (Customer, Order, OrderRow, Address, Shipment, OrderStatus, PaymentMethod, ShippingMethod)


def make_token(tenant: LocalTenant, *scopes: str) -> dict[str, str]:
    """Return request headers carrying a new token of the tenant with these scopes."""
    _, plaintext = do_create_api_token(tenant, "test", list(scopes), actor="test")
    return {"token": plaintext}


def to_json(value: Any) -> Any:
    """Turn a payload dataclass into what a client would send: strings for decimals and times."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {spec.name: to_json(getattr(value, spec.name)) for spec in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [to_json(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def order_body(number: str = "1001", **overrides: Any) -> dict[str, Any]:
    """Return a complete, consistent order body (the sales factories' order, as JSON)."""
    return to_json(order_payload(number, **overrides))


def small_order_body(number: str, **overrides: Any) -> dict[str, Any]:
    """Return a minimal valid order body: no rows, customer or addresses (fast to store)."""
    body = {"origin_node_id": "0190f3a0-0000-7000-8000-000000000001", "channel_order_number": number,
            "created_on_channel": "2025-01-15T10:00:00+00:00", "currency": "EUR"}
    body.update(overrides)
    return body


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Return every stored sales row of every tenant (compared before and after a request)."""
    return {model.__name__: list(model.objects.unscoped().order_by("pk").values())  # type: ignore[attr-defined]
            for model in SALES_MODELS}


def tenant_snapshot(tenant: LocalTenant) -> dict[str, list[dict[str, Any]]]:
    """Return every stored sales row of one tenant."""
    return {model.__name__: list(model.objects.for_tenant(tenant).order_by("pk").values())  # type: ignore[attr-defined]
            for model in SALES_MODELS}


def sales_routes() -> list[tuple[str, str]]:
    """Return (METHOD, path) of every sales operation in the OpenAPI document, sorted."""
    from bindery.api.main import api

    paths = api.get_openapi_schema(path_prefix=f"{API}/")["paths"]
    return sorted((method.upper(), path) for path, operations in paths.items()
                  if path.startswith(SALES_PREFIXES) for method in operations)
