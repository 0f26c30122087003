"""The PostgreSQL COPY path and the portable ORM path give identical results, rows and change logs.

Every scenario runs the same payloads for two tenants, one through each path, and compares what
each call returned and everything stored, by SKU (ids differ between tenants by construction).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from django.db import connections

from bindery.catalog import upsert
from bindery.catalog.actions import do_bulk_upsert_products, do_create_price_list, do_create_warehouse
from bindery.catalog.models import (
    Category,
    Price,
    PriceChangeLog,
    Product,
    ProductAttributeValue,
    ProductCategory,
    ProductImage,
    StockChangeLog,
    StockLevel,
)
from bindery.catalog.payloads import AttributeValueData, ImageData, PriceData, ProductData, StockData
from bindery.catalog.upsert import UpsertResult
from bindery.control.models import LocalTenant
from bindery.control.rls import tenant_scope
from bindery.control.routers import HOST
from tests.catalog.conftest import ACTOR, full_product

pytestmark = [
    pytest.mark.django_db(databases="__all__"),
    pytest.mark.skipif(connections[HOST].vendor != "postgresql", reason="the COPY path is PostgreSQL-only"),
]

Upsert = Callable[[LocalTenant, Sequence[ProductData]], list[UpsertResult]]


@pytest.fixture
def tenants(tenant: LocalTenant, other_tenant: LocalTenant) -> tuple[LocalTenant, LocalTenant]:
    """(COPY path tenant, ORM path tenant), each with the same warehouses and price lists."""
    for t in (tenant, other_tenant):
        for key in ("main", "backup"):
            do_create_warehouse(t, key, actor=ACTOR)
        do_create_price_list(t, "retail", "EUR", actor=ACTOR)
        do_create_price_list(t, "wholesale", "USD", actor=ACTOR)
    return tenant, other_tenant


def run(path: str, monkeypatch: pytest.MonkeyPatch, tenant: LocalTenant, items: Sequence[ProductData],
        **kwargs: Any) -> list[tuple[Any, ...]]:
    """Upsert through one path; return the results without product ids (which differ by tenant)."""
    with monkeypatch.context() as m:
        m.setattr(upsert, "COPY_MIN_ITEMS", 1 if path == "copy" else 10**9)
        results = do_bulk_upsert_products(tenant, items, actor=ACTOR, **kwargs)
    return [(r.index, r.sku, r.outcome, r.code, r.message, r.field, r.product_id is None) for r in results]


def _rows(queryset: Any, *fields: str) -> list[tuple[str, ...]]:
    return sorted(tuple(str(v) for v in row) for row in queryset.values_list(*fields))


def snapshot(tenant: LocalTenant) -> dict[str, Any]:
    """Everything the upsert writes, keyed by SKU and names, with timestamps left out."""
    product_fields = [f for f in upsert.PRODUCT_FIELDS if f not in ("parent", "modified_at")]
    return {
        "products": _rows(Product.objects.for_tenant(tenant), "sku", "parent__sku", *product_fields),
        "prices": _rows(Price.objects.for_tenant(tenant), "product__sku", "price_list__name", "min_quantity",
                        *[f for f in upsert.PRICE_FIELDS if f != "modified_at"]),
        "stock": _rows(StockLevel.objects.for_tenant(tenant), "product__sku", "warehouse__key", "quantity"),
        "categories": _rows(Category.objects.for_tenant(tenant), "language", "path_key", "parent__path_key"),
        "category_links": _rows(ProductCategory.objects.for_tenant(tenant), "product__sku", "category__path_key",
                                "category__language"),
        "value_links": _rows(ProductAttributeValue.objects.for_tenant(tenant), "product__sku",
                             "value__attribute__name", "value__attribute__kind", "value__value"),
        "images": _rows(ProductImage.objects.for_tenant(tenant), "product__sku", "url", "thumbnail_url",
                        "position", "tags"),
        "stock_log": _rows(StockChangeLog.objects.for_tenant(tenant), "sku", "product__sku", "warehouse_key",
                           "old_quantity", "new_quantity", "cause"),
        "price_log": _rows(PriceChangeLog.objects.for_tenant(tenant), "sku", "price_list_name", "currency",
                           "min_quantity", "old_net", "old_gross", "new_net", "new_gross", "cause"),
    }


def modified(tenant: LocalTenant) -> dict[str, Any]:
    return dict(Product.objects.for_tenant(tenant).values_list("sku", "modified_at"))


def apply_both(tenants: tuple[LocalTenant, LocalTenant], monkeypatch: pytest.MonkeyPatch,
               items: Sequence[ProductData], **kwargs: Any) -> list[tuple[Any, ...]]:
    """Apply a round through both paths; assert identical results, rows, logs and modified_at bumps."""
    copy_tenant, orm_tenant = tenants
    before = modified(copy_tenant), modified(orm_tenant)
    copy_results = run("copy", monkeypatch, copy_tenant, items, **kwargs)
    orm_results = run("orm", monkeypatch, orm_tenant, items, **kwargs)
    assert copy_results == orm_results
    assert snapshot(copy_tenant) == snapshot(orm_tenant)
    bumped = [{sku for sku, at in modified(t).items() if sku in old and old[sku] != at}
              for t, old in zip(tenants, before, strict=True)]
    assert bumped[0] == bumped[1]
    return copy_results


def variant_item(sku: str, **kwargs: Any) -> ProductData:
    return ProductData(sku=sku, prices=[PriceData(price_list="retail", net="3", vat_rate=10)],
                       variants=[ProductData(sku=f"{sku}-a", stock=[StockData(warehouse="backup", quantity=2)])],
                       **kwargs)


def test_rounds_give_identical_results_and_logs(tenants: tuple[LocalTenant, LocalTenant],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    first = [full_product(f"F{i}") for i in range(3)] + [
        ProductData(sku="BAD-PRICE", prices=[PriceData(price_list="retail", net="-3")], categories=["Only|Bad"]),
        ProductData(sku="BAD-LIST", prices=[PriceData(price_list="ghost", net="3")], categories=["Only|Bad"]),
        ProductData(sku="BAD-WH", stock=[StockData(warehouse="ghost", quantity=1)],
                    attributes=[AttributeValueData(attribute="ghostly", value="x")]),
        ProductData(sku="DUP"), ProductData(sku="DUP"),
        variant_item("V1", tags=["a", "b"]),
        ProductData(sku="PLAIN"),
    ]
    results = apply_both(tenants, monkeypatch, first)
    assert [r[2] for r in results].count("created") == 5

    # A resend writes nothing: all unchanged (errors stay errors), no logs, no modified_at bump.
    copy_tenant = tenants[0]
    logs = snapshot(copy_tenant)["stock_log"], snapshot(copy_tenant)["price_log"]
    again = apply_both(tenants, monkeypatch, first)
    assert {r[2] for r in again} == {"unchanged", "error"}
    assert (snapshot(copy_tenant)["stock_log"], snapshot(copy_tenant)["price_log"]) == logs

    changes = [
        # Prices and stock merge by key; sets (categories, attributes, images, tags) are replaced.
        full_product("F0", net="12", qty="7"),
        ProductData(sku="F1", categories=["Sale"], attributes=[], images=[ImageData(url="https://img.example/n.jpg")],
                    tags=[]),
        ProductData(sku="F2", prices=[PriceData(price_list="wholesale", gross="8", vat_rate=20, min_quantity=10)],
                    stock=[StockData(warehouse="backup", quantity=-4)], quantity_available="-4"),
        ProductData(sku="F2-0", name="flat variant, parent kept", language="de", categories=["Kleidung"]),
        ProductData(sku="V1", name=None, prices=[PriceData(price_list="retail", net="3", vat_rate=10)],
                    variants=[ProductData(sku="V1-a"), ProductData(sku="V1-b", weight="0.5")]),
        ProductData(sku="PLAIN", prices=[PriceData(price_list="retail", net="3", vat_rate=22,
                                                   discounted_net="2.5")]),
        ProductData(sku="F1-1", variants=[ProductData(sku="X")]),  # a variant cannot get variants
        ProductData(sku="NEW", images=[], categories=[], attributes=[]),
    ]
    results = apply_both(tenants, monkeypatch, changes)
    assert [r[2] for r in results] == ["updated"] * 6 + ["error", "created"]
    again = apply_both(tenants, monkeypatch, changes)
    assert [r[2] for r in again] == ["unchanged"] * 6 + ["error", "unchanged"]
    # F0 has variants: it keeps them and may get more; F0-0 cannot become a variant of another item.
    apply_both(tenants, monkeypatch, [variant_item("F0"), ProductData(sku="F9", variants=[ProductData(sku="F0")])])


def test_plan_limit_and_small_batches(tenants: tuple[LocalTenant, LocalTenant],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for t in tenants:
        t.max_products = 7
        t.save(update_fields=["max_products"])
    items = [variant_item(f"P{i}") for i in range(5)]
    results = apply_both(tenants, monkeypatch, items, batch_size=2)
    assert [r[2] for r in results] == ["created"] * 3 + ["error"] * 2
    assert results[3][3] == "plan_limit_exceeded"


def test_copy_path_under_row_level_security_scope(tenants: tuple[LocalTenant, LocalTenant],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """With the connection scoped to the tenant, the merge SQL still reads and writes that tenant's rows."""
    copy_tenant, orm_tenant = tenants
    items = [full_product(f"S{i}") for i in range(3)]
    run("orm", monkeypatch, orm_tenant, items)
    with tenant_scope(copy_tenant.pk):
        first = run("copy", monkeypatch, copy_tenant, items)
        again = run("copy", monkeypatch, copy_tenant, [full_product("S0", net="11"), *items[1:]])
    assert {r[2] for r in first} == {"created"}
    assert [r[2] for r in again] == ["updated", "unchanged", "unchanged"]
    run("orm", monkeypatch, orm_tenant, [full_product("S0", net="11"), *items[1:]])
    assert snapshot(copy_tenant) == snapshot(orm_tenant)


def test_large_call_takes_the_copy_path(tenants: tuple[LocalTenant, LocalTenant],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A call of COPY_MIN_ITEMS items or more is merged in SQL, not through bulk_create."""
    copy_tenant, _ = tenants
    used: list[int] = []
    original = upsert._upsert_batch_copy

    def spy(tenant: LocalTenant, batch: Any, cause: str) -> list[UpsertResult]:
        used.append(len(batch))
        return original(tenant, batch, cause)

    monkeypatch.setattr(upsert, "_upsert_batch_copy", spy)
    items = [variant_item(f"L{i}") for i in range(upsert.COPY_MIN_ITEMS)]
    results = do_bulk_upsert_products(copy_tenant, items, actor=ACTOR)
    assert used == [upsert.COPY_MIN_ITEMS]
    assert {r.outcome for r in results} == {"created"}
    assert Product.objects.for_tenant(copy_tenant).count() == 2 * upsert.COPY_MIN_ITEMS
