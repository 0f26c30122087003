"""Valid order payloads for sales tests; override what a test is about."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bindery.control.models import LocalTenant
from bindery.sales.actions import UpsertResult, do_upsert_order
from bindery.sales.payloads import (
    AddressPayload,
    CodePayload,
    CustomerPayload,
    OrderPayload,
    OrderRowPayload,
    StatusPayload,
)

# Fixed once per session, so two payloads built in one test are equal.
RECENT = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
SHOP_NODE = uuid.UUID("0190f3a0-0000-7000-8000-000000000001")
ERP_NODE = uuid.UUID("0190f3a0-0000-7000-8000-000000000002")


def row(sku: str = "SKU-1", quantity: str = "2", unit_net: str = "10.00", vat_rate: str = "22", **overrides: Any
        ) -> OrderRowPayload:
    """Return a row whose totals agree with its quantity, unit price and VAT rate."""
    qty, net = Decimal(quantity), Decimal(unit_net)
    total_net = qty * net
    total_vat = (total_net * Decimal(vat_rate) / 100).quantize(Decimal("0.01"))
    values: dict[str, Any] = {
        "sku": sku, "barcode": "8001234567890", "description": f"Item {sku}", "quantity": qty,
        "unit_price_net": net, "unit_price_gross": (net * (1 + Decimal(vat_rate) / 100)).quantize(Decimal("0.01")),
        "vat_rate": Decimal(vat_rate), "total_net": total_net, "total_vat": total_vat,
        "total_gross": total_net + total_vat, "warehouse_key": "MAIN",
    }
    values.update(overrides)
    return OrderRowPayload(**values)


def order_payload(number: str = "1001", *, rows: tuple[OrderRowPayload, ...] | None = None,
                  shipping_net: str = "5.00", shipping_vat: str = "1.10", **overrides: Any) -> OrderPayload:
    """Return a complete, consistent order from the shop node; totals follow the rows."""
    rows = (row("SKU-1"), row("SKU-2", quantity="1", unit_net="7.50")) if rows is None else rows
    net = sum((r.total_net for r in rows), Decimal(0)) + Decimal(shipping_net)
    vat = sum((r.total_vat for r in rows), Decimal(0)) + Decimal(shipping_vat)
    values: dict[str, Any] = {
        "origin_node_id": SHOP_NODE,
        "channel_order_number": number,
        "created_on_channel": RECENT,
        "currency": "EUR",
        "status": StatusPayload(code="wc-processing", name="Processing"),
        "customer": CustomerPayload(email="Mario.Rossi@example.com", name="Mario", surname="Rossi", country="IT"),
        "billing_address": AddressPayload(name="Mario", surname="Rossi", address_line1="Via Roma 1",
                                          city="Milano", postal_code="20100", country="IT"),
        "delivery_address": AddressPayload(name="Mario", surname="Rossi", address_line1="Via Po 2",
                                           city="Torino", postal_code="10100", country="IT"),
        "payment_method": CodePayload(code="paypal", name="PayPal"),
        "shipping_method": CodePayload(code="flat_rate", name="Flat rate"),
        "payment_total": net + vat,
        "net_total": net,
        "vat_total": vat,
        "total": net + vat,
        "shipping_net": Decimal(shipping_net),
        "shipping_vat": Decimal(shipping_vat),
        "rows": rows,
    }
    values.update(overrides)
    return OrderPayload(**values)


def replace(payload: Any, **changes: Any) -> Any:
    return dataclasses.replace(payload, **changes)


def store(tenant: LocalTenant, payload: OrderPayload | None = None) -> UpsertResult:
    return do_upsert_order(tenant, payload or order_payload(), actor="test")
