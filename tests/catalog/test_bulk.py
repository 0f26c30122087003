"""The set-based bulk upsert: one result per item, nothing partial, same logs as the single path."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError

from bindery.catalog import upsert
from bindery.catalog.actions import (
    do_bulk_upsert_products,
    do_create_price_list,
    do_create_warehouse,
    do_upsert_product,
)
from bindery.catalog.errors import CatalogErrorCode
from bindery.catalog.models import (
    Category,
    Price,
    PriceChangeLog,
    PriceList,
    Product,
    StockChangeLog,
    StockLevel,
    Warehouse,
)
from bindery.catalog.payloads import PriceData, ProductData, StockData
from bindery.catalog.upsert import Outcome
from bindery.control.models import LocalTenant
from tests.catalog.conftest import ACTOR, full_product

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def ready(tenant: LocalTenant, warehouse: Warehouse, price_list: PriceList) -> LocalTenant:
    return tenant


def simple(sku: str, *, net: str = "9.99", qty: int = 1) -> ProductData:
    return ProductData(
        sku=sku, name=f"Item {sku}", quantity_available=qty, categories=["Bulk|Things"],
        prices=[PriceData(price_list="retail", net=net, vat_rate=22)],
        stock=[StockData(warehouse="main", quantity=qty)],
        variants=[ProductData(sku=f"{sku}-v", prices=[PriceData(price_list="retail", net=net, vat_rate=22)],
                              stock=[StockData(warehouse="main", quantity=qty)])],
    )


def test_thousand_items_in_one_call(ready: LocalTenant, django_assert_max_num_queries: Any) -> None:
    """1,000 items with variants and prices are created set-based, then a resend is all UNCHANGED with no logs."""
    items = [simple(f"SKU-{i:04}", qty=i % 7) for i in range(1000)]
    # Set-based: statements grow with rows / rows-per-statement, never per item. SQLite caps a statement
    # at 999 parameters, so Django splits each bulk insert into chunks of ~30 rows; 3,000 would be per item.
    with django_assert_max_num_queries(300):
        results = do_bulk_upsert_products(ready, items, actor=ACTOR)
    assert [r.index for r in results] == list(range(1000))
    assert {r.outcome for r in results} == {Outcome.CREATED}
    assert Product.objects.for_tenant(ready).count() == 2000
    assert Price.objects.for_tenant(ready).count() == 2000
    assert StockLevel.objects.for_tenant(ready).count() == 2000
    assert Product.objects.for_tenant(ready).filter(parent__isnull=False).count() == 1000
    logs = (StockChangeLog.objects.for_tenant(ready).count(), PriceChangeLog.objects.for_tenant(ready).count())
    assert logs == (3000, 2000)  # parent availability + two warehouse rows; two prices
    again = do_bulk_upsert_products(ready, items, actor=ACTOR)
    assert {r.outcome for r in again} == {Outcome.UNCHANGED}
    assert (StockChangeLog.objects.for_tenant(ready).count(), PriceChangeLog.objects.for_tenant(ready).count()) == logs
    changed = [simple(f"SKU-{i:04}", net="5", qty=i % 7) for i in range(0, 1000, 10)]
    assert {r.outcome for r in do_bulk_upsert_products(ready, changed, actor=ACTOR)} == {Outcome.UPDATED}
    assert PriceChangeLog.objects.for_tenant(ready).count() == logs[1] + 200


def test_mixed_good_and_bad_items(ready: LocalTenant) -> None:
    """Bad items get an error result naming the field and write nothing; good items around them are created."""
    items = [
        simple("OK-1"),
        ProductData(sku="BAD-PRICE", prices=[PriceData(price_list="retail", net="-3")], categories=["Only|Bad"]),
        simple("DUP"),
        simple("OK-2"),
        ProductData(sku="DUP"),
        ProductData(sku="BAD-WH", stock=[StockData(warehouse="ghost", quantity=1)], categories=["Only|Bad"]),
        ProductData(sku="OK-3", name="x" * 300),
        simple("OK-4"),
    ]
    results = do_bulk_upsert_products(ready, items, actor=ACTOR)
    summary = [(r.sku, r.outcome, r.code, r.field) for r in results]
    assert summary == [
        ("OK-1", Outcome.CREATED, None, None),
        ("BAD-PRICE", Outcome.ERROR, CatalogErrorCode.NEGATIVE_VALUE, "prices[0].net"),
        ("DUP", Outcome.ERROR, CatalogErrorCode.DUPLICATE_SKU, "sku"),
        ("OK-2", Outcome.CREATED, None, None),
        ("DUP", Outcome.ERROR, CatalogErrorCode.DUPLICATE_SKU, "sku"),
        ("BAD-WH", Outcome.ERROR, CatalogErrorCode.UNKNOWN_WAREHOUSE, "stock[0].warehouse"),
        ("OK-3", Outcome.ERROR, CatalogErrorCode.TOO_LONG, "name"),
        ("OK-4", Outcome.CREATED, None, None),
    ]
    assert all(r.message for r in results if r.outcome == Outcome.ERROR)
    stored = set(Product.objects.for_tenant(ready).values_list("sku", flat=True))
    assert stored == {"OK-1", "OK-1-v", "OK-2", "OK-2-v", "OK-4", "OK-4-v"}
    assert not StockChangeLog.objects.for_tenant(ready).filter(sku__in=["DUP", "BAD-WH", "BAD-PRICE"]).exists()
    assert not Category.objects.for_tenant(ready).filter(path_key__startswith="Only").exists()


def test_plan_limit_applies_item_by_item(ready: LocalTenant) -> None:
    """Within one call, items are created until the plan limit; later new items fail with PLAN_LIMIT_EXCEEDED."""
    ready.max_products = 5
    ready.save(update_fields=["max_products"])
    results = do_bulk_upsert_products(ready, [simple(f"P{i}") for i in range(4)], actor=ACTOR, batch_size=3)
    assert [r.outcome for r in results] == [Outcome.CREATED, Outcome.CREATED, Outcome.ERROR, Outcome.ERROR]
    assert results[2].code == CatalogErrorCode.PLAN_LIMIT_EXCEEDED
    assert "5" in results[2].message
    assert Product.objects.for_tenant(ready).count() == 4


def test_database_refusal_fails_only_the_offending_item(ready: LocalTenant, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the database refuses a batch, it is replayed item by item: only the refused item fails, as CONFLICT."""
    original = upsert._write

    def flaky(tenant: LocalTenant, writes: Any) -> None:
        if any(p.sku == "BOOM" for p in writes.new_products):
            raise IntegrityError("simulated concurrent insert")
        original(tenant, writes)

    monkeypatch.setattr(upsert, "_write", flaky)
    results = do_bulk_upsert_products(ready, [simple("A"), simple("BOOM"), simple("C")], actor=ACTOR)
    assert [(r.outcome, r.code) for r in results] == [
        (Outcome.CREATED, None), (Outcome.ERROR, CatalogErrorCode.CONFLICT), (Outcome.CREATED, None)]
    assert set(Product.objects.for_tenant(ready).values_list("sku", flat=True)) == {"A", "A-v", "C", "C-v"}
    assert not StockChangeLog.objects.for_tenant(ready).filter(sku__startswith="BOOM").exists()


def _log_signature(tenant: LocalTenant) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    def key(row: tuple[Any, ...]) -> tuple[str, ...]:
        return tuple(str(value) for value in row)  # old values may be None, which does not order

    stock = sorted(StockChangeLog.objects.for_tenant(tenant).values_list(
        "sku", "warehouse_key", "old_quantity", "new_quantity", "cause"), key=key)
    prices = sorted(PriceChangeLog.objects.for_tenant(tenant).values_list(
        "sku", "price_list_name", "currency", "old_net", "old_gross", "new_net", "new_gross", "cause"), key=key)
    return stock, prices


def test_bulk_and_single_paths_log_the_same(ready: LocalTenant, other_tenant: LocalTenant) -> None:
    """The same payloads applied one by one and in bulk produce identical stock and price change logs."""
    do_create_warehouse(other_tenant, "main", actor=ACTOR)
    do_create_price_list(other_tenant, "retail", "EUR", actor=ACTOR)
    rounds = [[full_product(f"T{i}") for i in range(5)],
              [full_product(f"T{i}", net="12", qty=str(i)) for i in range(5)]]
    for items in rounds:
        for item in items:
            do_upsert_product(ready, item, actor=ACTOR)
        do_bulk_upsert_products(other_tenant, items, actor=ACTOR)
    assert _log_signature(ready) == _log_signature(other_tenant)
    assert len(_log_signature(ready)[1]) == 30
