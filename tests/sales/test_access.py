"""Tenant-scoped getters: another tenant's sales objects are "not found", like missing ones."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from bindery.control.models import LocalTenant
from bindery.sales.access import (
    access_customer_by_email,
    access_customer_by_id,
    access_order_by_channel_number,
    access_order_by_hub_key,
    access_order_by_id,
    access_order_status_by_id,
    access_orders_by_ids,
    access_shipment_by_id,
    order_shipments,
    orders_for_export,
)
from bindery.sales.actions import do_add_shipment
from bindery.sales.errors import SalesError, SalesErrorCode
from bindery.sales.models import Customer, Order, OrderStatus, Shipment
from tests.sales.factories import SHOP_NODE, order_payload, store

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def theirs(other_tenant: LocalTenant) -> Order:
    """An order of the other tenant, with a shipment."""
    order = store(other_tenant).order
    do_add_shipment(order, carrier="DHL", tracking_number="THEIRS", actor="test")
    return order


@pytest.mark.parametrize("for_write", [False, True])
def test_own_order_is_found(tenant: LocalTenant, for_write: bool) -> None:
    """The tenant's own order comes back by id, channel number and hub key."""
    mine = store(tenant).order
    with transaction.atomic():
        assert access_order_by_id(tenant, mine.pk, for_write=for_write) == mine
        assert access_order_by_id(tenant, str(mine.pk), for_write=for_write) == mine
        assert access_order_by_channel_number(tenant, SHOP_NODE, "1001", for_write=for_write) == mine
        assert access_order_by_hub_key(tenant, mine.hub_order_key, for_write=for_write) == mine


@pytest.mark.parametrize("for_write", [False, True])
def test_other_tenants_order_is_not_found(tenant: LocalTenant, theirs: Order, for_write: bool) -> None:
    """Every way of naming another tenant's order answers ORDER_NOT_FOUND."""
    lookups = [
        lambda: access_order_by_id(tenant, theirs.pk, for_write=for_write),
        lambda: access_order_by_channel_number(tenant, SHOP_NODE, "1001", for_write=for_write),
        lambda: access_order_by_hub_key(tenant, theirs.hub_order_key, for_write=for_write),
        lambda: access_orders_by_ids(tenant, [theirs.pk], for_write=for_write),
    ]
    for lookup in lookups:
        with pytest.raises(SalesError) as caught, transaction.atomic():
            lookup()
        assert caught.value.code == SalesErrorCode.ORDER_NOT_FOUND


@pytest.mark.parametrize("order_id", [uuid.UUID(int=0), "not-a-uuid", ""])
def test_missing_or_malformed_order_id_is_not_found(tenant: LocalTenant, order_id: object) -> None:
    """Unknown and malformed ids give the same answer as another tenant's id."""
    with pytest.raises(SalesError) as caught:
        access_order_by_id(tenant, order_id, for_write=False)  # type: ignore[arg-type]
    assert caught.value.code == SalesErrorCode.ORDER_NOT_FOUND


def test_bulk_access_fails_if_any_order_is_foreign(tenant: LocalTenant, theirs: Order) -> None:
    """A list of ids with one foreign id is refused as a whole; own ids alone pass."""
    mine = [store(tenant, order_payload(str(n))).order for n in range(2)]
    assert access_orders_by_ids(tenant, [o.pk for o in mine], for_write=False) == sorted(mine, key=lambda o: o.pk)
    with pytest.raises(SalesError) as caught:
        access_orders_by_ids(tenant, [mine[0].pk, theirs.pk], for_write=False)
    assert caught.value.code == SalesErrorCode.ORDER_NOT_FOUND


def test_shipment_cannot_be_added_to_another_tenants_order(tenant: LocalTenant, theirs: Order) -> None:
    """Resolving a foreign order id for a shipment fails, and the foreign order gets no shipment."""
    def add_shipment_by_id(order_id: uuid.UUID) -> None:
        with transaction.atomic():
            order = access_order_by_id(tenant, order_id, for_write=True)
            do_add_shipment(order, carrier="BRT", tracking_number="MINE", actor="test")

    with pytest.raises(SalesError) as caught:
        add_shipment_by_id(theirs.pk)
    assert caught.value.code == SalesErrorCode.ORDER_NOT_FOUND
    assert list(Shipment.objects.unscoped().values_list("tracking_number", flat=True)) == ["THEIRS"]


def test_other_tenants_customer_shipment_and_status_are_not_found(tenant: LocalTenant, theirs: Order) -> None:
    """Customers, shipments and statuses of another tenant are invisible too."""
    customer = Customer.objects.for_tenant(theirs.tenant_id).get()
    shipment = order_shipments(theirs).get()
    status = OrderStatus.objects.for_tenant(theirs.tenant_id).get()
    cases = [
        (lambda: access_customer_by_id(tenant, customer.pk, for_write=False), SalesErrorCode.CUSTOMER_NOT_FOUND),
        (lambda: access_customer_by_email(tenant, customer.email, for_write=False),
         SalesErrorCode.CUSTOMER_NOT_FOUND),
        (lambda: access_shipment_by_id(tenant, shipment.pk, for_write=False), SalesErrorCode.SHIPMENT_NOT_FOUND),
        (lambda: access_order_status_by_id(tenant, status.pk, for_write=False),
         SalesErrorCode.ORDER_STATUS_NOT_FOUND),
    ]
    for lookup, code in cases:
        with pytest.raises(SalesError) as caught:
            lookup()
        assert caught.value.code == code
    assert access_shipment_by_id(theirs.tenant_id, shipment.pk, for_write=False) == shipment
    assert access_customer_by_email(theirs.tenant_id, customer.email.upper(), for_write=False) == customer


def test_same_email_and_number_stay_separate_per_tenant(tenant: LocalTenant, theirs: Order) -> None:
    """De-duplication never crosses tenants: each tenant gets its own order and customer."""
    mine = store(tenant).order
    assert mine.pk != theirs.pk
    assert mine.customer_id != theirs.customer_id
    assert Order.objects.unscoped().count() == 2
    assert Customer.objects.unscoped().count() == 2


def test_orders_for_export_is_scoped_and_honours_the_watermark(tenant: LocalTenant, theirs: Order) -> None:
    """Export reads only the tenant's orders, and in delta mode only those modified since the watermark."""
    first = store(tenant, order_payload("1")).order
    second = store(tenant, order_payload("2")).order
    assert list(orders_for_export(tenant, modified_since=None)) == [first, second]
    watermark = Order.objects.for_tenant(tenant).get(pk=second.pk).modified_at
    assert list(orders_for_export(tenant, modified_since=watermark)) == [second]
    store(tenant, order_payload("1", notes="changed"))
    assert list(orders_for_export(tenant, modified_since=watermark)) == [second, first]
