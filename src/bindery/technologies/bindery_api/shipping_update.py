"""Shipping update wire format (WIRE.md section 4): a JSON array of tracking entries in.

Each entry names an order by ``OrderID`` (the exported ``bindCommerceNumber``, i.e. the hub
order key; number or string) and carries ``TrackingCarrier``, ``TrackingNumber`` and
``ShippedTime`` (``YYYY:MM:DD HH:MM:SS`` as documented, or ``YYYY-MM-DD HH:MM:SS``; read as UTC).
Entries are applied one by one through ``do_add_shipment``; a bad entry is reported and does
not stop the others. The answer is the JSON status object of section 5 plus per-entry results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from bindery.control.models import LocalTenant
from bindery.control.routers import HOST
from bindery.sales.access import access_order_by_hub_key
from bindery.sales.actions import do_add_shipment
from bindery.sales.errors import SalesError

MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_ENTRIES = 10_000
REQUIRED = ("OrderID", "TrackingCarrier", "TrackingNumber", "ShippedTime")
TIME_FORMATS = ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S")


class ShippingUpdateError(ValueError):
    """The body as a whole is unusable; nothing was applied."""


@dataclass(frozen=True)
class EntryResult:
    index: int
    order_id: str
    ok: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "OrderID": self.order_id, "ok": self.ok, "message": self.message}


def parse_shipped_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("ShippedTime must be a string")
    for pattern in TIME_FORMATS:
        try:
            return datetime.strptime(value.strip(), pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError("ShippedTime must be YYYY:MM:DD HH:MM:SS or YYYY-MM-DD HH:MM:SS")


def parse_body(body: bytes) -> list[Any]:
    """Decode the request body into the list of entries, refusing oversized or malformed input."""
    if len(body) > MAX_BODY_BYTES:
        raise ShippingUpdateError(f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ShippingUpdateError(f"body is not UTF-8 (byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise ShippingUpdateError(f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}") from None
    except RecursionError:
        raise ShippingUpdateError("JSON nested too deeply") from None
    if not isinstance(data, list):
        raise ShippingUpdateError("body must be a JSON array of shipping entries")
    if len(data) > MAX_ENTRIES:
        raise ShippingUpdateError(f"more than {MAX_ENTRIES} entries")
    return data


def _apply(tenant: LocalTenant, index: int, entry: Any, actor: Any) -> EntryResult:
    if not isinstance(entry, dict):
        return EntryResult(index, "", False, "entry must be an object")
    raw_id = entry.get("OrderID")
    order_id = str(raw_id) if isinstance(raw_id, (int, str)) and not isinstance(raw_id, bool) else ""
    missing = [name for name in REQUIRED if entry.get(name) in (None, "")]
    if missing:
        return EntryResult(index, order_id, False, f"missing {', '.join(missing)}")
    if not order_id:
        return EntryResult(index, "", False, "OrderID must be a number or a string")
    try:
        shipped_at = parse_shipped_time(entry["ShippedTime"])
        carrier, tracking = entry["TrackingCarrier"], entry["TrackingNumber"]
        if not isinstance(carrier, str) or not isinstance(tracking, (str, int)):
            return EntryResult(index, order_id, False, "TrackingCarrier and TrackingNumber must be text")
        with transaction.atomic(using=HOST):  # one entry at a time: the order row is locked while it is shipped
            order = access_order_by_hub_key(tenant, order_id, for_write=True)
            do_add_shipment(order, carrier=carrier, tracking_number=str(tracking), shipped_at=shipped_at,
                            actor=actor)
    except SalesError as error:
        return EntryResult(index, order_id, False, str(error))
    except ValueError as error:
        return EntryResult(index, order_id, False, str(error))
    return EntryResult(index, order_id, True, "shipment recorded")


def handle_shipping_update(tenant: LocalTenant, body: bytes, *, actor: Any) -> tuple[int, dict[str, Any]]:
    """Apply a shipping update body; return (HTTP status, JSON answer)."""
    try:
        entries = parse_body(body)
    except ShippingUpdateError as error:
        return 400, {"status": "error", "message": str(error), "code": 400, "results": []}
    results = [_apply(tenant, index, entry, actor) for index, entry in enumerate(entries)]
    failed = sum(not result.ok for result in results)
    answer = {
        "status": "success" if failed == 0 else "error",
        "message": f"{len(results) - failed} of {len(results)} entries applied",
        "code": 200 if failed == 0 else 207,
        "results": [result.as_dict() for result in results],
    }
    return (200 if failed == 0 else 207), answer
