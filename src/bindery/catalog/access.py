"""Tenant-scoped getters: another tenant's object is "not found", exactly like a missing one.

``for_write`` has no default so every caller decides; a write lookup locks the row
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers)
and must run inside a transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db.models import Model

from bindery.catalog.errors import NotFound
from bindery.catalog.models import Category, PriceList, Product, Warehouse
from bindery.control.models import LocalTenant
from bindery.control.tenancy import TenantQuerySet


def _parse_id(value: uuid.UUID | str) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _one(queryset: TenantQuerySet, *, for_write: bool, what: str, field: str, **lookup: object) -> Model:
    if for_write:
        queryset = queryset.select_for_update()
    try:
        return queryset.get(**lookup)
    except queryset.model.DoesNotExist:
        raise NotFound(f"{what} not found", field=field) from None


def access_product_by_id(tenant: LocalTenant, product_id: uuid.UUID | str, *, for_write: bool) -> Product:
    """Return the tenant's product (deleted ones included: they are still addressable) or raise NotFound."""
    pk = _parse_id(product_id)
    if pk is None:
        raise NotFound("product not found", field="id")
    product = _one(Product.objects.for_tenant(tenant), for_write=for_write, what="product", field="id", pk=pk)
    assert isinstance(product, Product)
    return product


def access_product_by_sku(tenant: LocalTenant, sku: str, *, for_write: bool) -> Product:
    product = _one(Product.objects.for_tenant(tenant), for_write=for_write, what=f"product {sku!r}",
                   field="sku", sku=sku)
    assert isinstance(product, Product)
    return product


def access_products_by_ids(tenant: LocalTenant, ids: Iterable[uuid.UUID | str], *, for_write: bool) -> list[Product]:
    """Return products in the order asked; fail if any id is missing or belongs to another tenant."""
    wanted = [_parse_id(i) for i in ids]
    if any(pk is None for pk in wanted):
        raise NotFound("product not found", field="ids")
    queryset = Product.objects.for_tenant(tenant).filter(pk__in=wanted)
    if for_write:
        queryset = queryset.select_for_update()
    found = {p.pk: p for p in queryset}
    missing = [str(pk) for pk in wanted if pk not in found]
    if missing:
        raise NotFound(f"{len(missing)} product(s) not found: {', '.join(missing[:5])}", field="ids")
    return [found[pk] for pk in wanted]


def access_category_by_path(tenant: LocalTenant, path_key: str, *, language: str = "", for_write: bool) -> Category:
    category = _one(Category.objects.for_tenant(tenant), for_write=for_write, what=f"category {path_key!r}",
                    field="path_key", path_key=path_key, language=language)
    assert isinstance(category, Category)
    return category


def access_warehouse_by_key(tenant: LocalTenant, key: str, *, for_write: bool) -> Warehouse:
    warehouse = _one(Warehouse.objects.for_tenant(tenant), for_write=for_write, what=f"warehouse {key!r}",
                     field="warehouse", key=key)
    assert isinstance(warehouse, Warehouse)
    return warehouse


def access_price_list_by_name(tenant: LocalTenant, name: str, *, for_write: bool) -> PriceList:
    price_list = _one(PriceList.objects.for_tenant(tenant), for_write=for_write, what=f"price list {name!r}",
                      field="price_list", name=name)
    assert isinstance(price_list, PriceList)
    return price_list


def products_modified_since(tenant: LocalTenant, since: object) -> TenantQuerySet:
    """Products created or modified at or after ``since`` (differential runs), oldest first."""
    return Product.objects.for_tenant(tenant).filter(modified_at__gte=since).order_by("modified_at", "id")
