"""Shipments across orders (a logistics view); they are recorded through ``POST /orders/{id}/shipments``."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest
from ninja import Field as NinjaField
from ninja import Query, Router, Schema
from pydantic import AwareDatetime

from bindery.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate
from bindery.api.routes.sales_common import READ, READ_ERRORS, sales_auth
from bindery.api.routes.sales_schemas import ShipmentPageOut
from bindery.sales.models import Shipment

router = Router(tags=["shipments"])


class ShipmentFilters(Schema):
    order_id: uuid.UUID | None = None
    carrier: str | None = NinjaField(None, max_length=100)
    shipped_since: AwareDatetime | None = NinjaField(None, description="Shipped at or after this time")
    cursor: str | None = NinjaField(None, description="next_cursor of the previous page")
    limit: int = NinjaField(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


@router.get("", response={200: ShipmentPageOut, **READ_ERRORS}, auth=sales_auth(READ),
            summary="List shipments", description="Oldest first; follow `next_cursor` until it is null.")
def list_shipments(request: HttpRequest, filters: Query[ShipmentFilters]) -> dict[str, Any]:
    qs = Shipment.objects.for_tenant(request.tenant)  # type: ignore[attr-defined]
    if filters.order_id is not None:
        qs = qs.filter(order_id=filters.order_id)
    if filters.carrier is not None:
        qs = qs.filter(carrier=filters.carrier)
    if filters.shipped_since is not None:
        qs = qs.filter(shipped_at__gte=filters.shipped_since)
    items, next_cursor = paginate(qs, cursor=filters.cursor, limit=filters.limit)
    return {"items": items, "next_cursor": next_cursor}
