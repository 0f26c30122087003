"""The PostgreSQL bulk write path (decision 0004): rows written set-based, exact change logs, isolation.

The path writes children of new products with plain ``INSERT ... SELECT`` from the staging
tables, children of stored products through a comparison with the stored rows, and keeps
referential integrity by locking referenced rows instead of per-row foreign-key triggers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg
import pytest
from django.db import connections, transaction

from bindery.catalog import upsert
from bindery.catalog.actions import do_bulk_upsert_products, do_create_price_list, do_create_warehouse
from bindery.catalog.locks import key_share
from bindery.catalog.models import (
    Attribute,
    Category,
    Price,
    PriceChangeLog,
    Product,
    ProductAttributeValue,
    ProductCategory,
    StockChangeLog,
    StockLevel,
    Warehouse,
)
from bindery.catalog.payloads import AttributeValueData, PriceData, ProductData, StockData
from bindery.control.models import LocalTenant
from bindery.control.rls import tenant_scope
from bindery.control.routers import HOST
from tests.catalog.conftest import ACTOR

pytestmark = pytest.mark.skipif(connections[HOST].vendor != "postgresql", reason="the COPY path is PostgreSQL-only")


@pytest.fixture(autouse=True)
def copy_always(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upsert, "COPY_MIN_ITEMS", 1)


def setup_tenant(tenant: LocalTenant) -> None:
    for key in ("main", "backup"):
        do_create_warehouse(tenant, key, actor=ACTOR)
    do_create_price_list(tenant, "retail", "EUR", actor=ACTOR)


def item(sku: str, *, net: str = "10", qty: int = 3, category: str = "Dept|Shelf", color: str = "red") -> ProductData:
    return ProductData(sku=sku, name=f"Product {sku}",
                       prices=[PriceData(price_list="retail", net=net, vat_rate=20)],
                       stock=[StockData(warehouse="main", quantity=qty), StockData(warehouse="backup", quantity=1)],
                       categories=[category], attributes=[AttributeValueData(attribute="color", value=color)])


def logs(tenant: LocalTenant) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    stock = sorted(StockChangeLog.objects.for_tenant(tenant).values_list(
        "sku", "warehouse_key", "old_quantity", "new_quantity", "cause"), key=str)
    prices = sorted(PriceChangeLog.objects.for_tenant(tenant).values_list(
        "sku", "price_list_name", "currency", "min_quantity", "old_net", "old_gross", "new_net", "new_gross",
        "cause"), key=str)
    return stock, prices


def orphans() -> int:
    """Child rows whose referenced row does not exist (no constraint checks it, decision 0004)."""
    checks = [("catalog_price", "product_id", "catalog_product"),
              ("catalog_price", "price_list_id", "catalog_pricelist"),
              ("catalog_stocklevel", "product_id", "catalog_product"),
              ("catalog_stocklevel", "warehouse_id", "catalog_warehouse"),
              ("catalog_productcategory", "product_id", "catalog_product"),
              ("catalog_productcategory", "category_id", "catalog_category"),
              ("catalog_productattributevalue", "product_id", "catalog_product"),
              ("catalog_productattributevalue", "value_id", "catalog_attributevalue")]
    total = 0
    with connections[HOST].cursor() as cursor:
        for child, column, parent in checks:
            cursor.execute(f"SELECT count(*) FROM {child} c "  # noqa: S608 (constant names)
                           f"WHERE NOT EXISTS (SELECT FROM {parent} p WHERE p.id = c.{column})")
            total += cursor.fetchone()[0]
    return total


@pytest.mark.django_db(databases="__all__")
def test_mixed_batch_writes_valid_items_only_with_exact_logs(tenant: LocalTenant) -> None:
    setup_tenant(tenant)
    do_bulk_upsert_products(tenant, [item("OLD-1"), item("OLD-2")], actor=ACTOR)
    before = logs(tenant)
    modified = dict(Product.objects.for_tenant(tenant).values_list("sku", "modified_at"))

    # One batch: new and stored products, valid and refused items (by checks and by state).
    results = do_bulk_upsert_products(tenant, [
        item("NEW-1", net="5", qty=7),
        ProductData(sku="BAD-AMOUNT", prices=[PriceData(price_list="retail", net="-1")], categories=["Ghost|A"]),
        item("OLD-1", net="12", qty=4),  # price and main stock change
        ProductData(sku="BAD-WH", stock=[StockData(warehouse="nowhere", quantity=1)],
                    attributes=[AttributeValueData(attribute="ghostly", value="x")], categories=["Ghost|B"]),
        item("OLD-2"),  # unchanged
        ProductData(sku="BAD-LIST", prices=[PriceData(price_list="nolist", net="1")]),
    ], actor=ACTOR)
    assert [(r.sku, r.outcome, r.field) for r in results] == [
        ("NEW-1", "created", None), ("BAD-AMOUNT", "error", "prices[0].net"), ("OLD-1", "updated", None),
        ("BAD-WH", "error", "stock[0].warehouse"), ("OLD-2", "unchanged", None),
        ("BAD-LIST", "error", "prices[0].price_list")]

    # Refused items are written nowhere: no product, child row, reference or log row.
    assert set(Product.objects.for_tenant(tenant).values_list("sku", flat=True)) == {"OLD-1", "OLD-2", "NEW-1"}
    assert not Category.objects.for_tenant(tenant).filter(path_key__startswith="Ghost").exists()
    assert not Attribute.objects.for_tenant(tenant).filter(name="ghostly").exists()
    assert not StockChangeLog.objects.for_tenant(tenant).filter(sku__startswith="BAD").exists()
    assert not PriceChangeLog.objects.for_tenant(tenant).filter(sku__startswith="BAD").exists()

    # Exactly the changes are logged: NEW-1's first values, OLD-1's changed price and main stock.
    stock, prices = logs(tenant)
    d = Decimal
    assert sorted(set(stock) - set(before[0]), key=str) == [
        ("NEW-1", "backup", None, d("1.0000"), ACTOR), ("NEW-1", "main", None, d("7.0000"), ACTOR),
        ("OLD-1", "main", d("3.0000"), d("4.0000"), ACTOR)]
    assert len(stock) == len(before[0]) + 3
    assert sorted(set(prices) - set(before[1]), key=str) == [
        ("NEW-1", "retail", "EUR", d("1.0000"), None, None, d("5.0000"), d("6.0000"), ACTOR),
        ("OLD-1", "retail", "EUR", d("1.0000"), d("10.0000"), d("12.0000"), d("12.0000"), d("14.4000"), ACTOR)]
    assert len(prices) == len(before[1]) + 2

    # modified_at moves for the changed product only.
    after = dict(Product.objects.for_tenant(tenant).values_list("sku", "modified_at"))
    assert after["OLD-1"] > modified["OLD-1"]
    assert after["OLD-2"] == modified["OLD-2"]
    assert orphans() == 0


@pytest.mark.django_db(databases="__all__")
def test_unchanged_resend_writes_nothing(tenant: LocalTenant) -> None:
    setup_tenant(tenant)
    items = [item(f"P{i}", net=str(i + 1), qty=i, color=f"c{i % 3}") for i in range(30)]
    assert {r.outcome for r in do_bulk_upsert_products(tenant, items, actor=ACTOR)} == {"created"}
    state = (logs(tenant), dict(Product.objects.for_tenant(tenant).values_list("sku", "modified_at")),
             sorted(Price.objects.for_tenant(tenant).values_list("id", "modified_at")),
             sorted(StockLevel.objects.for_tenant(tenant).values_list("id", "modified_at")),
             sorted(ProductCategory.objects.for_tenant(tenant).values_list("id", flat=True)),
             sorted(ProductAttributeValue.objects.for_tenant(tenant).values_list("id", flat=True)))
    assert len(state[0][0]) == 60
    assert len(state[0][1]) == 30
    assert {r.outcome for r in do_bulk_upsert_products(tenant, items, actor=ACTOR)} == {"unchanged"}
    assert (logs(tenant), dict(Product.objects.for_tenant(tenant).values_list("sku", "modified_at")),
            sorted(Price.objects.for_tenant(tenant).values_list("id", "modified_at")),
            sorted(StockLevel.objects.for_tenant(tenant).values_list("id", "modified_at")),
            sorted(ProductCategory.objects.for_tenant(tenant).values_list("id", flat=True)),
            sorted(ProductAttributeValue.objects.for_tenant(tenant).values_list("id", flat=True))) == state


@pytest.mark.django_db(databases="__all__")
def test_row_level_security_isolates_the_bulk_path(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    for t in (tenant, other_tenant):
        setup_tenant(t)
    do_bulk_upsert_products(tenant, [item("A-1"), item("SHARED")], actor=ACTOR)
    with tenant_scope(other_tenant.pk):
        # Under B's scope, the same SKU is B's own new product; A's rows stay invisible and untouched.
        results = do_bulk_upsert_products(other_tenant, [item("SHARED", net="99")], actor=ACTOR)
        assert [r.outcome for r in results] == ["created"]
        with connections[HOST].cursor() as cursor:  # bypassing the manager: the database filters
            cursor.execute("SELECT DISTINCT tenant_id FROM catalog_price UNION SELECT DISTINCT tenant_id "
                           "FROM catalog_stockchangelog UNION SELECT DISTINCT tenant_id FROM catalog_product")
            assert {row[0] for row in cursor.fetchall()} == {other_tenant.pk}
        # Writing A's products while scoped to B: A's warehouses are invisible, and a row of A is refused by
        # the database (WITH CHECK); every item fails and nothing is written.
        refused = do_bulk_upsert_products(tenant, [item("A-2"), ProductData(sku="A-3", name="plain"),
                                                   ProductData(sku="A-4", categories=["New|Path"])], actor=ACTOR)
        assert [(r.outcome, r.code) for r in refused] == [
            ("error", "unknown_warehouse"), ("error", "conflict"), ("error", "conflict")]
    assert set(Product.objects.for_tenant(tenant).values_list("sku", flat=True)) == {"A-1", "SHARED"}
    assert not Category.objects.for_tenant(tenant).filter(path_key__startswith="New").exists()
    assert Price.objects.for_tenant(tenant).get(product__sku="SHARED").net == Decimal("10.0000")
    assert Price.objects.for_tenant(other_tenant).get(product__sku="SHARED").net == Decimal("99.0000")


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_referenced_rows_are_locked_until_commit(tenant: LocalTenant) -> None:
    """Instead of per-row foreign-key checks, the writer holds FOR KEY SHARE on what it references."""
    warehouse = do_create_warehouse(tenant, "main", actor=ACTOR)
    settings = connections[HOST].settings_dict
    other = psycopg.connect(host=settings["HOST"], port=settings["PORT"], dbname=settings["NAME"],
                            user=settings["USER"], password=settings["PASSWORD"] or None, autocommit=True)
    try:
        other.execute("SET lock_timeout = '300ms'")
        with transaction.atomic(using=HOST):
            assert key_share(Warehouse, [warehouse.pk]) == {warehouse.pk}
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("DELETE FROM catalog_warehouse WHERE id = %s", [warehouse.pk])
        other.execute("DELETE FROM catalog_warehouse WHERE id = %s", [warehouse.pk])  # after commit: free
        with transaction.atomic(using=HOST):
            assert key_share(Warehouse, [warehouse.pk]) == set()  # gone: the writer refuses the item
    finally:
        other.close()
