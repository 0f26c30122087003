"""The set-based product upsert behind both ``do_upsert_product`` and ``do_bulk_upsert_products``.

One engine for one item and for thousands, so both paths write exactly the same rows and
change logs. For each batch, inside one transaction:

1. load, with a few set-based queries, every product the batch names (rows locked on
   PostgreSQL), their prices, stock, links and images, and the warehouses, price lists,
   categories and attributes referenced;
2. check each item against that state (unknown warehouse or price list, variant nesting, plan
   limit); a refused item is dropped before anything is written, so it leaves nothing partial;
3. plan every change in memory, comparing with what is stored: unchanged values write nothing,
   which makes a repeated upsert a no-op (no change-log rows, ``modified_at`` untouched);
4. write with ``bulk_create``/``bulk_update`` (``executemany`` on SQLite).

If the database refuses a multi-item batch (a concurrent writer created the same SKU, a
constraint fired), it is rolled back and its items are replayed one transaction each, so only the
offending item fails. A single item is thus always exactly one transaction.

On PostgreSQL, a call with at least ``COPY_MIN_ITEMS`` items takes the set-based fast path of
:mod:`bindery.catalog.bulk_pg` (``COPY`` into staging tables, merge in SQL) in batches of at
least ``COPY_BATCH_SIZE``: the same checks (``_check_against_state``), the same rows, change
logs, ``modified_at`` bumps and per-item results, without building an ORM object per row. Small
calls (one product from the API or a connector) stay on the ORM path, which is fast enough for
them, and so does the one-item replay after a refused batch.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from django.db import DatabaseError, IntegrityError, connections, transaction
from django.db.models import Model
from django.utils import timezone

from bindery.catalog import bulk_pg
from bindery.catalog.errors import CatalogError, CatalogErrorCode
from bindery.catalog.locks import key_share
from bindery.catalog.models import (
    Attribute,
    AttributeValue,
    Category,
    Price,
    PriceChangeLog,
    PriceList,
    Product,
    ProductAttributeValue,
    ProductCategory,
    ProductImage,
    StockChangeLog,
    StockLevel,
    Warehouse,
)
from bindery.catalog.models.categories import PATH_SEPARATOR
from bindery.catalog.payloads import CleanImage, CleanProduct
from bindery.control.models import LocalTenant
from bindery.control.routers import HOST

logger = logging.getLogger(__name__)
K = TypeVar("K")
M = TypeVar("M", bound=Model)

BATCH_SIZE = 500
# COPY's fixed cost per batch (staging setup, one statement per table) wants large batches;
# results do not depend on the batch size.
COPY_MIN_ITEMS = 100
COPY_BATCH_SIZE = 5000
PRODUCT_FIELDS = ["name", "language", "barcode", "barcode_type", "manufacturer", "mpn", "supplier",
                  "supplier_code", "description_html", "short_description", "notes", "weight", "weight_unit",
                  "length", "width", "height", "dimension_unit", "quantity_available", "quantity_arriving",
                  "featured", "deleted", "origin_node_id", "tags", "parent", "modified_at"]
PRICE_FIELDS = ["net", "gross", "vat_rate", "max_quantity", "discounted_net", "discounted_gross",
                "discount_applies", "discount_from", "discount_to", "valid_from", "valid_to", "modified_at"]


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    ERROR = "error"


@dataclass(frozen=True)
class UpsertResult:
    """What happened to one item; ``code``/``message``/``field`` are set for errors."""

    index: int
    sku: str
    outcome: Outcome
    product_id: uuid.UUID | None = None
    code: CatalogErrorCode | None = None
    message: str = ""
    field: str | None = None

    @classmethod
    def failed(cls, index: int, sku: str, error: CatalogError) -> UpsertResult:
        return cls(index=index, sku=sku, outcome=Outcome.ERROR, code=error.code, message=error.message,
                   field=error.field)


@dataclass
class _Writes:
    """Everything one batch will write, accumulated item by item."""

    categories: list[Category] = field(default_factory=list)
    attributes: list[Attribute] = field(default_factory=list)
    values: list[AttributeValue] = field(default_factory=list)
    new_products: list[Product] = field(default_factory=list)
    changed_products: dict[uuid.UUID, Product] = field(default_factory=dict)
    changed_product_fields: set[str] = field(default_factory=set)
    new_prices: list[Price] = field(default_factory=list)
    changed_prices: list[Price] = field(default_factory=list)
    new_stock: list[StockLevel] = field(default_factory=list)
    changed_stock: list[StockLevel] = field(default_factory=list)
    new_category_links: list[ProductCategory] = field(default_factory=list)
    gone_category_links: list[uuid.UUID] = field(default_factory=list)
    new_value_links: list[ProductAttributeValue] = field(default_factory=list)
    gone_value_links: list[uuid.UUID] = field(default_factory=list)
    images_replaced_for: list[uuid.UUID] = field(default_factory=list)
    new_images: list[ProductImage] = field(default_factory=list)
    stock_logs: list[StockChangeLog] = field(default_factory=list)
    price_logs: list[PriceChangeLog] = field(default_factory=list)


class _BatchState:
    """The stored state a batch needs, loaded set-based, plus lookups that create in memory."""

    def __init__(self, tenant: LocalTenant, items: Sequence[CleanProduct]) -> None:
        self.tenant = tenant
        skus = {sku for item in items for sku in item.all_skus()}
        self.products: dict[str, Product] = {
            p.sku: p for p in Product.objects.for_tenant(tenant).filter(sku__in=skus).select_for_update()
        }
        ids = [p.pk for p in self.products.values()]
        self.has_variants: set[uuid.UUID] = set(
            Product.objects.for_tenant(tenant).filter(parent_id__in=ids).values_list("parent_id", flat=True)
        )
        self.prices: dict[tuple[uuid.UUID, uuid.UUID, Decimal], Price] = {
            (p.product_id, p.price_list_id, p.min_quantity): p
            for p in Price.objects.for_tenant(tenant).filter(product_id__in=ids)
        }
        self.stock: dict[tuple[uuid.UUID, uuid.UUID], StockLevel] = {
            (s.product_id, s.warehouse_id): s for s in StockLevel.objects.for_tenant(tenant).filter(product_id__in=ids)
        }
        self.category_links: dict[uuid.UUID, dict[uuid.UUID, uuid.UUID]] = defaultdict(dict)
        for link_id, product_id, category_id in ProductCategory.objects.for_tenant(tenant).filter(
                product_id__in=ids).values_list("id", "product_id", "category_id"):
            self.category_links[product_id][category_id] = link_id
        self.value_links: dict[uuid.UUID, dict[uuid.UUID, uuid.UUID]] = defaultdict(dict)
        for link_id, product_id, value_id in ProductAttributeValue.objects.for_tenant(tenant).filter(
                product_id__in=ids).values_list("id", "product_id", "value_id"):
            self.value_links[product_id][value_id] = link_id
        self.images: dict[uuid.UUID, list[tuple[str, str, int, list[str]]]] = defaultdict(list)
        for image in ProductImage.objects.for_tenant(tenant).filter(product_id__in=ids).order_by("position", "url"):
            self.images[image.product_id].append((image.url, image.thumbnail_url, image.position, image.tags))

        def wanted(attr: str) -> set[str]:
            return {key for item in items for node in (item, *item.variants) for key in (getattr(node, attr) or ())}

        self.warehouses = _present(Warehouse, {
            w.key: w for w in Warehouse.objects.for_tenant(tenant).filter(key__in=wanted("stock"))})
        self.price_lists = _present(PriceList, {
            pl.name: pl for pl in PriceList.objects.for_tenant(tenant).filter(
                name__in={p.price_list for item in items for node in (item, *item.variants) for p in node.prices or ()})
        })
        paths: set[str] = set()
        for path in wanted("categories"):
            names = path.split(PATH_SEPARATOR)
            paths.update(PATH_SEPARATOR.join(names[:n]) for n in range(1, len(names) + 1))
        self.categories = {(c.language, c.path_key): c
                           for c in Category.objects.for_tenant(tenant).filter(path_key__in=paths)}
        attr_names = {a[0] for item in items for node in (item, *item.variants) for a in node.attributes or ()}
        self.attributes = {a.name: a for a in Attribute.objects.for_tenant(tenant).filter(name__in=attr_names)}
        self.values = {(v.attribute_id, v.value): v for v in AttributeValue.objects.for_tenant(tenant).filter(
            attribute_id__in=[a.pk for a in self.attributes.values()])}
        self.product_count: int | None = None
        if tenant.max_products is not None:
            self.product_count = Product.objects.for_tenant(tenant).count()

    def category(self, language: str, path_key: str, writes: _Writes) -> Category:
        """Return the category for a path key, creating it and any missing ancestors in memory."""
        existing = self.categories.get((language, path_key))
        if existing is not None:
            return existing
        names = path_key.split(PATH_SEPARATOR)
        parent = self.category(language, PATH_SEPARATOR.join(names[:-1]), writes) if len(names) > 1 else None
        created = Category(tenant=self.tenant, parent=parent, name=names[-1], language=language, path_key=path_key)
        self.categories[(language, path_key)] = created
        writes.categories.append(created)  # ancestors are appended first, so inserts respect the tree
        return created

    def attribute_value(self, name: str, value: str, kind: str, writes: _Writes) -> AttributeValue:
        attribute = self.attributes.get(name)
        if attribute is None:
            attribute = self.attributes[name] = Attribute(tenant=self.tenant, name=name, kind=kind)
            writes.attributes.append(attribute)
        found = self.values.get((attribute.pk, value))
        if found is None:
            found = self.values[(attribute.pk, value)] = AttributeValue(tenant=self.tenant, attribute=attribute,
                                                                        value=value)
            writes.values.append(found)
        return found


def _present(model: type[Model], rows: dict[K, M]) -> dict[K, M]:
    """Lock referenced rows until commit (no foreign-key constraint does it, decision 0004); keep those still there."""
    present = key_share(model, [row.pk for row in rows.values()])
    return {key: row for key, row in rows.items() if row.pk in present}


def _check_against_state(item: CleanProduct, state: _BatchState | bulk_pg.BatchState) -> int:
    """Raise a coded error if the item cannot apply to the stored state; return how many products it adds."""
    stored = state.products.get(item.sku)
    if item.variants and stored is not None and stored.parent_id is not None:
        raise CatalogError(CatalogErrorCode.NESTED_VARIANT,
                           f"{item.sku!r} is a variant, so it cannot have variants", field=item.prefix + "variants")
    for variant in item.variants:
        stored_variant = state.products.get(variant.sku)
        if stored_variant is not None and stored_variant.pk in state.has_variants:
            raise CatalogError(CatalogErrorCode.NESTED_VARIANT,
                               f"{variant.sku!r} has variants, so it cannot become a variant",
                               field=variant.prefix + "sku")
    for node in (item, *item.variants):
        for key, (_, where) in (node.stock or {}).items():
            if key not in state.warehouses:
                raise CatalogError(CatalogErrorCode.UNKNOWN_WAREHOUSE, f"no warehouse with key {key!r}",
                                   field=where + ".warehouse")
        for price in node.prices or ():
            if price.price_list not in state.price_lists:
                raise CatalogError(CatalogErrorCode.UNKNOWN_PRICE_LIST, f"no price list named {price.price_list!r}",
                                   field=price.field + ".price_list")
    added = sum(1 for sku in item.all_skus() if sku not in state.products)
    limit = state.tenant.max_products
    if added and limit is not None and state.product_count is not None:
        if state.product_count + added > limit:
            raise CatalogError(
                CatalogErrorCode.PLAN_LIMIT_EXCEEDED,
                f"the plan allows {limit:,} products; {state.product_count:,} exist and this item adds {added}",
                field=item.prefix + "sku",
            )
        state.product_count += added
    return added


def _plan_node(node: CleanProduct, parent: Product | None, state: _BatchState, writes: _Writes,
               now: Any, cause: str) -> tuple[Product, bool, bool]:
    """Plan one product's writes; return (product, created, changed)."""
    tenant = state.tenant
    product = state.products.get(node.sku)
    created = product is None
    changed = False
    old_available: Decimal | None = None
    if product is None:
        product = Product(tenant=tenant, sku=node.sku, parent=parent, created_at=now, modified_at=now, **node.fields)
        state.products[node.sku] = product
        writes.new_products.append(product)
        if "quantity_available" in node.fields:
            _stock_log(writes, tenant, product, None, None, node.fields["quantity_available"], cause)
    else:
        old_available = product.quantity_available
        for name, value in node.fields.items():
            if getattr(product, name) != value:
                setattr(product, name, value)
                writes.changed_product_fields.add(name)
                changed = True
        if parent is not None and product.parent_id != parent.pk:
            product.parent = parent
            writes.changed_product_fields.add("parent")
            changed = True
        if old_available != product.quantity_available:
            _stock_log(writes, tenant, product, None, old_available, product.quantity_available, cause)
    children_changed = _plan_prices(node, product, created, state, writes, cause)
    children_changed |= _plan_stock(node, product, created, state, writes, cause)
    children_changed |= _plan_links(node, product, state, writes)
    children_changed |= _plan_images(node, product, created, state, writes)
    if not created and (changed or children_changed):
        product.modified_at = now
        writes.changed_products[product.pk] = product
    return product, created, changed or children_changed


def _stock_log(writes: _Writes, tenant: LocalTenant, product: Product, warehouse: Warehouse | None,
               old: Decimal | None, new: Decimal, cause: str) -> None:
    writes.stock_logs.append(StockChangeLog(
        tenant=tenant, sku=product.sku, product=product, warehouse=warehouse,
        warehouse_key=warehouse.key if warehouse else "", old_quantity=old, new_quantity=new, cause=cause))


def _plan_prices(node: CleanProduct, product: Product, created: bool, state: _BatchState, writes: _Writes,
                 cause: str) -> bool:
    changed = False
    for clean in node.prices or ():
        price_list = state.price_lists[clean.price_list]
        stored = None if created else state.prices.get((product.pk, price_list.pk, clean.min_quantity))
        old_net = old_gross = None
        if stored is None:
            stored = Price(tenant=state.tenant, product=product, price_list=price_list,
                           min_quantity=clean.min_quantity, **clean.values)
            state.prices[(product.pk, price_list.pk, clean.min_quantity)] = stored
            writes.new_prices.append(stored)
        else:
            if all(getattr(stored, k) == v for k, v in clean.values.items()):
                continue
            old_net, old_gross = stored.net, stored.gross
            for k, v in clean.values.items():
                setattr(stored, k, v)
            stored.modified_at = timezone.now()
            writes.changed_prices.append(stored)
        changed = True
        if (old_net, old_gross) != (stored.net, stored.gross):
            writes.price_logs.append(PriceChangeLog(
                tenant=state.tenant, sku=product.sku, product=product, price_list=price_list,
                price_list_name=price_list.name, currency=price_list.currency, min_quantity=clean.min_quantity,
                old_net=old_net, old_gross=old_gross, new_net=stored.net, new_gross=stored.gross, cause=cause))
    return changed


def _plan_stock(node: CleanProduct, product: Product, created: bool, state: _BatchState, writes: _Writes,
                cause: str) -> bool:
    changed = False
    for key, (quantity, _) in (node.stock or {}).items():
        warehouse = state.warehouses[key]
        stored = None if created else state.stock.get((product.pk, warehouse.pk))
        if stored is None:
            stored = StockLevel(tenant=state.tenant, product=product, warehouse=warehouse, quantity=quantity)
            state.stock[(product.pk, warehouse.pk)] = stored
            writes.new_stock.append(stored)
            _stock_log(writes, state.tenant, product, warehouse, None, quantity, cause)
        elif stored.quantity != quantity:
            _stock_log(writes, state.tenant, product, warehouse, stored.quantity, quantity, cause)
            stored.quantity = quantity
            stored.modified_at = timezone.now()
            writes.changed_stock.append(stored)
        else:
            continue
        changed = True
    return changed


def _plan_links(node: CleanProduct, product: Product, state: _BatchState, writes: _Writes) -> bool:
    changed = False
    if node.categories is not None:
        language = node.fields.get("language", product.language)
        wanted = {state.category(language, key, writes).pk for key in node.categories}
        current = state.category_links[product.pk]
        for category_id in wanted - current.keys():
            link = ProductCategory(tenant=state.tenant, product=product, category_id=category_id)
            current[category_id] = link.pk
            writes.new_category_links.append(link)
            changed = True
        for category_id in set(current) - wanted:
            writes.gone_category_links.append(current.pop(category_id))
            changed = True
    if node.attributes is not None:
        wanted_values = {state.attribute_value(name, value, kind, writes).pk for name, value, kind in node.attributes}
        current = state.value_links[product.pk]
        for value_id in wanted_values - current.keys():
            value_link = ProductAttributeValue(tenant=state.tenant, product=product, value_id=value_id)
            current[value_id] = value_link.pk
            writes.new_value_links.append(value_link)
            changed = True
        for value_id in set(current) - wanted_values:
            writes.gone_value_links.append(current.pop(value_id))
            changed = True
    return changed


def _image_key(image: CleanImage) -> tuple[str, str, int, list[str]]:
    return (image.url, image.thumbnail_url, image.position, image.tags)


def _plan_images(node: CleanProduct, product: Product, created: bool, state: _BatchState, writes: _Writes) -> bool:
    if node.images is None:
        return False
    wanted = sorted((_image_key(i) for i in node.images), key=lambda k: (k[2], k[0]))
    if state.images[product.pk] == wanted:
        return False
    # The list is small and replaced whole: simpler and no slower than diffing positions.
    if not created and state.images[product.pk]:
        writes.images_replaced_for.append(product.pk)
    state.images[product.pk] = wanted
    writes.new_images.extend(
        ProductImage(tenant=state.tenant, product=product, url=url, thumbnail_url=thumb, position=pos, tags=tags)
        for url, thumb, pos, tags in wanted)
    return True


def _lock_link_targets(writes: _Writes) -> None:
    """Lock the stored categories and values new links point to; refuse the batch if one vanished."""
    for model, wanted, created in (
            (Category, {link.category_id for link in writes.new_category_links}, {c.pk for c in writes.categories}),
            (AttributeValue, {link.value_id for link in writes.new_value_links}, {v.pk for v in writes.values})):
        stored = wanted - created
        if stored - key_share(model, stored):
            raise IntegrityError(f"a referenced {model.__name__} was deleted concurrently")


def _write(tenant: LocalTenant, writes: _Writes) -> None:
    _lock_link_targets(writes)
    def create(model: Any, rows: list[Any]) -> None:
        if rows:
            model.objects.bulk_create(rows, batch_size=BATCH_SIZE)

    create(Category, writes.categories)
    create(Attribute, writes.attributes)
    create(AttributeValue, writes.values)
    # Parents are planned before their variants, so insertion order satisfies the self-reference.
    create(Product, writes.new_products)
    if writes.changed_products:
        fields = [f for f in PRODUCT_FIELDS if f in writes.changed_product_fields or f == "modified_at"]
        Product.objects.for_tenant(tenant).bulk_update(list(writes.changed_products.values()), fields,
                                                       batch_size=BATCH_SIZE)
    create(Price, writes.new_prices)
    if writes.changed_prices:
        Price.objects.for_tenant(tenant).bulk_update(writes.changed_prices, PRICE_FIELDS, batch_size=BATCH_SIZE)
    create(StockLevel, writes.new_stock)
    if writes.changed_stock:
        StockLevel.objects.for_tenant(tenant).bulk_update(writes.changed_stock, ["quantity", "modified_at"],
                                                          batch_size=BATCH_SIZE)
    if writes.gone_category_links:
        ProductCategory.objects.for_tenant(tenant).filter(pk__in=writes.gone_category_links).delete()
    create(ProductCategory, writes.new_category_links)
    if writes.gone_value_links:
        ProductAttributeValue.objects.for_tenant(tenant).filter(pk__in=writes.gone_value_links).delete()
    create(ProductAttributeValue, writes.new_value_links)
    if writes.images_replaced_for:
        ProductImage.objects.for_tenant(tenant).filter(product_id__in=writes.images_replaced_for).delete()
    create(ProductImage, writes.new_images)
    create(StockChangeLog, writes.stock_logs)
    create(PriceChangeLog, writes.price_logs)


def _upsert_batch(tenant: LocalTenant, batch: Sequence[tuple[int, CleanProduct]], cause: str) -> list[UpsertResult]:
    results: list[UpsertResult] = []
    with transaction.atomic(using=HOST):
        state = _BatchState(tenant, [item for _, item in batch])
        writes = _Writes()
        now = timezone.now()
        for index, item in batch:
            try:
                _check_against_state(item, state)
            except CatalogError as error:
                results.append(UpsertResult.failed(index, item.sku, error))
                continue
            product, created, changed = _plan_node(item, None, state, writes, now, cause)
            for variant in item.variants:
                _, v_created, v_changed = _plan_node(variant, product, state, writes, now, cause)
                changed = changed or v_created or v_changed
            outcome = Outcome.CREATED if created else Outcome.UPDATED if changed else Outcome.UNCHANGED
            results.append(UpsertResult(index=index, sku=item.sku, outcome=outcome, product_id=product.pk))
        _write(tenant, writes)
    return results


def _upsert_batch_copy(tenant: LocalTenant, batch: Sequence[tuple[int, CleanProduct]],
                       cause: str) -> list[UpsertResult]:
    """The PostgreSQL fast path: same checks and results as ``_upsert_batch``, writes merged in SQL."""
    results: list[UpsertResult] = []
    with transaction.atomic(using=HOST):
        state = bulk_pg.BatchState.load(tenant, [item for _, item in batch])
        accepted: list[tuple[int, CleanProduct]] = []
        for index, item in batch:
            try:
                _check_against_state(item, state)
            except CatalogError as error:
                results.append(UpsertResult.failed(index, item.sku, error))
                continue
            accepted.append((index, item))
        staged = bulk_pg.stage_nodes([item for _, item in accepted], state)
        references = bulk_pg.References(tenant)
        references.resolve(*bulk_pg.wanted_references(staged))
        rows = bulk_pg.build_staging(staged, state, references)
        changed_ids = bulk_pg.merge(tenant, rows, timezone.now(), cause)
        for (index, item), nodes, (created, changed) in zip(accepted, staged,
                                                            bulk_pg.outcomes(staged, changed_ids), strict=True):
            outcome = Outcome.CREATED if created else Outcome.UPDATED if changed else Outcome.UNCHANGED
            results.append(UpsertResult(index=index, sku=item.sku, outcome=outcome, product_id=nodes[0].pk))
    return results


def _uses_copy(item_count: int) -> bool:
    return connections[HOST].vendor == "postgresql" and item_count >= COPY_MIN_ITEMS


def upsert_clean_items(tenant: LocalTenant, items: Iterable[tuple[int, CleanProduct]], *, cause: str,
                       batch_size: int = BATCH_SIZE) -> list[UpsertResult]:
    """Upsert checked items in batches; return one result per item, in input order."""
    pending = list(items)
    results: list[UpsertResult] = []
    write_batch = _upsert_batch
    if _uses_copy(len(pending)):
        write_batch, batch_size = _upsert_batch_copy, max(batch_size, COPY_BATCH_SIZE)
    for start in range(0, len(pending), batch_size):
        batch = pending[start:start + batch_size]
        try:
            results.extend(write_batch(tenant, batch, cause))
        except DatabaseError as error:
            if len(batch) == 1:
                index, item = batch[0]
                logger.warning("catalog upsert refused by the database",
                               extra={"event": "catalog.upsert_conflict", "tenant": tenant.slug, "sku": item.sku,
                                      "error": type(error).__name__})
                results.append(UpsertResult.failed(index, item.sku, CatalogError(
                    CatalogErrorCode.CONFLICT, f"the database refused the write ({type(error).__name__}); retry",
                    field=item.prefix + "sku")))
            else:
                # Replay one item per transaction so only the offending item fails.
                for single in batch:
                    results.extend(upsert_clean_items(tenant, [single], cause=cause, batch_size=1))
    results.sort(key=lambda r: r.index)
    return results
