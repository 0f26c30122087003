"""Every catalog write. Callers (connectors, API, commands, tests) never save catalog models themselves.

Product writes go through one set-based engine (:mod:`bindery.catalog.upsert`), so the single
and bulk paths write the same rows and change logs, bump ``modified_at`` the same way and
enforce the plan limit in one place.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from bindery.catalog.access import access_product_by_id
from bindery.catalog.errors import CatalogError, CatalogErrorCode
from bindery.catalog.models import (
    Category,
    PriceList,
    PriceListRelationship,
    Product,
    StockChangeLog,
    StockLevel,
    StockMovement,
    Warehouse,
    WarehouseKind,
)
from bindery.catalog.models.categories import PATH_SEPARATOR
from bindery.catalog.payloads import (
    Amount,
    CleanProduct,
    PriceData,
    ProductData,
    StockData,
    check_amount,
    check_choice,
    check_currency,
    check_path_key,
    check_product,
    check_products,
    check_tags,
    check_text,
)
from bindery.catalog.statistics import refresh_statistics
from bindery.catalog.upsert import BATCH_SIZE, Outcome, UpsertResult, upsert_clean_items
from bindery.control.actors import actor_label
from bindery.control.models import LocalTenant
from bindery.control.routers import HOST
from bindery.ops.collector import collector_paused

logger = logging.getLogger(__name__)


def _raise_if_failed(result: UpsertResult) -> UpsertResult:
    if result.outcome == Outcome.ERROR:
        assert result.code is not None
        raise CatalogError(result.code, result.message, field=result.field)
    return result


def do_upsert_product(tenant: LocalTenant, data: ProductData, *, actor: Any) -> UpsertResult:
    """Create or update one product (and its variants) by SKU in one transaction; raise CatalogError if refused."""
    clean = check_product(data)
    [result] = upsert_clean_items(tenant, [(0, clean)], cause=actor_label(actor))
    return _raise_if_failed(result)


def check_unique_skus(items: Sequence[CleanProduct | None]) -> dict[int, CatalogError]:
    """Return an error for every item sharing a SKU with another item: which one is right is unknowable."""
    counts = Counter(sku for item in items if item is not None for sku in item.all_skus())
    errors: dict[int, CatalogError] = {}
    for index, item in enumerate(items):
        if item is None:
            continue
        for node in (item, *item.variants):
            if counts[node.sku] > 1:
                errors[index] = CatalogError(CatalogErrorCode.DUPLICATE_SKU,
                                             f"SKU {node.sku!r} appears in more than one item of this payload",
                                             field=node.prefix + "sku")
                break
    return errors


def do_bulk_upsert_products(tenant: LocalTenant, items: Iterable[ProductData], *, actor: Any,
                            batch_size: int = BATCH_SIZE) -> list[UpsertResult]:
    """Upsert many products set-based; return one result per item, in input order.

    A refused item (bad input, duplicated SKU, unknown warehouse, over the plan limit, refused by
    the database) gets an error result naming the field and writes nothing; the others proceed.
    Batches of ``batch_size`` items are written with ``bulk_create``/``bulk_update``.
    """
    with collector_paused():  # decision 0009
        return _bulk_upsert_products(tenant, items, actor=actor, batch_size=batch_size)


def _bulk_upsert_products(tenant: LocalTenant, items: Iterable[ProductData], *, actor: Any,
                          batch_size: int) -> list[UpsertResult]:
    payloads = list(items)
    results: dict[int, UpsertResult] = {}
    cleaned: list[CleanProduct | None] = []
    for index, (data, checked) in enumerate(zip(payloads, check_products(payloads), strict=True)):
        if isinstance(checked, CatalogError):
            cleaned.append(None)
            results[index] = UpsertResult.failed(index, str(getattr(data, "sku", ""))[:100], checked)
        else:
            cleaned.append(checked)
    for index, duplicate in check_unique_skus(cleaned).items():
        results[index] = UpsertResult.failed(index, payloads[index].sku, duplicate)
    good = [(i, item) for i, item in enumerate(cleaned) if item is not None and i not in results]
    for result in upsert_clean_items(tenant, good, cause=actor_label(actor), batch_size=batch_size):
        results[result.index] = result
    counts = Counter(r.outcome for r in results.values())
    if counts[Outcome.CREATED] or counts[Outcome.UPDATED]:
        refresh_statistics()  # a large load leaves the planner's statistics stale (catalog/statistics.py)
    logger.info("catalog bulk upsert", extra={"event": "catalog.bulk_upsert", "tenant": tenant.slug,
                                              "actor": actor_label(actor),
                                              # prefixed: "created" is a reserved LogRecord attribute
                                              **{f"items_{k}": v for k, v in counts.items()}})
    return [results[i] for i in range(len(payloads))]


def do_set_stock(tenant: LocalTenant, product: Product, quantity: Amount, *, warehouse: Warehouse | None,
                 actor: Any) -> UpsertResult:
    """Set a product's stock in a warehouse, or its overall availability when ``warehouse`` is None.

    Logs the change and bumps the product's ``modified_at`` only if the quantity changed.
    """
    if warehouse is None:
        data = ProductData(sku=product.sku, quantity_available=quantity)
    else:
        data = ProductData(sku=product.sku, stock=[StockData(warehouse=warehouse.key, quantity=quantity)])
    return do_upsert_product(tenant, data, actor=actor)


def do_set_price(tenant: LocalTenant, product: Product, price_list: PriceList, *, net: Amount | None = None,
                 gross: Amount | None = None, vat_rate: Amount = 0, min_quantity: Amount = 1,
                 actor: Any) -> UpsertResult:
    """Set one price of a product (net or gross or both); logs and bumps ``modified_at`` only on change."""
    price = PriceData(price_list=price_list.name, net=net, gross=gross, vat_rate=vat_rate, min_quantity=min_quantity)
    return do_upsert_product(tenant, ProductData(sku=product.sku, prices=[price]), actor=actor)


def do_delete_product(tenant: LocalTenant, product: Product, *, actor: Any) -> int:
    """Mark a product and its variants deleted (logically: bindings and history stay); return rows changed."""
    with transaction.atomic(using=HOST):
        product = access_product_by_id(tenant, product.pk, for_write=True)
        changed = Product.objects.for_tenant(tenant).filter(
            Q(pk=product.pk) | Q(parent_id=product.pk), deleted=False,
        ).update(deleted=True, modified_at=timezone.now())
    if changed:
        logger.info("product deleted", extra={"event": "catalog.product_deleted", "tenant": tenant.slug,
                                              "sku": product.sku, "rows": changed, "actor": actor_label(actor)})
    return changed


def do_create_category(tenant: LocalTenant, path_key: str, *, language: str = "", description_html: str = "",
                       selection_tags: Sequence[str] = (), actor: Any) -> Category:
    """Create a category by path key (``"A|B|C"``), creating missing ancestors; refuse an existing one."""
    path_key = check_path_key(path_key, "path_key")
    language = check_text(language, "language", max_length=10)
    tags = check_tags(selection_tags, "selection_tags")
    names = path_key.split(PATH_SEPARATOR)
    with transaction.atomic(using=HOST):
        existing = {c.path_key: c for c in Category.objects.for_tenant(tenant).filter(
            language=language, path_key__in=[PATH_SEPARATOR.join(names[:n]) for n in range(1, len(names) + 1)])}
        if path_key in existing:
            raise CatalogError(CatalogErrorCode.ALREADY_EXISTS, f"category {path_key!r} exists", field="path_key")
        parent: Category | None = None
        for n in range(1, len(names) + 1):
            key = PATH_SEPARATOR.join(names[:n])
            category = existing.get(key)
            if category is None:
                category = Category(tenant=tenant, parent=parent, name=names[n - 1], language=language, path_key=key)
                if key == path_key:
                    category.description_html = description_html
                    category.selection_tags = tags
                category.save()
            parent = category
    assert parent is not None
    logger.info("category created", extra={"event": "catalog.category_created", "tenant": tenant.slug,
                                           "actor": actor_label(actor)})
    return parent


def do_create_warehouse(tenant: LocalTenant, key: str, *, name: str = "", kind: str = WarehouseKind.OWN,
                        actor: Any) -> Warehouse:
    key = check_text(key, "key", max_length=100, required=True)
    warehouse = Warehouse(tenant=tenant, key=key, name=check_text(name or key, "name", max_length=100),
                          kind=check_choice(kind, "kind", WarehouseKind))
    try:
        with transaction.atomic(using=HOST):
            warehouse.save()
    except IntegrityError:
        raise CatalogError(CatalogErrorCode.ALREADY_EXISTS, f"a warehouse with key {key!r} exists",
                           field="key") from None
    logger.info("warehouse created", extra={"event": "catalog.warehouse_created", "tenant": tenant.slug,
                                            "actor": actor_label(actor)})
    return warehouse


def do_create_price_list(tenant: LocalTenant, name: str, currency: str, *,
                         relationship: str = PriceListRelationship.OWN, channel_keys: dict[str, str] | None = None,
                         actor: Any) -> PriceList:
    price_list = PriceList(tenant=tenant, name=check_text(name, "name", max_length=100, required=True),
                           currency=check_currency(currency),
                           relationship=check_choice(relationship, "relationship", PriceListRelationship),
                           channel_keys=dict(channel_keys or {}))
    try:
        with transaction.atomic(using=HOST):
            price_list.save()
    except IntegrityError:
        raise CatalogError(CatalogErrorCode.ALREADY_EXISTS, f"a price list named {name!r} exists",
                           field="name") from None
    logger.info("price list created", extra={"event": "catalog.price_list_created", "tenant": tenant.slug,
                                             "actor": actor_label(actor)})
    return price_list


@dataclass(frozen=True)
class StockMovementData:
    """A relative stock change: ``quantity`` is signed (a sale is negative); ``warehouse`` empty =
    the product's overall availability. ``reference`` names its cause uniquely (an order row)."""

    reference: str
    sku: str
    quantity: Amount
    warehouse: str = ""


class MovementOutcome(StrEnum):
    APPLIED = "applied"
    ALREADY_APPLIED = "already_applied"
    UNKNOWN_SKU = "unknown_sku"
    UNKNOWN_WAREHOUSE = "unknown_warehouse"


_MOVEMENT_ATTEMPTS = 3


def do_apply_stock_movements(tenant: LocalTenant, movements: Sequence[StockMovementData], *,
                             actor: Any) -> list[MovementOutcome]:
    """Apply relative stock changes, each exactly once by its reference; return one outcome per item.

    In one transaction: references already recorded are skipped, products and stock rows are
    locked, quantities change by the given amounts (stock may go negative: an oversell must stay
    visible), each change is logged and bumps the product's ``modified_at`` (so differential
    publishes send the new quantity), and the references are recorded. The unique reference
    decides races: a concurrent download applying the same row makes this transaction fail and
    retry, and the retry finds the reference recorded.
    """
    cleaned = []
    for index, item in enumerate(movements):
        reference = check_text(item.reference, f"[{index}].reference", max_length=200, required=True)
        sku = check_text(item.sku, f"[{index}].sku", max_length=100, required=True)
        warehouse = check_text(item.warehouse, f"[{index}].warehouse", max_length=100)
        quantity = check_amount(item.quantity, f"[{index}].quantity", negative_ok=True)
        cleaned.append((reference, sku, warehouse, quantity))
    if len({c[0] for c in cleaned}) != len(cleaned):
        raise CatalogError(CatalogErrorCode.INVALID_VALUE, "a reference appears twice in one call", field="reference")
    cause = actor_label(actor)[:100]
    for attempt in range(1, _MOVEMENT_ATTEMPTS + 1):
        try:
            with transaction.atomic(using=HOST):
                return _apply_movements(tenant, cleaned, cause)
        except IntegrityError:
            if attempt == _MOVEMENT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _apply_movements(tenant: LocalTenant, cleaned: list[tuple[str, str, str, Decimal]],
                     cause: str) -> list[MovementOutcome]:
    done = set(StockMovement.objects.for_tenant(tenant).filter(
        reference__in=[c[0] for c in cleaned]).values_list("reference", flat=True))
    products = {p.sku: p for p in Product.objects.for_tenant(tenant).select_for_update().filter(
        sku__in={c[1] for c in cleaned if c[0] not in done}).order_by("pk")}
    warehouses = {w.key: w for w in Warehouse.objects.for_tenant(tenant).filter(
        key__in={c[2] for c in cleaned if c[2]})}
    levels = {(lvl.product_id, lvl.warehouse_id): lvl for lvl in StockLevel.objects.for_tenant(tenant)
              .select_for_update().filter(product__in=list(products.values()),
                                          warehouse__in=list(warehouses.values())).order_by("pk")}
    now = timezone.now()
    outcomes: list[MovementOutcome] = []
    records: list[StockMovement] = []
    logs: list[StockChangeLog] = []
    touched: dict[Any, Product] = {}
    for reference, sku, warehouse_key, quantity in cleaned:
        if reference in done:
            outcomes.append(MovementOutcome.ALREADY_APPLIED)
            continue
        product = products.get(sku)
        if product is None:
            outcomes.append(MovementOutcome.UNKNOWN_SKU)
            continue
        warehouse = warehouses.get(warehouse_key) if warehouse_key else None
        if warehouse_key and warehouse is None:
            outcomes.append(MovementOutcome.UNKNOWN_WAREHOUSE)
            continue
        if warehouse is None:
            old = product.quantity_available
            product.quantity_available = old + quantity
            new = product.quantity_available
        else:
            level = levels.get((product.pk, warehouse.pk))
            if level is None:
                level = StockLevel(tenant=tenant, product=product, warehouse=warehouse, quantity=Decimal(0))
                levels[(product.pk, warehouse.pk)] = level
            old = level.quantity
            level.quantity = old + quantity
            new = level.quantity
            level.modified_at = now
            level.save()
        logs.append(StockChangeLog(tenant=tenant, sku=product.sku, product=product, warehouse=warehouse,
                                   warehouse_key=warehouse_key, old_quantity=old, new_quantity=new, cause=cause))
        records.append(StockMovement(tenant=tenant, reference=reference, sku=sku, warehouse_key=warehouse_key,
                                     quantity=quantity))
        product.modified_at = now
        touched[product.pk] = product
        outcomes.append(MovementOutcome.APPLIED)
    if touched:
        Product.objects.for_tenant(tenant).bulk_update(list(touched.values()), ["quantity_available", "modified_at"])
    StockChangeLog.objects.bulk_create(logs)
    StockMovement.objects.bulk_create(records)
    if records:
        logger.info("stock movements applied", extra={"event": "catalog.stock_movements", "tenant": tenant.slug,
                                                      "applied": len(records), "actor": cause})
    return outcomes
