"""Tenant-scoped getters for sales objects.

Another tenant's object is "not found", exactly like a missing one, so ids cannot be probed
across tenants. ``for_write=True`` locks the row (``SELECT ... FOR UPDATE`` on PostgreSQL) and
must therefore run inside ``transaction.atomic``; actions re-read what they change this way.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db.models import Model

from bindery.control.models import LocalTenant
from bindery.control.routers import HOST
from bindery.control.tenancy import TenantQuerySet
from bindery.privacy.fields import blind_index
from bindery.sales.errors import SalesError, SalesErrorCode
from bindery.sales.models import Customer, Order, OrderStatus, Shipment

TenantRef = LocalTenant | uuid.UUID
M = TypeVar("M", bound=Model)


def _scoped(model: type[Model], tenant: TenantRef, *, for_write: bool) -> TenantQuerySet:
    qs: TenantQuerySet = model.objects.for_tenant(tenant)  # type: ignore[attr-defined]  # TenantManager
    return qs.select_for_update() if for_write else qs


def _one(model: type[M], tenant: TenantRef, code: SalesErrorCode, *, for_write: bool, **lookup: object) -> M:
    try:
        found = _scoped(model, tenant, for_write=for_write).filter(**lookup).first()
    except (ValidationError, ValueError):  # a malformed id is as unknown as a missing one
        found = None
    if found is None:
        raise SalesError(code, f"{model._meta.verbose_name} not found")
    return found


def access_order_by_id(tenant: TenantRef, order_id: uuid.UUID | str, *, for_write: bool) -> Order:
    """Return the tenant's order with this id or raise ``ORDER_NOT_FOUND``."""
    return _one(Order, tenant, SalesErrorCode.ORDER_NOT_FOUND, for_write=for_write, pk=order_id)


def access_orders_by_ids(tenant: TenantRef, order_ids: Iterable[uuid.UUID | str], *, for_write: bool) -> list[Order]:
    """Return the tenant's orders with these ids, in id order; raise if any one is missing."""
    try:
        wanted = {uuid.UUID(str(order_id)) for order_id in order_ids}
    except ValueError:
        raise SalesError(SalesErrorCode.ORDER_NOT_FOUND, "order not found") from None
    orders = list(_scoped(Order, tenant, for_write=for_write).filter(pk__in=wanted).order_by("pk"))
    if len(orders) != len(wanted):
        raise SalesError(SalesErrorCode.ORDER_NOT_FOUND, f"{len(wanted) - len(orders)} of the orders not found")
    return orders


def access_order_by_channel_number(
    tenant: TenantRef, origin_node_id: uuid.UUID | None, channel_order_number: str, *, for_write: bool
) -> Order:
    """Return the order a channel knows by this number (``origin_node_id=None``: entered in the hub)."""
    return _one(Order, tenant, SalesErrorCode.ORDER_NOT_FOUND, for_write=for_write,
                origin_node_id=origin_node_id, channel_order_number=channel_order_number)


def access_order_by_hub_key(tenant: TenantRef, hub_order_key: str, *, for_write: bool) -> Order:
    """Return the order with this hub order key (the key every connected system quotes)."""
    return _one(Order, tenant, SalesErrorCode.ORDER_NOT_FOUND, for_write=for_write, hub_order_key=hub_order_key)


def access_customer_by_id(tenant: TenantRef, customer_id: uuid.UUID | str, *, for_write: bool) -> Customer:
    return _one(Customer, tenant, SalesErrorCode.CUSTOMER_NOT_FOUND, for_write=for_write, pk=customer_id)


def find_customer_by_email(tenant: TenantRef, email: str, *, for_write: bool) -> Customer | None:
    """Return the customer with this e-mail (case-insensitive), found by its blind index.

    The e-mail itself is encrypted; the unique constraint is on the same index, so lookup and
    constraint agree.
    """
    index = blind_index(tenant, email, using=HOST)
    if not index:
        return None
    customer: Customer | None = _scoped(Customer, tenant, for_write=for_write).filter(email_index=index).first()
    return customer


def access_customer_by_email(tenant: TenantRef, email: str, *, for_write: bool) -> Customer:
    customer = find_customer_by_email(tenant, email, for_write=for_write)
    if customer is None:
        raise SalesError(SalesErrorCode.CUSTOMER_NOT_FOUND, "customer not found")
    return customer


def access_shipment_by_id(tenant: TenantRef, shipment_id: uuid.UUID | str, *, for_write: bool) -> Shipment:
    return _one(Shipment, tenant, SalesErrorCode.SHIPMENT_NOT_FOUND, for_write=for_write, pk=shipment_id)


def access_order_status_by_id(tenant: TenantRef, status_id: uuid.UUID | str, *, for_write: bool) -> OrderStatus:
    return _one(OrderStatus, tenant, SalesErrorCode.ORDER_STATUS_NOT_FOUND, for_write=for_write, pk=status_id)


def order_shipments(order: Order) -> TenantQuerySet:
    """Return the order's shipments, oldest first."""
    return Shipment.objects.for_tenant(order.tenant_id).filter(order=order).order_by("created_at", "pk")


def orders_for_export(tenant: TenantRef, *, modified_since: datetime | None) -> TenantQuerySet:
    """Return the tenant's orders in modification order; delta mode passes its watermark."""
    qs = Order.objects.for_tenant(tenant)
    if modified_since is not None:
        qs = qs.filter(modified_at__gte=modified_since)
    return qs.order_by("modified_at", "pk")


def shipments_to_upload(tenant: TenantRef, *, origin_node_id: uuid.UUID, exclude_ids: Iterable[uuid.UUID] | Any
                        ) -> TenantQuerySet:
    """Shipments of the orders downloaded from ``origin_node_id``, except ``exclude_ids`` (already sent)."""
    return (Shipment.objects.for_tenant(tenant).filter(order__origin_node_id=origin_node_id)
            .exclude(pk__in=exclude_ids).order_by("created_at", "pk"))


SEARCH_MAX_MATCHES = 1000  # a free-text search returns at most this many customers
_SEARCH_FIELDS = ("name", "surname", "company", "email", "code")


def search_customers(tenant: TenantRef, text: str) -> TenantQuerySet:
    """Customers whose name, surname, company, e-mail or code contains ``text`` (case-insensitive).

    These fields are encrypted, so SQL cannot search them: the tenant's customers are decrypted
    in batches and compared here (cost grows with the number of customers), and at most
    :data:`SEARCH_MAX_MATCHES` are returned. An exact e-mail is found through the blind index.
    """
    needle = text.strip().casefold()
    scoped: TenantQuerySet = Customer.objects.for_tenant(tenant)
    if not needle:
        return scoped
    index = blind_index(tenant, needle, using=HOST) if "@" in needle else ""
    matches: list[Any] = list(scoped.filter(email_index=index).values_list("pk", flat=True)) if index else []
    for row in scoped.order_by("pk").values_list("pk", *_SEARCH_FIELDS).iterator(chunk_size=2000):
        if len(matches) >= SEARCH_MAX_MATCHES:
            break
        if any(needle in (value or "").casefold() for value in row[1:]):
            matches.append(row[0])
    return scoped.filter(pk__in=matches[:SEARCH_MAX_MATCHES])


def orders_with_email(tenant: TenantRef, email: str) -> Any:
    """A filter for orders whose customer or any of whose addresses has this e-mail (exact, any case)."""
    from django.db.models import Q

    from bindery.sales.models import Address

    index = blind_index(tenant, email, using=HOST)
    if not index:
        return Q(pk__in=[])
    addresses = Address.objects.for_tenant(tenant).filter(email_index=index).values("order_id")
    return Q(customer__email_index=index) | Q(pk__in=addresses)
