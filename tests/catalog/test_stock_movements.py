"""Relative stock changes applied exactly once per reference (order rows decrement stock once)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bindery.catalog.actions import (
    MovementOutcome,
    StockMovementData,
    do_apply_stock_movements,
    do_bulk_upsert_products,
)
from bindery.catalog.errors import CatalogError
from bindery.catalog.models import Product, StockChangeLog, StockLevel, StockMovement, Warehouse
from bindery.catalog.payloads import ProductData, StockData
from bindery.control.models import LocalTenant

pytestmark = pytest.mark.django_db(databases="__all__")


def test_a_movement_applies_once_and_logs_and_bumps_modified_at(tenant: LocalTenant, warehouse: Warehouse) -> None:
    do_bulk_upsert_products(tenant, [ProductData(sku="A", quantity_available=5,
                                                 stock=[StockData(warehouse.key, 7)])], actor="test")
    before = Product.objects.for_tenant(tenant).get(sku="A").modified_at
    moves = [StockMovementData(reference="woo:1:10", sku="A", quantity=-2),
             StockMovementData(reference="woo:1:11", sku="A", quantity=-3, warehouse=warehouse.key)]
    first = do_apply_stock_movements(tenant, moves, actor="test")
    again = do_apply_stock_movements(tenant, moves, actor="test")
    assert first == [MovementOutcome.APPLIED, MovementOutcome.APPLIED]
    assert again == [MovementOutcome.ALREADY_APPLIED, MovementOutcome.ALREADY_APPLIED]
    product = Product.objects.for_tenant(tenant).get(sku="A")
    assert product.quantity_available == Decimal(3)
    assert StockLevel.objects.for_tenant(tenant).get(product=product).quantity == Decimal(4)
    assert product.modified_at > before
    logs = StockChangeLog.objects.for_tenant(tenant).filter(cause="test").order_by("created_at", "id")
    assert [(log.warehouse_key, log.old_quantity, log.new_quantity) for log in logs][-2:] == [
        ("", Decimal(5), Decimal(3)), (warehouse.key, Decimal(7), Decimal(4))]
    assert StockMovement.objects.for_tenant(tenant).count() == 2


def test_stock_may_go_negative_and_unknown_skus_are_reported(tenant: LocalTenant) -> None:
    do_bulk_upsert_products(tenant, [ProductData(sku="B", quantity_available=1)], actor="test")
    outcomes = do_apply_stock_movements(tenant, [
        StockMovementData(reference="r1", sku="B", quantity=-4),
        StockMovementData(reference="r2", sku="NOPE", quantity=-1),
        StockMovementData(reference="r3", sku="B", quantity=-1, warehouse="nowhere"),
    ], actor="test")
    assert outcomes == [MovementOutcome.APPLIED, MovementOutcome.UNKNOWN_SKU, MovementOutcome.UNKNOWN_WAREHOUSE]
    assert Product.objects.for_tenant(tenant).get(sku="B").quantity_available == Decimal(-3)
    # Unknown ones are not recorded: once the product exists, the row applies.
    do_bulk_upsert_products(tenant, [ProductData(sku="NOPE", quantity_available=2)], actor="test")
    assert do_apply_stock_movements(tenant, [StockMovementData(reference="r2", sku="NOPE", quantity=-1)],
                                    actor="test") == [MovementOutcome.APPLIED]


@pytest.mark.parametrize("bad", [
    StockMovementData(reference="", sku="B", quantity=-1),
    StockMovementData(reference="x" * 201, sku="B", quantity=-1),
    StockMovementData(reference="r", sku="B", quantity="lots"),
    StockMovementData(reference="r", sku="B", quantity=float("nan")),
])
def test_malformed_movements_are_refused_whole(tenant: LocalTenant, bad: StockMovementData) -> None:
    do_bulk_upsert_products(tenant, [ProductData(sku="B", quantity_available=1)], actor="test")
    with pytest.raises(CatalogError):
        do_apply_stock_movements(tenant, [StockMovementData(reference="ok", sku="B", quantity=-1), bad],
                                 actor="test")
    assert Product.objects.for_tenant(tenant).get(sku="B").quantity_available == Decimal(1)
    assert not StockMovement.objects.for_tenant(tenant).exists()


def test_a_reference_twice_in_one_call_is_refused(tenant: LocalTenant) -> None:
    with pytest.raises(CatalogError):
        do_apply_stock_movements(tenant, [StockMovementData(reference="r", sku="B", quantity=-1)] * 2, actor="t")
