"""Database constraints of the sales models: the last guard against duplicates."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from bindery.control.models import LocalTenant
from bindery.sales.models import Customer, Order, OrderRow, PaymentMethod, validate_country, validate_currency
from tests.sales.factories import ERP_NODE, SHOP_NODE

pytestmark = pytest.mark.django_db(databases="__all__")

WHEN = datetime(2025, 3, 14, 10, 0, tzinfo=UTC)


def make_order(tenant: LocalTenant, number: str, key: str, node: object = SHOP_NODE) -> Order:
    order = Order(tenant=tenant, origin_node_id=node, channel_order_number=number, hub_order_key=key,
                  created_on_channel=WHEN, imported_at=WHEN, currency="EUR")
    order.save()
    return order


def test_channel_number_is_unique_per_origin_node(tenant: LocalTenant) -> None:
    """A second order with the same origin node and channel number is refused."""
    make_order(tenant, "1001", "K1")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_order(tenant, "1001", "K2")


def test_channel_number_may_repeat_across_nodes_and_tenants(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    """The same number from another node, or in another tenant, is another order."""
    make_order(tenant, "1001", "K1")
    make_order(tenant, "1001", "K2", node=ERP_NODE)
    make_order(other_tenant, "1001", "K1")
    assert Order.objects.unscoped().filter(channel_order_number="1001").count() == 3


def test_hub_orders_without_origin_node_are_unique_by_number(tenant: LocalTenant) -> None:
    """NULL origin nodes do not slip past the uniqueness of the channel number."""
    make_order(tenant, "H-1", "K1", node=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_order(tenant, "H-1", "K2", node=None)


def test_hub_order_key_is_unique_per_tenant(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    """Two orders of one tenant cannot share a hub key; another tenant may use it."""
    make_order(tenant, "1001", "250314-AAAA")
    make_order(other_tenant, "1001", "250314-AAAA")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_order(tenant, "1002", "250314-AAAA")


def test_customer_email_is_unique_case_insensitively(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    """The database refuses a second customer whose e-mail differs only in case."""
    Customer(tenant=tenant, email="anna@example.com").save()
    Customer(tenant=other_tenant, email="ANNA@example.com").save()
    Customer(tenant=tenant, email="").save()
    Customer(tenant=tenant, email="").save()  # customers without an e-mail are never merged
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer(tenant=tenant, email="Anna@Example.COM").save()


def test_method_codes_are_unique_per_node_including_hub(tenant: LocalTenant) -> None:
    """One payment method per (origin node, code), also for codes entered in the hub."""
    PaymentMethod(tenant=tenant, origin_node_id=SHOP_NODE, code="cod").save()
    PaymentMethod(tenant=tenant, origin_node_id=ERP_NODE, code="cod").save()
    PaymentMethod(tenant=tenant, origin_node_id=None, code="cod").save()
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentMethod(tenant=tenant, origin_node_id=SHOP_NODE, code="cod").save()
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentMethod(tenant=tenant, origin_node_id=None, code="cod").save()


def test_row_quantity_cannot_be_negative(tenant: LocalTenant) -> None:
    """A check constraint refuses negative quantities whatever code writes them."""
    order = make_order(tenant, "1001", "K1")
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderRow(tenant=tenant, order=order, position=0, quantity=Decimal(-1), currency="EUR").save()


@pytest.mark.parametrize(("value", "valid"), [("EUR", True), ("USD", True), ("eur", False), ("EURO", False),
                                              ("ZZZ", False), ("", False)])
def test_currency_validator(value: str, valid: bool) -> None:
    """Only upper-case ISO 4217 codes pass."""
    if valid:
        validate_currency(value)
    else:
        with pytest.raises(ValidationError):
            validate_currency(value)


@pytest.mark.parametrize(("value", "valid"), [("IT", True), ("DE", True), ("it", False), ("ITA", False),
                                              ("XX", False), ("", False)])
def test_country_validator(value: str, valid: bool) -> None:
    """Only upper-case ISO 3166-1 alpha-2 codes pass."""
    if valid:
        validate_country(value)
    else:
        with pytest.raises(ValidationError):
            validate_country(value)
