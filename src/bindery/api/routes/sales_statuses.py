"""Order statuses and their normalization map: each channel status code maps to a hub status."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest
from ninja import Field as NinjaField
from ninja import Query, Router, Schema

from bindery.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate
from bindery.api.routes.sales_common import READ, READ_ERRORS, WRITE, WRITE_ERRORS, sales_auth
from bindery.api.routes.sales_schemas import OrderStatusMapIn, OrderStatusMappedOut, OrderStatusPageOut
from bindery.sales.access import access_order_status_by_id
from bindery.sales.actions import do_map_order_status
from bindery.sales.models import NormalizedStatus, OrderStatus

router = Router(tags=["order statuses"])


class OrderStatusFilters(Schema):
    origin_node_id: uuid.UUID | None = None
    normalized: NormalizedStatus | None = None
    cursor: str | None = NinjaField(None, description="next_cursor of the previous page")
    limit: int = NinjaField(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


@router.get("", response={200: OrderStatusPageOut, **READ_ERRORS}, auth=sales_auth(READ),
            summary="List channel order statuses and their normalized status")
def list_order_statuses(request: HttpRequest, filters: Query[OrderStatusFilters]) -> dict[str, Any]:
    qs = OrderStatus.objects.for_tenant(request.tenant)  # type: ignore[attr-defined]
    if filters.origin_node_id is not None:
        qs = qs.filter(origin_node_id=filters.origin_node_id)
    if filters.normalized is not None:
        qs = qs.filter(normalized=filters.normalized)
    items, next_cursor = paginate(qs, cursor=filters.cursor, limit=filters.limit)
    return {"items": items, "next_cursor": next_cursor}


@router.put("/{status_id}", response={200: OrderStatusMappedOut, **WRITE_ERRORS}, auth=sales_auth(WRITE),
            summary="Map a channel status to a normalized status",
            description="Orders with this status take the new normalized status at once; "
            "`orders_moved` says how many changed.")
def map_order_status(request: HttpRequest, status_id: uuid.UUID, data: OrderStatusMapIn) -> dict[str, Any]:
    tenant = request.tenant  # type: ignore[attr-defined]
    status = access_order_status_by_id(tenant, status_id, for_write=False)
    moved = do_map_order_status(status, data.normalized, actor=request.auth)  # type: ignore[attr-defined]
    status = access_order_status_by_id(tenant, status.pk, for_write=False)
    return {**{name: getattr(status, name) for name in OrderStatusMappedOut.model_fields if name != "orders_moved"},
            "orders_moved": moved}
