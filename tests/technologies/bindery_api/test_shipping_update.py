"""Shipping update wire format (WIRE.md section 4) applied through the sales service layer."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bindery.control.models import LocalTenant
from bindery.sales.models import Shipment
from bindery.technologies.bindery_api.shipping_update import MAX_BODY_BYTES, handle_shipping_update
from tests.sales.factories import order_payload, store

pytestmark = pytest.mark.django_db(databases="__all__")


def post(tenant: LocalTenant, data: object) -> tuple[int, dict]:
    return handle_shipping_update(tenant, json.dumps(data).encode(), actor="test")


def test_documented_sample_with_number_and_string_ids(tenant: LocalTenant) -> None:
    key = store(tenant, order_payload("1")).order.hub_order_key
    status, answer = post(tenant, [
        {"OrderID": key, "TrackingCarrier": "UPS", "TrackingNumber": "1Z1", "ShippedTime": "2026:11:20 10:11:12"},
        {"OrderID": key, "TrackingCarrier": "UPS", "TrackingNumber": "1Z1", "ShippedTime": "2026-11-20 10:11:12",
         "TransactionID": "T-9", "CarrierID": 4},
    ])
    assert status == 200, answer
    assert answer["status"] == "success"
    shipments = list(Shipment.objects.for_tenant(tenant))
    assert len(shipments) == 1
    assert shipments[0].tracking_number == "1Z1"
    assert shipments[0].shipped_at == datetime(2026, 11, 20, 10, 11, 12, tzinfo=UTC)


def test_bad_entries_are_reported_and_good_ones_still_applied(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    key = store(tenant, order_payload("2")).order.hub_order_key
    theirs = store(other_tenant, order_payload("3")).order.hub_order_key
    status, answer = post(tenant, [
        {"OrderID": key, "TrackingCarrier": "GLS", "TrackingNumber": "G1", "ShippedTime": "2026:11:20 10:11:12"},
        {"OrderID": theirs, "TrackingCarrier": "GLS", "TrackingNumber": "G2", "ShippedTime": "2026:11:20 10:11:12"},
        {"OrderID": key, "TrackingCarrier": "GLS", "TrackingNumber": "G3", "ShippedTime": "yesterday"},
        {"OrderID": key, "TrackingCarrier": "GLS"},
        "not an object",
        {"OrderID": True, "TrackingCarrier": "GLS", "TrackingNumber": "G4", "ShippedTime": "2026:11:20 10:11:12"},
    ])
    assert status == 207
    assert [result["ok"] for result in answer["results"]] == [True, False, False, False, False, False]
    assert "TrackingNumber" in answer["results"][3]["message"]
    assert [s.tracking_number for s in Shipment.objects.for_tenant(tenant)] == ["G1"]
    assert not Shipment.objects.for_tenant(other_tenant).exists()


@pytest.mark.parametrize("body", [b"", b"{", b'{"OrderID": 1}', b"\xff\xfe[]", b"[" * 100_000 + b"]" * 100_000,
                                  b" " * (MAX_BODY_BYTES + 1)])
def test_malformed_bodies_are_refused_whole(tenant: LocalTenant, body: bytes) -> None:
    status, answer = handle_shipping_update(tenant, body, actor="test")
    assert status == 400
    assert answer["status"] == "error"
    assert answer["message"]
