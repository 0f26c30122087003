"""PostgreSQL fast path for large product upserts: ``COPY`` into staging tables, then merge in SQL.

The portable engine (:mod:`bindery.catalog.upsert`) loads every stored row a batch touches into
Python, diffs model instances and writes with ``bulk_create``/``bulk_update``. That is fine for
a handful of items, but at hundreds of thousands of products building and diffing ORM objects
costs far more than the database work. Here Python only does what needs Python:

1. **check** (the same ``check_against_state`` as the portable engine): the batch's stored
   products are read (locked ``FOR UPDATE``) as plain tuples, with warehouses and price lists;
   refused items are dropped before anything is written;
2. **resolve references**: categories, attributes and attribute values are small, shared sets,
   so they are looked up and the missing ones created with the ORM, in item order;
3. **stage**: every accepted node becomes one row of ``bulk_product`` (a product field the
   payload did not give is NULL, and "NULL" means "leave as is": a given value is never NULL),
   its prices, stock, category and attribute-value links and images rows of their own staging
   table. All are filled with ``COPY`` (psycopg 3 ``cursor.copy``).

Then the rows are written set-based, per table (decision 0004):

- children of products **created in this batch** (flag ``is_new`` on every staging row) cannot
  match a stored row: one plain ``INSERT ... SELECT`` per table, and the change-log rows (old
  value NULL) from the same staging rows. These statements never read the stored tables, so
  their cost does not grow with the catalog;
- children of **stored** products are compared with the stored rows (index probes): only what
  differs is written (``IS DISTINCT FROM``), so a repeated payload writes nothing; the same
  comparison gives the change-log rows (old value from the stored row, new from staging) and
  records in ``bulk_touched`` every product whose children changed;
- last, stored products are updated where a field changed or they are in ``bulk_touched``,
  which bumps ``modified_at``; the ids it returns give the per-item outcome.

No per-row trigger runs: the high-volume rows have no foreign-key constraints (their references
are locked once per batch, :mod:`bindery.catalog.locks`) and the fence triggers are
statement-level. All of it runs in the caller's transaction, one per batch.

Semantics are those of the portable engine: prices and stock merge by key, categories,
attribute values and images replace the set, variants get their parent. Every written row
carries ``tenant_id``, so the statements work with or without a row-level-security scope.
Staging tables are temporary (per connection), created on first use and emptied per batch;
new products get ids from :func:`id_sequence`, new child rows a UUIDv7 from ``pg_temp.uuid7()``.
"""

# S608: the SQL below is assembled from table and column names taken from the models, never from
# input; every value travels as a bound parameter or through COPY.
# ruff: noqa: S608

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connections
from django.db.models import Field

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
from bindery.catalog.payloads import CleanProduct
from bindery.control.models import LocalTenant
from bindery.control.routers import HOST
from bindery.control.tenancy import new_id

# The product columns a payload can set (parent and timestamps are handled separately).
PRODUCT_COLUMNS = ["name", "language", "barcode", "barcode_type", "manufacturer", "mpn", "supplier",
                   "supplier_code", "description_html", "short_description", "notes", "weight", "weight_unit",
                   "length", "width", "height", "dimension_unit", "quantity_available", "quantity_arriving",
                   "featured", "deleted", "origin_node_id", "tags"]
PRICE_COLUMNS = ["net", "gross", "vat_rate", "max_quantity", "discounted_net", "discounted_gross",
                 "discount_applies", "discount_from", "discount_to", "valid_from", "valid_to"]

T = {name: model._meta.db_table for name, model in {
    "product": Product, "price": Price, "price_list": PriceList, "stock": StockLevel, "warehouse": Warehouse,
    "product_category": ProductCategory, "product_value": ProductAttributeValue, "image": ProductImage,
    "stock_log": StockChangeLog, "price_log": PriceChangeLog,
}.items()}


def _column_type(model: Any, name: str) -> str:
    db_type: str = model._meta.get_field(name).db_type(connections[HOST])
    return db_type


@functools.cache
def _staging_ddl() -> str:
    product_columns = ",\n".join(f"    {c} {_column_type(Product, c)}" for c in PRODUCT_COLUMNS)
    price_columns = ",\n".join(f"    {c} {_column_type(Price, c)}" for c in PRICE_COLUMNS)
    return f"""
CREATE OR REPLACE FUNCTION pg_temp.uuid7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    -- RFC 9562 version 7: 48-bit Unix milliseconds, then random bits (PostgreSQL 15 has no uuidv7()).
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) PLACING
        substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
        FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;
CREATE TEMP TABLE IF NOT EXISTS bulk_product (
    id uuid PRIMARY KEY,
    sku text NOT NULL,
    is_new boolean NOT NULL,
    parent_id uuid,
    has_categories boolean NOT NULL,
    has_attributes boolean NOT NULL,
    has_images boolean NOT NULL,
    images_changed boolean NOT NULL DEFAULT false,
{product_columns}
);
CREATE TEMP TABLE IF NOT EXISTS bulk_price (
    product_id uuid NOT NULL,
    is_new boolean NOT NULL,
    sku text NOT NULL,
    price_list_id uuid NOT NULL,
    min_quantity numeric NOT NULL,
{price_columns}
);
CREATE TEMP TABLE IF NOT EXISTS bulk_stock (product_id uuid NOT NULL, is_new boolean NOT NULL, sku text NOT NULL,
                                             warehouse_id uuid NOT NULL, quantity numeric NOT NULL);
CREATE TEMP TABLE IF NOT EXISTS bulk_category (product_id uuid NOT NULL, is_new boolean NOT NULL,
                                               category_id uuid NOT NULL);
CREATE TEMP TABLE IF NOT EXISTS bulk_value (product_id uuid NOT NULL, is_new boolean NOT NULL, value_id uuid NOT NULL);
CREATE TEMP TABLE IF NOT EXISTS bulk_image (product_id uuid NOT NULL, url text NOT NULL, thumbnail_url text NOT NULL,
                                             position integer NOT NULL, tags jsonb NOT NULL);
CREATE TEMP TABLE IF NOT EXISTS bulk_touched (product_id uuid NOT NULL);
-- Emptied explicitly rather than ON COMMIT: inside an outer transaction (tests) batches never commit.
TRUNCATE bulk_product, bulk_price, bulk_stock, bulk_category, bulk_value, bulk_image, bulk_touched;
"""


# Every statement below takes %(tenant)s, %(now)s and %(cause)s.

_TIMESTAMPS = "%(tenant)s, %(now)s, %(now)s"  # tenant_id, created_at, modified_at

_PRICE_LOG_COLUMNS = """id, tenant_id, created_at, modified_at, sku, product_id, price_list_id, price_list_name,
    currency, min_quantity, old_net, old_gross, new_net, new_gross, cause"""
_STOCK_LOG_COLUMNS = """id, tenant_id, created_at, modified_at, sku, product_id, warehouse_id, warehouse_key,
    old_quantity, new_quantity, cause"""

# Children of products created in this batch cannot match a stored row: a plain INSERT, and the
# change-log rows (old value NULL) straight from the same staging rows. No join with the stored
# table, so the cost does not grow with the catalog.
INSERT_NEW_PRICES = f"""
WITH inserted AS (
    INSERT INTO {T['price']} (id, tenant_id, created_at, modified_at, product_id, price_list_id, min_quantity,
                              {', '.join(PRICE_COLUMNS)})
    SELECT pg_temp.uuid7(), {_TIMESTAMPS}, product_id, price_list_id, min_quantity, {', '.join(PRICE_COLUMNS)}
    FROM bulk_price WHERE is_new
)
INSERT INTO {T['price_log']} ({_PRICE_LOG_COLUMNS})
SELECT pg_temp.uuid7(), {_TIMESTAMPS}, s.sku, s.product_id, s.price_list_id, pl.name, pl.currency, s.min_quantity,
       NULL, NULL, s.net, s.gross, %(cause)s
FROM bulk_price s JOIN {T['price_list']} pl ON pl.id = s.price_list_id
WHERE s.is_new
"""

INSERT_NEW_STOCK = f"""
WITH inserted AS (
    INSERT INTO {T['stock']} (id, tenant_id, created_at, modified_at, product_id, warehouse_id, quantity)
    SELECT pg_temp.uuid7(), {_TIMESTAMPS}, product_id, warehouse_id, quantity FROM bulk_stock WHERE is_new
)
INSERT INTO {T['stock_log']} ({_STOCK_LOG_COLUMNS})
SELECT pg_temp.uuid7(), {_TIMESTAMPS}, s.sku, s.product_id, s.warehouse_id, w.key, NULL, s.quantity, %(cause)s
FROM bulk_stock s JOIN {T['warehouse']} w ON w.id = s.warehouse_id
WHERE s.is_new
"""

# Children of stored products: compare with the stored row (one index probe per staged row),
# write only what differs, log from the same comparison, note the product as touched.
MERGE_PRICES = f"""
WITH diff AS (
    SELECT s.*, p.id AS stored_id, p.net AS old_net, p.gross AS old_gross
    FROM bulk_price s
    LEFT JOIN {T['price']} p
        ON p.product_id = s.product_id AND p.price_list_id = s.price_list_id AND p.min_quantity = s.min_quantity
    WHERE NOT s.is_new AND (p.id IS NULL
       OR ({', '.join(f's.{c}' for c in PRICE_COLUMNS)})
          IS DISTINCT FROM ({', '.join(f'p.{c}' for c in PRICE_COLUMNS)}))
), inserted AS (
    INSERT INTO {T['price']} (id, tenant_id, created_at, modified_at, product_id, price_list_id, min_quantity,
                              {', '.join(PRICE_COLUMNS)})
    SELECT pg_temp.uuid7(), {_TIMESTAMPS}, product_id, price_list_id, min_quantity, {', '.join(PRICE_COLUMNS)}
    FROM diff WHERE stored_id IS NULL
), updated AS (
    UPDATE {T['price']} p SET {', '.join(f'{c} = d.{c}' for c in PRICE_COLUMNS)}, modified_at = %(now)s
    FROM diff d WHERE p.id = d.stored_id
), logged AS (
    -- Only net/gross changes are history; a changed VAT rate or validity alone is not logged.
    INSERT INTO {T['price_log']} ({_PRICE_LOG_COLUMNS})
    SELECT pg_temp.uuid7(), {_TIMESTAMPS}, d.sku, d.product_id, d.price_list_id, pl.name, pl.currency,
           d.min_quantity, d.old_net, d.old_gross, d.net, d.gross, %(cause)s
    FROM diff d
    JOIN {T['price_list']} pl ON pl.id = d.price_list_id
    WHERE (d.old_net, d.old_gross) IS DISTINCT FROM (d.net, d.gross)
)
INSERT INTO bulk_touched SELECT product_id FROM diff
"""

MERGE_STOCK = f"""
WITH diff AS (
    SELECT s.*, l.id AS stored_id, l.quantity AS old_quantity
    FROM bulk_stock s
    LEFT JOIN {T['stock']} l ON l.product_id = s.product_id AND l.warehouse_id = s.warehouse_id
    WHERE NOT s.is_new AND (l.id IS NULL OR l.quantity <> s.quantity)
), inserted AS (
    INSERT INTO {T['stock']} (id, tenant_id, created_at, modified_at, product_id, warehouse_id, quantity)
    SELECT pg_temp.uuid7(), {_TIMESTAMPS}, product_id, warehouse_id, quantity FROM diff WHERE stored_id IS NULL
), updated AS (
    UPDATE {T['stock']} l SET quantity = d.quantity, modified_at = %(now)s FROM diff d WHERE l.id = d.stored_id
), logged AS (
    INSERT INTO {T['stock_log']} ({_STOCK_LOG_COLUMNS})
    SELECT pg_temp.uuid7(), {_TIMESTAMPS}, d.sku, d.product_id, d.warehouse_id, w.key, d.old_quantity,
           d.quantity, %(cause)s
    FROM diff d
    JOIN {T['warehouse']} w ON w.id = d.warehouse_id
)
INSERT INTO bulk_touched SELECT product_id FROM diff
"""


def _replace_links_sql(table: str, column: str, staging: str, flag: str) -> str:
    """A set given for a product replaces it: drop the links not staged, add the staged ones missing."""
    return f"""
WITH gone AS (
    DELETE FROM {table} l USING bulk_product bp
    WHERE l.product_id = bp.id AND bp.{flag} AND NOT bp.is_new
      AND NOT EXISTS (SELECT FROM {staging} s WHERE s.product_id = l.product_id AND s.{column} = l.{column})
    RETURNING l.product_id
), added AS (
    INSERT INTO {table} (id, tenant_id, created_at, modified_at, product_id, {column})
    SELECT pg_temp.uuid7(), {_TIMESTAMPS}, s.product_id, s.{column}
    FROM {staging} s
    WHERE NOT s.is_new
      AND NOT EXISTS (SELECT FROM {table} l WHERE l.product_id = s.product_id AND l.{column} = s.{column})
    RETURNING product_id
)
INSERT INTO bulk_touched SELECT product_id FROM gone UNION ALL SELECT product_id FROM added
"""


def _insert_new_links_sql(table: str, column: str, staging: str) -> str:
    return f"""
INSERT INTO {table} (id, tenant_id, created_at, modified_at, product_id, {column})
SELECT pg_temp.uuid7(), {_TIMESTAMPS}, product_id, {column} FROM {staging} WHERE is_new
"""


MERGE_CATEGORIES = _replace_links_sql(T["product_category"], "category_id", "bulk_category", "has_categories")
MERGE_VALUES = _replace_links_sql(T["product_value"], "value_id", "bulk_value", "has_attributes")
INSERT_NEW_CATEGORIES = _insert_new_links_sql(T["product_category"], "category_id", "bulk_category")
INSERT_NEW_VALUES = _insert_new_links_sql(T["product_value"], "value_id", "bulk_value")


def _image_list(source: str) -> str:
    # Both sides are compared as one ordered JSON list; "C" collation makes the order byte-wise on both.
    return (f"(SELECT coalesce(jsonb_agg(jsonb_build_array(i.url, i.thumbnail_url, i.position, i.tags)"
            f" ORDER BY i.position, i.url COLLATE \"C\"), '[]') FROM {source} i WHERE i.product_id = bp.id)")


# Images are a small list replaced whole when it differs (as the portable engine does). Deleting and
# re-inserting the same URL in one statement could trip the unique constraint, hence three statements.
MARK_CHANGED_IMAGES = f"""
UPDATE bulk_product bp SET images_changed = true
WHERE bp.has_images AND NOT bp.is_new AND {_image_list('bulk_image')} IS DISTINCT FROM {_image_list(T['image'])}
"""
DELETE_CHANGED_IMAGES = f"""
WITH gone AS (
    DELETE FROM {T['image']} i USING bulk_product bp WHERE i.product_id = bp.id AND bp.images_changed
)
INSERT INTO bulk_touched SELECT id FROM bulk_product WHERE images_changed
"""
INSERT_CHANGED_IMAGES = f"""
INSERT INTO {T['image']} (id, tenant_id, created_at, modified_at, product_id, url, thumbnail_url, position, tags)
SELECT pg_temp.uuid7(), {_TIMESTAMPS}, i.product_id, i.url, i.thumbnail_url, i.position, i.tags
FROM bulk_image i JOIN bulk_product bp ON bp.id = i.product_id
WHERE bp.images_changed
"""


def _stock_log_insert(source: str, old: str, where: str) -> str:
    """Availability (no warehouse) changes go to the stock log too, as in the portable engine."""
    return f"""
    INSERT INTO {T['stock_log']} (id, tenant_id, created_at, modified_at, sku, product_id, warehouse_id,
                                  warehouse_key, old_quantity, new_quantity, cause)
    SELECT pg_temp.uuid7(), {_TIMESTAMPS}, s.sku, s.id, NULL, '', {old}, s.quantity_available, %(cause)s
    FROM {source} s WHERE {where}"""


@functools.cache
def _insert_products_sql() -> str:
    # A column not given takes the model's default, passed as a parameter named after the column.
    values = ", ".join(f"coalesce(s.{c}, %(default_{c})s::{_column_type(Product, c)})" for c in PRODUCT_COLUMNS)
    return f"""
WITH added AS (
    INSERT INTO {T['product']} (id, tenant_id, created_at, modified_at, sku, parent_id, {', '.join(PRODUCT_COLUMNS)})
    SELECT s.id, {_TIMESTAMPS}, s.sku, s.parent_id, {values}
    FROM bulk_product s WHERE s.is_new
)
{_stock_log_insert('bulk_product', 'NULL', 's.is_new AND s.quantity_available IS NOT NULL')}
"""


@functools.cache
def _update_products_sql() -> str:
    # NULL in staging means "not given": a given value is never NULL, so coalesce keeps the stored one.
    changed = " OR ".join(f"(s.{c} IS NOT NULL AND s.{c} IS DISTINCT FROM p.{c})"
                          for c in [*PRODUCT_COLUMNS, "parent_id"])
    assignments = ", ".join(f"{c} = coalesce(c.{c}, p.{c})" for c in [*PRODUCT_COLUMNS, "parent_id"])
    return f"""
WITH diff AS (
    SELECT s.*, p.quantity_available AS old_available
    FROM bulk_product s JOIN {T['product']} p ON p.id = s.id
    WHERE NOT s.is_new
      AND ({changed} OR EXISTS (SELECT FROM bulk_touched t WHERE t.product_id = s.id))
), updated AS (
    UPDATE {T['product']} p SET {assignments}, modified_at = %(now)s
    FROM diff c WHERE p.id = c.id
    RETURNING p.id
), logged AS ({_stock_log_insert('diff', 's.old_available',
                                 's.quantity_available IS NOT NULL AND s.quantity_available <> s.old_available')}
)
SELECT id FROM updated
"""




def _present(model: type[Any], rows: dict[str, Any]) -> dict[str, Any]:
    present = key_share(model, [row.pk for row in rows.values()])
    return {key: row for key, row in rows.items() if row.pk in present}


@dataclass(frozen=True)
class StoredProduct:
    """The little the checks and the merge need about a stored product."""

    pk: uuid.UUID
    parent_id: uuid.UUID | None
    language: str


@dataclass
class BatchState:
    """Stored state for the checks; the same attribute names as the portable engine's state."""

    tenant: LocalTenant
    products: dict[str, StoredProduct]
    has_variants: set[uuid.UUID]
    warehouses: dict[str, Warehouse]
    price_lists: dict[str, PriceList]
    product_count: int | None

    @classmethod
    def load(cls, tenant: LocalTenant, items: Sequence[CleanProduct]) -> BatchState:
        nodes = [node for item in items for node in (item, *item.variants)]
        products = {
            sku: StoredProduct(pk, parent_id, language)
            for sku, pk, parent_id, language in Product.objects.for_tenant(tenant).filter(
                sku__in=[node.sku for node in nodes]).select_for_update().values_list(
                "sku", "id", "parent_id", "language")
        }
        has_variants = set(Product.objects.for_tenant(tenant).filter(
            parent_id__in=[p.pk for p in products.values()]).values_list("parent_id", flat=True).distinct())
        warehouse_keys = {key for node in nodes for key in node.stock or ()}
        list_names = {price.price_list for node in nodes for price in node.prices or ()}
        count = Product.objects.for_tenant(tenant).count() if tenant.max_products is not None else None
        return cls(
            tenant=tenant, products=products, has_variants=has_variants,
            # Locked like a foreign key would lock them (decision 0004); a vanished one is unknown.
            warehouses=_present(Warehouse, {
                w.key: w for w in Warehouse.objects.for_tenant(tenant).filter(key__in=warehouse_keys)}),
            price_lists=_present(PriceList, {
                p.name: p for p in PriceList.objects.for_tenant(tenant).filter(name__in=list_names)}),
            product_count=count,
        )


class References:
    """Categories, attributes and values by name, created (ancestors first) when missing."""

    def __init__(self, tenant: LocalTenant) -> None:
        self.tenant = tenant
        self.categories: dict[tuple[str, str], uuid.UUID] = {}
        self.values: dict[tuple[str, str], uuid.UUID] = {}

    def resolve(self, wanted_categories: list[tuple[str, str]], wanted_values: list[tuple[str, str, str]]) -> None:
        """Load and create what the accepted items name; lists are in item order, so the first use decides."""
        self._resolve_categories(wanted_categories)
        self._resolve_values(wanted_values)

    def _resolve_categories(self, wanted: list[tuple[str, str]]) -> None:
        needed: dict[tuple[str, str], None] = {}  # ordered set: ancestors before descendants
        for language, path_key in wanted:
            names = path_key.split(PATH_SEPARATOR)
            for n in range(1, len(names) + 1):
                needed[(language, PATH_SEPARATOR.join(names[:n]))] = None
        stored = {(c.language, c.path_key): c for c in Category.objects.for_tenant(self.tenant).filter(
            path_key__in={key for _, key in needed})}
        present = key_share(Category, [c.pk for c in stored.values()])  # decision 0004
        stored = {key: c for key, c in stored.items() if c.pk in present}
        created: list[Category] = []
        for language, path_key in needed:
            if (language, path_key) in stored:
                continue
            names = path_key.split(PATH_SEPARATOR)
            parent = stored.get((language, PATH_SEPARATOR.join(names[:-1]))) if len(names) > 1 else None
            category = Category(tenant=self.tenant, parent=parent, name=names[-1], language=language,
                                path_key=path_key)
            stored[(language, path_key)] = category
            created.append(category)
        Category.objects.bulk_create(created)
        self.categories = {key: c.pk for key, c in stored.items()}

    def _resolve_values(self, wanted: list[tuple[str, str, str]]) -> None:
        attributes = {a.name: a for a in Attribute.objects.for_tenant(self.tenant).filter(
            name__in={name for name, _, _ in wanted})}
        new_attributes = []
        for name, _, kind in wanted:
            if name not in attributes:
                attributes[name] = Attribute(tenant=self.tenant, name=name, kind=kind)
                new_attributes.append(attributes[name])
        Attribute.objects.bulk_create(new_attributes)
        by_id = {a.pk: name for name, a in attributes.items()}
        stored = {(by_id[v.attribute_id], v.value): v for v in AttributeValue.objects.for_tenant(self.tenant).filter(
            attribute_id__in=list(by_id), value__in={value for _, value, _ in wanted})}
        present = key_share(AttributeValue, [v.pk for v in stored.values()])  # decision 0004
        stored = {key: v for key, v in stored.items() if v.pk in present}
        new_values = []
        for name, value, _ in wanted:
            if (name, value) not in stored:
                stored[(name, value)] = AttributeValue(tenant=self.tenant, attribute=attributes[name], value=value)
                new_values.append(stored[(name, value)])
        AttributeValue.objects.bulk_create(new_values)
        self.values = {key: v.pk for key, v in stored.items()}


@dataclass
class StagedNode:
    """One product of an accepted item, with the id it has or will have."""

    node: CleanProduct
    pk: uuid.UUID
    is_new: bool
    parent_id: uuid.UUID | None
    language: str


@dataclass
class Staging:
    """The staging rows, already in ``COPY`` text format (one line per row), per staging table.

    ``flags`` keeps, per product row, what ``merge`` needs to pick its statements:
    (is_new, has_categories, has_attributes, has_images).
    """

    flags: list[tuple[bool, bool, bool, bool]] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    prices: list[str] = field(default_factory=list)
    stock: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)


_RAND_B = (1 << 62) - 1  # the 62 random bits after a UUIDv7's variant


def id_sequence() -> Iterator[uuid.UUID]:
    """UUIDv7s for one batch: one fresh ``new_id()``, then its random low bits counted up.

    Unique (a 62-bit random start; another batch's range would have to overlap within the same
    millisecond and 12-bit ``rand_a``) and time-ordered like ``new_id()``, at a fraction of its cost.
    """
    base = new_id().int
    high, low = base & ~_RAND_B, base & _RAND_B
    for i in itertools.count():
        yield uuid.UUID(int=high | ((low + i) & _RAND_B))


def stage_nodes(items: Sequence[CleanProduct], state: BatchState) -> list[list[StagedNode]]:
    """Give every node of every accepted item its id: the stored one, or a new UUIDv7."""
    staged = []
    ids = id_sequence()
    for item in items:
        nodes: list[StagedNode] = []
        for node in (item, *item.variants):
            stored = state.products.get(node.sku)
            parent = nodes[0].pk if nodes else None  # variants hang under the item; top level keeps its parent
            pk = stored.pk if stored else next(ids)
            language = node.fields.get("language", stored.language if stored else "")
            nodes.append(StagedNode(node, pk, stored is None, parent, language))
        staged.append(nodes)
    return staged


def _product_value(name: str, value: Any) -> Any:
    return json.dumps(value) if name == "tags" and value is not None else value


# COPY's text format: a tab between columns, a newline after each row, backslash escapes, \N for NULL.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"


def copy_text(value: Any) -> str:
    """One value in ``COPY`` text format.

    Every value's text is escaped, whatever its type (a ``str`` subclass or an odd ``__str__``
    cannot add a column or a row); ``str.translate`` on the plain text ignores subclass overrides.
    """
    if value is None:
        return _NULL
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        return str.translate(value, _COPY_ESCAPES)
    if isinstance(value, dt.datetime):
        return str.translate(value.isoformat(), _COPY_ESCAPES)
    return str.translate(str(value), _COPY_ESCAPES)


_PRODUCT_INDEX = {name: i for i, name in enumerate(PRODUCT_COLUMNS)}


def build_staging(staged: list[list[StagedNode]], state: BatchState, refs: References) -> Staging:
    """Format the staging rows as ``COPY`` text directly: no tuple and no adapter call per row.

    Ids are turned into text once per product and per referenced row, not once per staging row.
    """
    rows = Staging()
    text = copy_text
    price_lists = {name: str(pl.pk) for name, pl in state.price_lists.items()}
    warehouses = {key: str(w.pk) for key, w in state.warehouses.items()}
    category_ids: dict[tuple[str, str], str] = {}
    value_ids: dict[tuple[str, str], str] = {}
    empty_product = [_NULL] * len(PRODUCT_COLUMNS)
    for nodes in staged:
        for s in nodes:
            node = s.node
            pk, is_new, fields = str(s.pk), s.is_new, node.fields
            new = "t" if is_new else "f"
            sku = text(node.sku)
            has = (node.categories is not None, node.attributes is not None, node.images is not None)
            rows.flags.append((is_new, *has))
            columns = list(empty_product)
            for name, value in fields.items():
                columns[_PRODUCT_INDEX[name]] = text(_product_value(name, value))
            # images_changed: a new product's images all go in
            rows.products.append("\t".join((pk, sku, new, text(s.parent_id), *("t" if h else "f" for h in has),
                                            "t" if is_new and node.images else "f", *columns)))
            for price in node.prices or ():
                values = price.values
                rows.prices.append("\t".join((pk, new, sku, price_lists[price.price_list], text(price.min_quantity),
                                              *[text(values[c]) for c in PRICE_COLUMNS])))
            for key, (quantity, _) in (node.stock or {}).items():
                rows.stock.append(f"{pk}\t{new}\t{sku}\t{warehouses[key]}\t{text(quantity)}")
            for path_key in node.categories or ():
                ref = (s.language, path_key)
                category = category_ids.get(ref)
                if category is None:
                    category = category_ids[ref] = str(refs.categories[ref])
                rows.categories.append(f"{pk}\t{new}\t{category}")
            for name, value, _ in node.attributes or ():
                pair = (name, value)
                value_id = value_ids.get(pair)
                if value_id is None:
                    value_id = value_ids[pair] = str(refs.values[pair])
                rows.values.append(f"{pk}\t{new}\t{value_id}")
            for image in node.images or ():
                rows.images.append("\t".join((pk, text(image.url), text(image.thumbnail_url), text(image.position),
                                              text(json.dumps(image.tags)))))
    return rows


def wanted_references(staged: list[list[StagedNode]]) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    categories = [(s.language, key) for nodes in staged for s in nodes for key in s.node.categories or ()]
    values = [attr for nodes in staged for s in nodes for attr in s.node.attributes or ()]
    return categories, values


STAGING_COLUMNS = {
    "bulk_product": ["id", "sku", "is_new", "parent_id", "has_categories", "has_attributes", "has_images",
                     "images_changed", *PRODUCT_COLUMNS],
    "bulk_price": ["product_id", "is_new", "sku", "price_list_id", "min_quantity", *PRICE_COLUMNS],
    "bulk_stock": ["product_id", "is_new", "sku", "warehouse_id", "quantity"],
    "bulk_category": ["product_id", "is_new", "category_id"],
    "bulk_value": ["product_id", "is_new", "value_id"],
    "bulk_image": ["product_id", "url", "thumbnail_url", "position", "tags"],
}


def _copy(cursor: Any, table: str, lines: list[str]) -> None:
    if not lines:
        return
    with cursor.copy(f"COPY {table} ({', '.join(STAGING_COLUMNS[table])}) FROM STDIN") as copy:
        for start in range(0, len(lines), 2000):  # a few hundred kB per write
            copy.write("\n".join(lines[start:start + 2000]) + "\n")


def _product_defaults() -> dict[str, Any]:
    defaults = {}
    for column in PRODUCT_COLUMNS:
        model_field = Product._meta.get_field(column)
        assert isinstance(model_field, Field)
        value = model_field.get_default()
        defaults[f"default_{column}"] = _product_value(column, value)
    return defaults


def merge(tenant: LocalTenant, rows: Staging, now: dt.datetime, cause: str) -> set[uuid.UUID]:
    """Copy the staging rows in and merge them; return the ids of existing products that changed."""
    params: dict[str, Any] = {"tenant": tenant.pk, "now": now, "cause": cause}
    connection = connections[HOST]
    connection.ensure_connection()
    # The raw psycopg cursor (for COPY) bypasses Django's wrapper: convert its errors to Django's, so a
    # refused batch (a constraint, row-level security) is replayed item by item like on the ORM path.
    with connection.wrap_database_errors, connection.connection.cursor() as cursor:
        cursor.execute(_staging_ddl())
        for table, table_rows in (("bulk_product", rows.products), ("bulk_price", rows.prices),
                                  ("bulk_stock", rows.stock), ("bulk_category", rows.categories),
                                  ("bulk_value", rows.values), ("bulk_image", rows.images)):
            _copy(cursor, table, table_rows)
        new = any(f[0] for f in rows.flags)
        stored = not all(f[0] for f in rows.flags)
        if stored:
            # Temporary tables are never auto-analyzed; the joins with stored rows want estimates. New
            # products' statements read staging tables alone and need none.
            cursor.execute("ANALYZE bulk_product, bulk_price, bulk_stock, bulk_category, bulk_value, bulk_image")
        if new:
            cursor.execute(_insert_products_sql(), {**params, **_product_defaults()})
        for insert_new, merge_stored, staged_rows in ((INSERT_NEW_PRICES, MERGE_PRICES, rows.prices),
                                                      (INSERT_NEW_STOCK, MERGE_STOCK, rows.stock)):
            if staged_rows and new:
                cursor.execute(insert_new, params)
            if staged_rows and stored:
                cursor.execute(merge_stored, params)
        for insert_new, merge_stored, flag in ((INSERT_NEW_CATEGORIES, MERGE_CATEGORIES, 1),
                                               (INSERT_NEW_VALUES, MERGE_VALUES, 2)):
            if new and any(f[flag] for f in rows.flags if f[0]):
                cursor.execute(insert_new, params)
            if stored and any(f[flag] for f in rows.flags if not f[0]):
                cursor.execute(merge_stored, params)
        if any(f[3] for f in rows.flags):
            cursor.execute(MARK_CHANGED_IMAGES)
            cursor.execute(DELETE_CHANGED_IMAGES)
            cursor.execute(INSERT_CHANGED_IMAGES, params)
        if not stored:
            return set()
        cursor.execute(_update_products_sql(), params)
        return {row[0] for row in cursor.fetchall()}


def outcomes(staged: list[list[StagedNode]], changed: set[uuid.UUID]) -> Iterator[tuple[bool, bool]]:
    """(created, changed) per accepted item: changed if any of its products was created or updated."""
    for nodes in staged:
        yield nodes[0].is_new, any(s.is_new or s.pk in changed for s in nodes)


