"""Orders: list and read them, upsert single or in bulk, mark, set status, add shipments.

Reads go through the tenant-scoped manager and :mod:`bindery.sales.access` (another tenant's
order is "not found"); every write goes through :mod:`bindery.sales.actions`.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest
from ninja import Field as NinjaField
from ninja import Query, Router, Schema, Status
from pydantic import AwareDatetime
from pydantic import ValidationError as PydanticValidationError

from bindery.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate
from bindery.api.routes.sales_common import (
    ONE_ERRORS,
    READ,
    READ_ERRORS,
    WRITE,
    WRITE_ERRORS,
    sales_auth,
    sales_error_body,
)
from bindery.api.routes.sales_schemas import (
    BulkResultOut,
    MarkIn,
    OrderBulkIn,
    OrderBulkOut,
    OrderDetailOut,
    OrderIn,
    OrderOut,
    OrderPageOut,
    OrderStatusSetIn,
    ShipmentIn,
    ShipmentOut,
)
from bindery.control.models import LocalTenant
from bindery.sales.access import access_order_by_id, order_shipments, orders_with_email
from bindery.sales.actions import do_add_shipment, do_mark_order, do_set_order_status, do_upsert_order
from bindery.sales.errors import SalesError
from bindery.sales.models import Address, NormalizedStatus, Order, OrderRow, Shipment
from bindery.security.waf.exclusions import waf_bulk

router = Router(tags=["orders"])

_RELATED = ("status", "payment_method", "shipping_method")


class OrderFilters(Schema):
    status: NormalizedStatus | None = NinjaField(None, description="Normalized status")
    channel_order_number: str | None = None
    origin_node_id: uuid.UUID | None = None
    marked: bool | None = None
    customer_id: uuid.UUID | None = None
    email: str | None = NinjaField(None, min_length=1, max_length=254,
                                   description="The customer's or an address's e-mail: exact, case-insensitive")
    modified_since: AwareDatetime | None = NinjaField(
        None, description="Delta mode: orders changed at or after this time (ISO 8601 with offset)")
    created_on_channel_from: AwareDatetime | None = None
    created_on_channel_to: AwareDatetime | None = NinjaField(None, description="Exclusive")
    cursor: str | None = NinjaField(None, description="next_cursor of the previous page")
    limit: int = NinjaField(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


def _detail(tenant: LocalTenant, order: Order) -> Order:
    """Attach rows, addresses and shipments, read through the tenant-scoped manager."""
    order.detail_rows = list(  # type: ignore[attr-defined]
        OrderRow.objects.for_tenant(tenant).filter(order=order).order_by("position"))
    order.detail_addresses = {  # type: ignore[attr-defined]
        address.kind: address for address in Address.objects.for_tenant(tenant).filter(order=order)}
    order.detail_shipments = list(order_shipments(order))  # type: ignore[attr-defined]
    return order


def _read(tenant: LocalTenant, order_id: uuid.UUID) -> Order:
    order = access_order_by_id(tenant, order_id, for_write=False)
    # Status and methods for the response, through the scoped manager like every read.
    return Order.objects.for_tenant(tenant).select_related(*_RELATED).get(pk=order.pk)


@router.get("", response={200: OrderPageOut, **READ_ERRORS}, auth=sales_auth(READ),
            summary="List orders", description="Oldest first; follow `next_cursor` until it is null.")
def list_orders(request: HttpRequest, filters: Query[OrderFilters]) -> dict[str, Any]:
    tenant = request.tenant  # type: ignore[attr-defined]
    qs = Order.objects.for_tenant(tenant).select_related(*_RELATED)
    if filters.status is not None:
        qs = qs.filter(normalized_status=filters.status)
    if filters.channel_order_number is not None:
        qs = qs.filter(channel_order_number=filters.channel_order_number)
    if filters.origin_node_id is not None:
        qs = qs.filter(origin_node_id=filters.origin_node_id)
    if filters.marked is not None:
        qs = qs.filter(is_marked=filters.marked)
    if filters.customer_id is not None:
        qs = qs.filter(customer_id=filters.customer_id)
    if filters.email is not None:
        qs = qs.filter(orders_with_email(tenant, filters.email))
    if filters.modified_since is not None:
        qs = qs.filter(modified_at__gte=filters.modified_since)
    if filters.created_on_channel_from is not None:
        qs = qs.filter(created_on_channel__gte=filters.created_on_channel_from)
    if filters.created_on_channel_to is not None:
        qs = qs.filter(created_on_channel__lt=filters.created_on_channel_to)
    items, next_cursor = paginate(qs, cursor=filters.cursor, limit=filters.limit)
    return {"items": items, "next_cursor": next_cursor}


@router.post("", response={200: OrderDetailOut, 201: OrderDetailOut, **WRITE_ERRORS}, auth=sales_auth(WRITE),
             summary="Create or update an order",
             description="(origin_node_id, channel_order_number) identifies the order: 201 when it was created, "
             "200 when it was updated or already equal.")
@waf_bulk()  # an order may carry up to its row limit; the view names what is over it (422)
def upsert_order(request: HttpRequest, data: OrderIn) -> Status[Order]:
    tenant = request.tenant  # type: ignore[attr-defined]
    result = do_upsert_order(tenant, data.to_payload(), actor=request.auth)  # type: ignore[attr-defined]
    return Status(201 if result.created else 200, _detail(tenant, _read(tenant, result.order.pk)))


def _bulk_item(request: HttpRequest, index: int, item: Any) -> BulkResultOut:
    try:
        data = OrderIn.model_validate(item)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        return BulkResultOut(index=index, outcome="rejected", code="invalid", field=field,
                             message=f"{field}: {first['msg']}" if field else first["msg"])
    try:
        result = do_upsert_order(request.tenant, data.to_payload(), actor=request.auth)  # type: ignore[attr-defined]
    except SalesError as exc:
        body = sales_error_body(exc)
        return BulkResultOut(index=index, outcome="rejected", code=body["code"], message=body["message"],
                             field=body.get("field"))
    outcome = "created" if result.created else "updated" if result.changed else "unchanged"
    return BulkResultOut(index=index, outcome=outcome, order_id=result.order.pk)


@router.post("/bulk", response={200: OrderBulkOut, **WRITE_ERRORS}, auth=sales_auth(WRITE),
             summary="Create or update up to 1,000 orders",
             description="Each item is validated and stored on its own: one result per item, in order. "
             "A rejected item writes nothing; the others are stored.")
@waf_bulk()
def bulk_upsert_orders(request: HttpRequest, data: OrderBulkIn) -> dict[str, Any]:
    return {"results": [_bulk_item(request, index, item) for index, item in enumerate(data.items)]}


# Declared after /bulk: Django matches URL patterns in order, and "bulk" would fit {order_id}.
@router.get("/{order_id}", response={200: OrderDetailOut, **ONE_ERRORS}, auth=sales_auth(READ),
            summary="Read an order with its rows, addresses and shipments")
def get_order(request: HttpRequest, order_id: uuid.UUID) -> Order:
    tenant = request.tenant  # type: ignore[attr-defined]
    return _detail(tenant, _read(tenant, order_id))


@router.post("/{order_id}/mark", response={200: OrderOut, **WRITE_ERRORS}, auth=sales_auth(WRITE),
             summary="Set or clear an order's marked flag")
def mark_order(request: HttpRequest, order_id: uuid.UUID, data: MarkIn) -> Order:
    tenant = request.tenant  # type: ignore[attr-defined]
    order = access_order_by_id(tenant, order_id, for_write=False)
    do_mark_order(order, data.marked, actor=request.auth)  # type: ignore[attr-defined]
    return _read(tenant, order.pk)


@router.post("/{order_id}/status", response={200: OrderOut, **WRITE_ERRORS}, auth=sales_auth(WRITE),
             summary="Give an order a channel status code",
             description="The normalized status follows the normalization map; an unseen code is added to it.")
def set_order_status(request: HttpRequest, order_id: uuid.UUID, data: OrderStatusSetIn) -> Order:
    tenant = request.tenant  # type: ignore[attr-defined]
    order = access_order_by_id(tenant, order_id, for_write=False)
    do_set_order_status(order, data.code, name=data.name, actor=request.auth)  # type: ignore[attr-defined]
    return _read(tenant, order.pk)


@router.post("/{order_id}/shipments", response={200: ShipmentOut, 201: ShipmentOut, **WRITE_ERRORS},
             auth=sales_auth(WRITE), summary="Record a shipment of an order",
             description="201 for a new shipment; 200 when the same carrier and tracking number updated one.")
def add_shipment(request: HttpRequest, order_id: uuid.UUID, data: ShipmentIn) -> Status[Shipment]:
    tenant = request.tenant  # type: ignore[attr-defined]
    order = access_order_by_id(tenant, order_id, for_write=False)
    # The tracking number is encrypted: compare the order's few shipments after decryption.
    existed = bool(data.tracking_number) and any(
        s.tracking_number == data.tracking_number for s in order_shipments(order).filter(carrier=data.carrier))
    shipment = do_add_shipment(order, carrier=data.carrier, tracking_number=data.tracking_number,
                               service=data.service, weight_kg=data.weight_kg, shipped_at=data.shipped_at,
                               status=data.status, actor=request.auth)  # type: ignore[attr-defined]
    return Status(200 if existed else 201, shipment)
