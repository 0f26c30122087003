"""Reference data the products point at: categories (by path key), warehouses, price lists."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from bindery.api.auth import require_scope
from bindery.api.pagination import DEFAULT_LIMIT
from bindery.api.routes.catalog_common import page
from bindery.api.schemas.catalog import (
    CategoryIn,
    CategoryOut,
    CategoryPageOut,
    PriceListIn,
    PriceListOut,
    PriceListPageOut,
    WarehouseIn,
    WarehouseOut,
    WarehousePageOut,
)
from bindery.api.schemas.common import ERRORS_LIST, ERRORS_WRITE
from bindery.catalog.actions import do_create_category, do_create_price_list, do_create_warehouse
from bindery.catalog.models import Category, PriceList, Warehouse
from bindery.control.models import LocalTenant
from bindery.security.waf.exclusions import waf_exclude

router = Router(tags=["catalog: reference data"])


def _tenant(request: HttpRequest) -> LocalTenant:
    tenant: LocalTenant = request.tenant  # type: ignore[attr-defined]  # set by bindery.api.auth
    return tenant


def _category(category: Category) -> dict[str, Any]:
    return {"id": category.pk, "path_key": category.path_key, "name": category.name, "language": category.language,
            "parent_id": category.parent_id, "description_html": category.description_html,
            "selection_tags": list(category.selection_tags or []), "created_at": category.created_at,
            "modified_at": category.modified_at}


def _warehouse(warehouse: Warehouse) -> dict[str, Any]:
    return {"id": warehouse.pk, "key": warehouse.key, "name": warehouse.name, "kind": warehouse.kind,
            "created_at": warehouse.created_at, "modified_at": warehouse.modified_at}


def _price_list(price_list: PriceList) -> dict[str, Any]:
    return {"id": price_list.pk, "name": price_list.name, "currency": price_list.currency,
            "relationship": price_list.relationship, "channel_keys": dict(price_list.channel_keys or {}),
            "created_at": price_list.created_at, "modified_at": price_list.modified_at}


@router.get("/categories", response={200: CategoryPageOut, **ERRORS_LIST}, summary="List categories")
def list_categories(request: HttpRequest, language: str | None = None, cursor: str | None = None,
                    limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    require_scope(request, "catalog:read")
    categories = Category.objects.for_tenant(_tenant(request))
    if language is not None:
        categories = categories.filter(language=language)
    return page(categories, cursor=cursor, limit=limit, serialize=_category)


@router.post("/categories", response={201: CategoryOut, **ERRORS_WRITE},
             summary="Create a category by path key (missing ancestors too)")
@waf_exclude(fields={"description_html": ["xss"]})  # HTML by design, sanitized where rendered
def create_category(request: HttpRequest, payload: CategoryIn) -> Status:
    token = require_scope(request, "catalog:write")
    category = do_create_category(_tenant(request), payload.path_key, language=payload.language,
                                  description_html=payload.description_html,
                                  selection_tags=payload.selection_tags, actor=token)
    return Status(201, _category(category))


@router.get("/warehouses", response={200: WarehousePageOut, **ERRORS_LIST}, summary="List warehouses")
def list_warehouses(request: HttpRequest, cursor: str | None = None, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    require_scope(request, "catalog:read")
    return page(Warehouse.objects.for_tenant(_tenant(request)), cursor=cursor, limit=limit, serialize=_warehouse)


@router.post("/warehouses", response={201: WarehouseOut, **ERRORS_WRITE}, summary="Create a warehouse")
def create_warehouse(request: HttpRequest, payload: WarehouseIn) -> Status:
    token = require_scope(request, "catalog:write")
    warehouse = do_create_warehouse(_tenant(request), payload.key, name=payload.name, kind=payload.kind, actor=token)
    return Status(201, _warehouse(warehouse))


@router.get("/price-lists", response={200: PriceListPageOut, **ERRORS_LIST}, summary="List price lists")
def list_price_lists(request: HttpRequest, cursor: str | None = None, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    require_scope(request, "catalog:read")
    return page(PriceList.objects.for_tenant(_tenant(request)), cursor=cursor, limit=limit, serialize=_price_list)


@router.post("/price-lists", response={201: PriceListOut, **ERRORS_WRITE},
             summary="Create a price list in an ISO 4217 currency")
def create_price_list(request: HttpRequest, payload: PriceListIn) -> Status:
    token = require_scope(request, "catalog:write")
    price_list = do_create_price_list(_tenant(request), payload.name, payload.currency,
                                      relationship=payload.relationship, channel_keys=payload.channel_keys,
                                      actor=token)
    return Status(201, _price_list(price_list))
