"""Planner statistics after bulk loads: the import analyses what it changed, so a publish reads chunks by index.

docs/benchmarks.md ("Product import from a file over SFTP"): right after a bulk load, with the
statistics stale, PostgreSQL planned the per-chunk child queries of a publish with the
``(tenant, modified_at)`` index and read the whole tenant for every chunk.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connections, transaction
from django.utils import timezone

from bindery.catalog import statistics
from bindery.catalog.actions import do_bulk_upsert_products, do_create_price_list, do_create_warehouse
from bindery.catalog.models import Price, ProductCategory, StockLevel
from bindery.catalog.payloads import PriceData, ProductData, StockData
from bindery.control.models import LocalTenant
from bindery.control.routers import HOST
from bindery.technologies.files.product_import import import_products

ACTOR = "run:test"
on_postgresql = pytest.mark.skipif("connections['default'].vendor != 'postgresql'",
                                   reason="pg_stat_user_tables and ANALYZE's plans are PostgreSQL's")
pytestmark = [pytest.mark.django_db(databases="__all__", transaction=True), on_postgresql]
TABLES = ("catalog_product", "catalog_price", "catalog_stocklevel", "catalog_productcategory")


@pytest.fixture
def catalog(tenant: LocalTenant) -> LocalTenant:
    do_create_warehouse(tenant, "main", actor=ACTOR)
    do_create_price_list(tenant, "retail", "EUR", actor=ACTOR)
    with connections[HOST].cursor() as cursor:  # start from fresh statistics (earlier tests changed rows)
        cursor.execute(f"ANALYZE {', '.join(TABLES)}")
    return tenant


def products(start: int, count: int, *, gross: str = "9.99") -> list[ProductData]:
    return [ProductData(sku=f"SKU-{i:06d}", name=f"Product {i}",
                        prices=[PriceData(price_list="retail", gross=Decimal(gross), vat_rate=22)],
                        stock=[StockData("main", i % 7)], categories=[f"Dept {i % 10}|Shelf {i % 3}"])
            for i in range(start, start + count)]


def analysed_since(moment: dt.datetime) -> dict[str, bool]:
    """Per table: whether a manual ANALYZE ran since ``moment`` (autovacuum's own ones do not count)."""
    with connections[HOST].cursor() as cursor:
        cursor.execute("SELECT relname, coalesce(last_analyze >= %s, false) FROM pg_stat_user_tables "
                       "WHERE relname = ANY(%s)", [moment, list(TABLES)])
        return dict(cursor.fetchall())


def test_a_bulk_load_analyses_the_tables_it_changed_a_lot_and_only_those(
        catalog: LocalTenant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statistics, "STALE_MIN_ROWS", 300)
    before = timezone.now()
    do_bulk_upsert_products(catalog, products(0, 400), actor=ACTOR)
    assert analysed_since(before) == dict.fromkeys(TABLES, True)
    with connections[HOST].cursor() as cursor:
        cursor.execute("SELECT s.relname, n_mod_since_analyze, reltuples FROM pg_stat_user_tables s "
                       "JOIN pg_class c ON c.oid = s.relid WHERE s.relname = ANY(%s)", [list(TABLES)])
        assert {name: (changed, rows) for name, changed, rows in cursor.fetchall()} == dict.fromkeys(TABLES, (0, 400))
    # 100 more products: under the threshold (300 rows and as many as the table held), nothing analysed.
    again = timezone.now()
    do_bulk_upsert_products(catalog, products(400, 100), actor=ACTOR)
    assert analysed_since(again) == dict.fromkeys(TABLES, False)


def test_a_large_file_import_analyses_every_table_it_changed(
        catalog: LocalTenant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even tables far larger than what the import added: a new tenant's rows are otherwise unknown to the planner."""
    monkeypatch.setattr(statistics, "LARGE_IMPORT_ROWS", 50)
    # 400 products with prices only, under STALE_MIN_ROWS: not analysed.
    do_bulk_upsert_products(catalog, [ProductData(sku=f"OLD-{i}", name=f"Old {i}", prices=[
        PriceData(price_list="retail", gross=Decimal(1), vat_rate=22)]) for i in range(400)], actor=ACTOR)
    path = tmp_path / "products.csv"
    path.write_text("Code;Title;Price\n" + "".join(f"NEW-{i};New {i};{i},50\n" for i in range(60)), encoding="utf-8")
    config: dict[str, Any] = {"file": {"format": "csv"}, "mapping": {
        "fields": {"sku": {"column": "Code"}, "name": {"column": "Title"}},
        "prices": [{"column": "Price", "price_list": "retail", "transforms": [{"kind": "number", "decimal": ","}]}]}}
    before = timezone.now()
    result = import_products(catalog, path, config, actor=ACTOR)
    assert (result.created, result.failed) == (60, 0)
    analysed = analysed_since(before)
    # Products and prices changed (460 rows, under STALE_MIN_ROWS): analysed as a large import's; stock
    # and categories did not change and keep their statistics.
    assert analysed == {"catalog_product": True, "catalog_price": True, "catalog_stocklevel": False,
                        "catalog_productcategory": False}


def chunk_plans(tenant: LocalTenant) -> dict[str, str]:
    """EXPLAIN of a publish chunk's child queries (files export / WooCommerce publish), for 500 product ids.

    Sequential scans are priced out, as they are for a catalogue of a million rows: at the test's
    20,000 rows, reading the whole (small) table is rightly the cheapest, and would hide which
    index the planner believes in.
    """
    from bindery.catalog.models import Product

    ids = list(Product.objects.for_tenant(tenant).order_by("pk").values_list("pk", flat=True)[:500])
    with transaction.atomic(using=HOST), connections[HOST].cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        return {
            "price": Price.objects.for_tenant(tenant).filter(
                product_id__in=ids, min_quantity=1, price_list__name__in=["retail"]).values_list(
                "product_id", "price_list__name", "net", "gross").explain(),
            "stock": StockLevel.objects.for_tenant(tenant).filter(
                product_id__in=ids, warehouse__key__in=["main"]).values_list(
                "product_id", "warehouse__key", "quantity").explain(),
            "category": ProductCategory.objects.for_tenant(tenant).filter(product_id__in=ids).values_list(
                "product_id", "category__path_key").explain(),
        }


def test_after_a_bulk_load_a_chunk_reads_its_child_rows_by_product(catalog: LocalTenant) -> None:
    """Stale, the planner believed the new tenant had one row and read each chunk's children by tenant.

    Without the ANALYZE the plans were: price by ``cat_price_t_id``, stock by ``cat_stock_t_id``,
    category links by ``catalog_productcategory_tenant_id_...``, each filtering the whole tenant.
    """
    do_bulk_upsert_products(catalog, products(0, 20_000), actor=ACTOR)
    plans = chunk_plans(catalog)
    short = {name: [line.split("ANY")[0][:120] for line in plan.splitlines()]  # the 500 ids say nothing
             for name, plan in plans.items()}
    assert "catalog_price_per_product_list_tier" in plans["price"], short
    assert "catalog_stock_per_product_warehouse" in plans["stock"], short
    for plan in plans.values():
        for tenant_index in ("_t_id", "_t_mod", "tenant_id_"):
            assert tenant_index not in plan, short
