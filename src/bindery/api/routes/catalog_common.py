"""Shared by the catalog routes: turning rows into response bodies, per-item results, pages."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db.models import QuerySet

from bindery.api.pagination import paginate
from bindery.api.schemas.catalog import amount_out
from bindery.catalog.models import (
    Price,
    Product,
    ProductAttributeValue,
    ProductCategory,
    ProductImage,
    StockLevel,
)
from bindery.catalog.upsert import UpsertResult
from bindery.control.models import LocalTenant


def product_fields(product: Product) -> dict[str, Any]:
    """The list representation of a product: its own columns, amounts as strings."""
    return {
        "id": product.pk, "sku": product.sku, "parent_id": product.parent_id, "name": product.name,
        "language": product.language, "barcode": product.barcode, "barcode_type": product.barcode_type,
        "manufacturer": product.manufacturer, "mpn": product.mpn, "supplier": product.supplier,
        "supplier_code": product.supplier_code, "weight": amount_out(product.weight),
        "weight_unit": product.weight_unit, "length": amount_out(product.length),
        "width": amount_out(product.width), "height": amount_out(product.height),
        "dimension_unit": product.dimension_unit, "quantity_available": str(product.quantity_available),
        "quantity_arriving": str(product.quantity_arriving), "featured": product.featured,
        "deleted": product.deleted, "origin_node_id": product.origin_node_id, "tags": list(product.tags or []),
        "created_at": product.created_at, "modified_at": product.modified_at,
    }


def price_fields(price: Price) -> dict[str, Any]:
    return {
        "price_list": price.price_list.name, "currency": price.price_list.currency,
        "min_quantity": str(price.min_quantity), "max_quantity": amount_out(price.max_quantity),
        "net": str(price.net), "gross": str(price.gross), "vat_rate": str(price.vat_rate),
        "discounted_net": amount_out(price.discounted_net), "discounted_gross": amount_out(price.discounted_gross),
        "discount_applies": price.discount_applies, "discount_from": price.discount_from,
        "discount_to": price.discount_to, "valid_from": price.valid_from, "valid_to": price.valid_to,
        "modified_at": price.modified_at,
    }


def stock_fields(level: StockLevel) -> dict[str, Any]:
    return {"warehouse": level.warehouse.key, "quantity": str(level.quantity), "modified_at": level.modified_at}


def prices_of(tenant: LocalTenant, product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[dict[str, Any]]]:
    grouped: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for price in (Price.objects.for_tenant(tenant).filter(product_id__in=list(product_ids))
                  .select_related("price_list").order_by("price_list__name", "min_quantity")):
        grouped[price.product_id].append(price_fields(price))
    return grouped


def stock_of(tenant: LocalTenant, product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[dict[str, Any]]]:
    grouped: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for level in (StockLevel.objects.for_tenant(tenant).filter(product_id__in=list(product_ids))
                  .select_related("warehouse").order_by("warehouse__key")):
        grouped[level.product_id].append(stock_fields(level))
    return grouped


def product_detail(tenant: LocalTenant, product: Product) -> dict[str, Any]:
    """The full representation: variants, prices, stock, categories, attributes, images (a fixed number of queries)."""
    variants = list(Product.objects.for_tenant(tenant).filter(parent_id=product.pk).order_by("sku"))
    ids = [product.pk, *(v.pk for v in variants)]
    prices = prices_of(tenant, ids)
    stock = stock_of(tenant, ids)
    categories: dict[uuid.UUID, list[str]] = defaultdict(list)
    for product_id, path_key in (ProductCategory.objects.for_tenant(tenant).filter(product_id__in=ids)
                                 .order_by("category__path_key").values_list("product_id", "category__path_key")):
        categories[product_id].append(path_key)
    attributes: dict[uuid.UUID, list[dict[str, str]]] = defaultdict(list)
    for product_id, name, value, kind in (
            ProductAttributeValue.objects.for_tenant(tenant).filter(product_id__in=ids)
            .order_by("value__attribute__name", "value__value")
            .values_list("product_id", "value__attribute__name", "value__value", "value__attribute__kind")):
        attributes[product_id].append({"attribute": name, "value": value, "kind": kind})
    images: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for image in ProductImage.objects.for_tenant(tenant).filter(product_id__in=ids).order_by("position", "url"):
        images[image.product_id].append({"url": image.url, "thumbnail_url": image.thumbnail_url,
                                         "position": image.position, "tags": list(image.tags or [])})

    def detail(row: Product) -> dict[str, Any]:
        return {**product_fields(row), "description_html": row.description_html,
                "short_description": row.short_description, "notes": row.notes,
                "prices": prices[row.pk], "stock": stock[row.pk], "categories": categories[row.pk],
                "attributes": attributes[row.pk], "images": images[row.pk]}

    return {**detail(product), "variants": [detail(v) for v in variants]}


def page(queryset: QuerySet[Any], *, cursor: str | None, limit: int,
         serialize: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    rows, next_cursor = paginate(queryset, cursor=cursor, limit=limit)
    return {"items": [serialize(row) for row in rows], "next_cursor": next_cursor}


def result_fields(result: UpsertResult) -> dict[str, Any]:
    body: dict[str, Any] = {"index": result.index, "sku": result.sku, "outcome": str(result.outcome),
                            "product_id": result.product_id}
    if result.code is not None:
        body.update(code=str(result.code), message=result.message, field=result.field)
    return body


def bulk_body(results: Sequence[UpsertResult]) -> dict[str, Any]:
    counts = Counter(str(r.outcome) for r in results)
    return {"counts": {k: counts.get(k, 0) for k in ("created", "updated", "unchanged", "error")},
            "results": [result_fields(r) for r in results]}
