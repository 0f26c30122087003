"""Products: list (filters, delta query, cursor pages), detail, upsert by SKU, update, delete, bulk."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.db.models import Q
from django.http import HttpRequest
from ninja import Router, Status

from bindery.api.auth import require_scope
from bindery.api.errors import ApiError, ApiErrorCode
from bindery.api.pagination import DEFAULT_LIMIT
from bindery.api.routes.catalog_common import (
    bulk_body,
    page,
    prices_of,
    product_detail,
    product_fields,
    stock_of,
)
from bindery.api.schemas.catalog import (
    CatalogBulkOut,
    PriceOut,
    ProductBulkIn,
    ProductDetailOut,
    ProductIn,
    ProductPageOut,
    ProductUpdateIn,
    StockOut,
    UpsertOut,
)
from bindery.api.schemas.common import ERRORS_LIST, ERRORS_READ, ERRORS_WRITE
from bindery.catalog.access import access_product_by_id
from bindery.catalog.actions import do_bulk_upsert_products, do_delete_product, do_upsert_product
from bindery.catalog.models import Category, Product, ProductCategory
from bindery.catalog.models.categories import PATH_SEPARATOR
from bindery.catalog.upsert import Outcome
from bindery.control.models import LocalTenant
from bindery.security.waf.exclusions import waf_bulk, waf_exclude

router = Router(tags=["catalog: products"])

# A product's description is HTML by design (sanitized where it is rendered), and its image URLs
# point at the merchant's own servers, often by IP on a local network; everything else in the
# payload is inspected in full.
PRODUCT_FIELDS_WAF = waf_exclude(fields={"description_html": ["xss"], "url": ["rfi"], "thumbnail_url": ["rfi"]})

READ = "catalog:read"
WRITE = "catalog:write"


def _tenant(request: HttpRequest) -> LocalTenant:
    tenant: LocalTenant = request.tenant  # type: ignore[attr-defined]  # set by bindery.api.auth
    return tenant


@router.get("/products", response={200: ProductPageOut, **ERRORS_LIST}, summary="List products")
def list_products(request: HttpRequest, sku: str | None = None, sku_prefix: str | None = None,
                  q: str | None = None, parent: str | None = None, deleted: bool = False,
                  modified_since: dt.datetime | None = None, category: str | None = None,
                  cursor: str | None = None, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """Return one page of products, oldest first.

    ``modified_since`` is the delta query: products created or changed (prices, stock, links
    included) at or after that instant. ``parent`` is a product id, or ``none`` for top-level
    products only; ``category`` is a path key and matches its subcategories too.
    """
    require_scope(request, READ)
    tenant = _tenant(request)
    products = Product.objects.for_tenant(tenant).filter(deleted=deleted)
    if sku is not None:
        products = products.filter(sku=sku)
    if sku_prefix:
        products = products.filter(sku__startswith=sku_prefix)
    if q:
        products = products.filter(name__icontains=q)
    if parent is not None:
        if parent.lower() == "none":
            products = products.filter(parent__isnull=True)
        else:
            try:
                products = products.filter(parent_id=uuid.UUID(parent))
            except ValueError:
                raise ApiError(422, ApiErrorCode.INVALID, "parent must be a product id or none",
                               field="parent") from None
    if modified_since is not None:
        if modified_since.tzinfo is None:
            modified_since = modified_since.replace(tzinfo=dt.UTC)
        products = products.filter(modified_at__gte=modified_since)
    if category:
        categories = Category.objects.for_tenant(tenant).filter(
            Q(path_key=category) | Q(path_key__startswith=category + PATH_SEPARATOR))
        products = products.filter(id__in=ProductCategory.objects.for_tenant(tenant).filter(
            category__in=categories).values("product_id"))
    return page(products, cursor=cursor, limit=limit, serialize=product_fields)


@router.post("/products/bulk", response={200: CatalogBulkOut, **ERRORS_WRITE}, exclude_none=True,
             summary="Create or update many products by SKU")
@PRODUCT_FIELDS_WAF
@waf_bulk()  # thousands of products in one body: a budget per MiB, every value still inspected
def bulk_upsert_products(request: HttpRequest, payload: ProductBulkIn) -> dict[str, Any]:
    """Upsert up to 5,000 products; answer one result per item, in order (200 even if some failed).

    A refused item (bad value, SKU twice in the payload, unknown warehouse or price list, plan
    limit) writes nothing; its result names the code and the field within the item.
    """
    token = require_scope(request, WRITE)
    results = do_bulk_upsert_products(_tenant(request), [item.product_data() for item in payload.items],
                                      actor=token)
    return bulk_body(results)


# Registered after /products/bulk: Django matches URL patterns in order.
@router.get("/products/{id}", response={200: ProductDetailOut, **ERRORS_READ},
            summary="Get a product with its variants, prices, stock, categories, attributes and images")
def get_product(request: HttpRequest, id: str) -> dict[str, Any]:
    require_scope(request, READ)
    tenant = _tenant(request)
    return product_detail(tenant, access_product_by_id(tenant, id, for_write=False))


@router.get("/products/{id}/stock", response={200: list[StockOut], **ERRORS_READ},
            summary="Get a product's stock per warehouse")
def get_product_stock(request: HttpRequest, id: str) -> list[dict[str, Any]]:
    require_scope(request, READ)
    tenant = _tenant(request)
    product = access_product_by_id(tenant, id, for_write=False)
    return stock_of(tenant, [product.pk])[product.pk]


@router.get("/products/{id}/prices", response={200: list[PriceOut], **ERRORS_READ},
            summary="Get a product's prices in every price list")
def get_product_prices(request: HttpRequest, id: str) -> list[dict[str, Any]]:
    require_scope(request, READ)
    tenant = _tenant(request)
    product = access_product_by_id(tenant, id, for_write=False)
    return prices_of(tenant, [product.pk])[product.pk]


@router.post("/products", response={200: UpsertOut, 201: UpsertOut, **ERRORS_WRITE},
             summary="Create or update a product by SKU")
@PRODUCT_FIELDS_WAF
def upsert_product(request: HttpRequest, payload: ProductIn) -> Status:
    """Create the product (201) or update the one with this SKU (200, ``updated`` or ``unchanged``).

    Absent fields are left as they are; prices and stock merge by key; categories, attributes,
    images and tags, when given, replace the stored set.
    """
    token = require_scope(request, WRITE)
    tenant = _tenant(request)
    result = do_upsert_product(tenant, payload.product_data(), actor=token)
    assert result.product_id is not None
    product = access_product_by_id(tenant, result.product_id, for_write=False)
    status = 201 if result.outcome == Outcome.CREATED else 200
    return Status(status, {"outcome": str(result.outcome), "product": product_detail(tenant, product)})


@router.put("/products/{id}", response={200: UpsertOut, **ERRORS_WRITE}, summary="Update a product")
@PRODUCT_FIELDS_WAF
def update_product(request: HttpRequest, id: str, payload: ProductUpdateIn) -> dict[str, Any]:
    """Update the product; absent fields are left as they are. A ``sku`` must be the product's own."""
    token = require_scope(request, WRITE)
    tenant = _tenant(request)
    product = access_product_by_id(tenant, id, for_write=False)
    if payload.sku is not None and payload.sku != product.sku:
        raise ApiError(422, ApiErrorCode.INVALID, "the SKU cannot be changed; omit it or send the product's own",
                       field="sku")
    data = payload.to_data(product.sku, [v.to_data(v.sku) for v in payload.variants])
    result = do_upsert_product(tenant, data, actor=token)
    product = access_product_by_id(tenant, product.pk, for_write=False)
    return {"outcome": str(result.outcome), "product": product_detail(tenant, product)}


@router.delete("/products/{id}", response={204: None, **ERRORS_WRITE},
               summary="Delete a product and its variants (logically)")
def delete_product(request: HttpRequest, id: str) -> Status:
    """Mark the product and its variants deleted; they stay addressable by id and in ``deleted=true`` lists."""
    token = require_scope(request, WRITE)
    tenant = _tenant(request)
    do_delete_product(tenant, access_product_by_id(tenant, id, for_write=False), actor=token)
    return Status(204, None)
