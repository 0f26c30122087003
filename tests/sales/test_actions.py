"""Sales actions: order downloads, re-downloads, customers, statuses, shipments, limits, bad input."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bindery.control.models import LocalTenant
from bindery.sales.actions import (
    check_order_plan_limit,
    do_add_shipment,
    do_map_order_status,
    do_mark_order,
    do_set_order_status,
)
from bindery.sales.errors import SalesError, SalesErrorCode
from bindery.sales.models import (
    Address,
    AddressKind,
    Customer,
    NormalizedStatus,
    Order,
    OrderRow,
    OrderStatus,
    PaymentMethod,
    Shipment,
    ShipmentStatus,
    ShippingMethod,
)
from bindery.sales.payloads import AddressPayload, CodePayload, CustomerPayload, StatusPayload
from tests.sales.factories import ERP_NODE, SHOP_NODE, order_payload, replace, row, store

pytestmark = pytest.mark.django_db(databases="__all__")


def fresh(order: Order) -> Order:
    return Order.objects.for_tenant(order.tenant_id).get(pk=order.pk)


def counts(tenant: LocalTenant) -> dict[str, int]:
    models = (Order, OrderRow, Address, Customer, PaymentMethod, ShippingMethod, OrderStatus, Shipment)
    return {model.__name__: model.objects.for_tenant(tenant).count() for model in models}


def test_download_creates_the_order_with_everything(tenant: LocalTenant) -> None:
    """A first download stores order, rows, addresses, customer, methods and status."""
    result = store(tenant)
    order = fresh(result.order)
    assert result.created
    assert result.changed
    assert re.fullmatch(r"\d{6}-[0-9A-HJKMNP-TV-Z]{8}", order.hub_order_key)
    assert order.normalized_status == NormalizedStatus.PROCESSING
    assert order.total == Decimal("39.65")
    assert [r.sku for r in OrderRow.objects.for_tenant(tenant).filter(order=order)] == ["SKU-1", "SKU-2"]
    assert Address.objects.for_tenant(tenant).get(order=order, kind=AddressKind.DELIVERY).city == "Torino"
    assert order.customer is not None
    assert order.customer.email == "Mario.Rossi@example.com"
    assert order.payment_method is not None
    assert order.payment_method.code == "paypal"
    assert counts(tenant) == {"Order": 1, "OrderRow": 2, "Address": 2, "Customer": 1, "PaymentMethod": 1,
                              "ShippingMethod": 1, "OrderStatus": 1, "Shipment": 0}


def test_same_download_twice_changes_nothing(tenant: LocalTenant) -> None:
    """Downloading an unchanged order again writes nothing and keeps modified_at."""
    first = store(tenant).order
    before = fresh(first).modified_at
    again = store(tenant)
    assert not again.created
    assert not again.changed
    assert again.order.pk == first.pk
    assert fresh(first).modified_at == before
    assert counts(tenant)["Order"] == 1
    assert counts(tenant)["OrderRow"] == 2


def test_redownload_updates_the_order_and_replaces_rows(tenant: LocalTenant) -> None:
    """A changed re-download updates the same order, replaces its rows and moves modified_at."""
    first = store(tenant).order
    old_rows = set(OrderRow.objects.for_tenant(tenant).filter(order=first).values_list("pk", flat=True))
    before = fresh(first).modified_at
    result = store(tenant, order_payload(rows=(row("SKU-9", quantity="3"),), notes="leave at the door"))
    order = fresh(first)
    assert not result.created
    assert result.changed
    assert order.notes == "leave at the door"
    assert order.hub_order_key == first.hub_order_key
    rows = list(OrderRow.objects.for_tenant(tenant).filter(order=order))
    assert [(r.sku, r.quantity) for r in rows] == [("SKU-9", Decimal(3))]
    assert not old_rows & {r.pk for r in rows}
    assert order.modified_at > before
    assert counts(tenant)["Order"] == 1


def test_address_change_alone_moves_modified_at(tenant: LocalTenant) -> None:
    """Delta mode must see an order whose only change is its delivery address."""
    first = store(tenant).order
    before = fresh(first).modified_at
    moved = AddressPayload(name="Mario", address_line1="Corso Italia 3", city="Roma", country="IT")
    assert store(tenant, order_payload(delivery_address=moved)).changed
    assert fresh(first).modified_at > before
    assert Address.objects.for_tenant(tenant).get(order=first, kind=AddressKind.DELIVERY).city == "Roma"


def test_removed_address_is_deleted(tenant: LocalTenant) -> None:
    """An address the channel no longer sends disappears from the order."""
    first = store(tenant).order
    store(tenant, order_payload(delivery_address=None))
    assert list(Address.objects.for_tenant(tenant).filter(order=first).values_list("kind", flat=True)) == ["billing"]


def test_methods_and_statuses_are_created_once_per_node(tenant: LocalTenant) -> None:
    """Codes seen again reuse their row; the same code from another node gets its own."""
    store(tenant, order_payload("1"))
    store(tenant, order_payload("2"))
    store(tenant, order_payload("3", origin_node_id=ERP_NODE))
    assert counts(tenant)["PaymentMethod"] == 2
    assert counts(tenant)["ShippingMethod"] == 2
    assert counts(tenant)["OrderStatus"] == 2
    nodes = set(PaymentMethod.objects.for_tenant(tenant).values_list("origin_node_id", flat=True))
    assert nodes == {SHOP_NODE, ERP_NODE}


def test_cash_on_delivery_method_remembers_it(tenant: LocalTenant) -> None:
    """A payment method first seen on a cash-on-delivery order is marked as such."""
    store(tenant, order_payload(payment_method=CodePayload(code="cod"), cash_on_delivery=True))
    assert PaymentMethod.objects.for_tenant(tenant).get(code="cod").cash_on_delivery


def test_customer_is_matched_by_email_case_insensitively(tenant: LocalTenant) -> None:
    """Orders from the same e-mail in any case share one customer; blanks do not erase data."""
    first = store(tenant, order_payload("1")).order
    later = CustomerPayload(email="MARIO.ROSSI@EXAMPLE.COM", phone="+39 02 1234", name="")
    second = store(tenant, order_payload("2", customer=later)).order
    assert first.customer_id == second.customer_id
    customer = Customer.objects.for_tenant(tenant).get()
    assert (customer.name, customer.phone) == ("Mario", "+39 02 1234")
    assert customer.email == "Mario.Rossi@example.com"


def test_customer_without_email_is_kept_on_redownload(tenant: LocalTenant) -> None:
    """A customer with no e-mail stays the order's customer instead of multiplying."""
    anonymous = CustomerPayload(name="Anon")
    store(tenant, order_payload(customer=anonymous))
    store(tenant, order_payload(customer=replace(anonymous, surname="Ymous")))
    assert Customer.objects.for_tenant(tenant).get().surname == "Ymous"


@pytest.mark.parametrize(("status", "expected"), [
    (StatusPayload(code="wc-completed"), NormalizedStatus.COMPLETED),
    (StatusPayload(code="Cancelled"), NormalizedStatus.CANCELLED),
    (StatusPayload(code="3"), NormalizedStatus.UNKNOWN),
    (StatusPayload(code="4", normalized=NormalizedStatus.SHIPPED), NormalizedStatus.SHIPPED),
])
def test_new_status_codes_are_normalized(tenant: LocalTenant, status: StatusPayload,
                                         expected: NormalizedStatus) -> None:
    """Common codes are recognised, the connector may suggest one, anything else is unknown."""
    order = store(tenant, order_payload(status=status)).order
    assert fresh(order).normalized_status == expected
    assert OrderStatus.objects.for_tenant(tenant).get(code=status.code).normalized == expected


def test_mapping_a_status_moves_its_orders(tenant: LocalTenant) -> None:
    """Changing the map entry re-normalizes the orders that carry the status, and only once."""
    order = store(tenant, order_payload(status=StatusPayload(code="3"))).order
    before = fresh(order).modified_at
    status = OrderStatus.objects.for_tenant(tenant).get(code="3")
    assert do_map_order_status(status, NormalizedStatus.SHIPPED, actor="test") == 1
    assert fresh(order).normalized_status == NormalizedStatus.SHIPPED
    assert fresh(order).modified_at > before
    assert do_map_order_status(status, NormalizedStatus.SHIPPED, actor="test") == 0
    # The stored map wins over the connector's suggestion on later downloads.
    again = store(tenant, order_payload("2", status=StatusPayload(code="3", normalized=NormalizedStatus.FAILED)))
    assert fresh(again.order).normalized_status == NormalizedStatus.SHIPPED


def test_set_order_status_uses_the_map(tenant: LocalTenant) -> None:
    """Setting a status code gives the order that code's normalized status; repeating is a no-op."""
    order = store(tenant).order
    assert do_set_order_status(order, "wc-cancelled", name="Cancelled", actor="test")
    assert fresh(order).normalized_status == NormalizedStatus.CANCELLED
    before = fresh(order).modified_at
    assert not do_set_order_status(order, "wc-cancelled", actor="test")
    assert fresh(order).modified_at == before


def test_shipment_is_added_once_per_tracking_number(tenant: LocalTenant) -> None:
    """The same carrier and tracking number update one shipment; the order's modified_at moves."""
    order = store(tenant).order
    before = fresh(order).modified_at
    when = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
    shipment = do_add_shipment(order, carrier="BRT", tracking_number="TRK1", weight_kg=Decimal("1.5"),
                               shipped_at=when, actor="test")
    assert fresh(order).modified_at > before
    again = do_add_shipment(order, carrier="BRT", tracking_number="TRK1", weight_kg=Decimal("1.5"),
                            shipped_at=when, status=ShipmentStatus.DELIVERED, actor="test")
    assert again.pk == shipment.pk
    stored = Shipment.objects.for_tenant(tenant).get()
    assert (stored.status, stored.weight_kg, stored.shipped_at) == (ShipmentStatus.DELIVERED, Decimal("1.5"), when)


def test_bad_shipment_input_is_refused(tenant: LocalTenant) -> None:
    """An oversized tracking number gives a coded error naming it and stores no shipment."""
    order = store(tenant).order
    with pytest.raises(SalesError) as caught:
        do_add_shipment(order, carrier="BRT", tracking_number="T" * 101, actor="test")
    assert (caught.value.code, caught.value.field) == (SalesErrorCode.TOO_LONG, "tracking_number")
    assert not Shipment.objects.for_tenant(tenant).exists()


def test_marking_is_idempotent(tenant: LocalTenant) -> None:
    """Marking twice changes the order once; unmarking changes it back."""
    order = store(tenant).order
    assert do_mark_order(order, True, actor="test")
    before = fresh(order).modified_at
    assert not do_mark_order(order, True, actor="test")
    assert fresh(order).modified_at == before
    assert fresh(order).is_marked
    assert do_mark_order(order, False, actor="test")
    assert not fresh(order).is_marked


def test_redownload_keeps_the_mark(tenant: LocalTenant) -> None:
    """The marked flag is the hub's own: a changed re-download leaves it set."""
    order = store(tenant).order
    do_mark_order(order, True, actor="test")
    store(tenant, order_payload(notes="changed"))
    assert fresh(order).is_marked


def test_plan_limit_refuses_new_recent_orders(tenant: LocalTenant) -> None:
    """Past the limit, new recent orders fail with the limit named; updates and old orders pass."""
    LocalTenant.objects.filter(pk=tenant.pk).update(max_orders_30d=2)
    store(tenant, order_payload("1"))
    store(tenant, order_payload("2"))
    with pytest.raises(SalesError) as caught:
        store(tenant, order_payload("3"))
    assert caught.value.code == SalesErrorCode.PLAN_LIMIT_EXCEEDED
    assert "allows 2 sales documents" in str(caught.value)
    with pytest.raises(SalesError):
        check_order_plan_limit(tenant)  # as a connector asks when it starts
    assert store(tenant, order_payload("2", notes="update")).changed
    old = datetime.now(UTC) - timedelta(days=45)
    assert store(tenant, order_payload("4", created_on_channel=old)).created
    assert sorted(Order.objects.for_tenant(tenant).values_list("channel_order_number", flat=True)) == ["1", "2", "4"]


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_plan_limit_check_runs_outside_a_transaction(tenant: LocalTenant) -> None:
    """A connector may check the limit in autocommit mode (the row lock opens its own transaction)."""
    LocalTenant.objects.filter(pk=tenant.pk).update(max_orders_30d=1)
    check_order_plan_limit(tenant)
    store(tenant)
    with pytest.raises(SalesError) as caught:
        check_order_plan_limit(tenant)
    assert caught.value.code == SalesErrorCode.PLAN_LIMIT_EXCEEDED


def test_unlimited_plan_has_no_limit(tenant: LocalTenant) -> None:
    """A tenant without an order limit is never refused."""
    LocalTenant.objects.filter(pk=tenant.pk).update(max_orders_30d=None)
    for number in ("1", "2", "3"):
        store(tenant, order_payload(number))
    assert Order.objects.for_tenant(tenant).count() == 3


BAD_INPUTS: list[tuple[str, dict[str, Any], SalesErrorCode, str]] = [
    ("negative qty", {"rows": (row(quantity="-1", total_net=Decimal(0), total_vat=Decimal(0),
                                   total_gross=Decimal(0)),)},
     SalesErrorCode.NEGATIVE_VALUE, "rows[0].quantity"),
    ("unknown currency", {"currency": "ZZZ"}, SalesErrorCode.UNKNOWN_CURRENCY, "currency"),
    ("lower-case currency", {"currency": "eur"}, SalesErrorCode.UNKNOWN_CURRENCY, "currency"),
    ("row currency differs", {"rows": (row(currency="USD"),)}, SalesErrorCode.CURRENCY_MISMATCH, "rows[0].currency"),
    ("bad country", {"billing_address": AddressPayload(country="XX")}, SalesErrorCode.UNKNOWN_COUNTRY,
     "billing_address.country"),
    ("bad customer country", {"customer": CustomerPayload(email="a@example.com", country="ITA")},
     SalesErrorCode.UNKNOWN_COUNTRY, "customer.country"),
    ("total mismatch", {"total": Decimal("99.00")}, SalesErrorCode.TOTALS_MISMATCH, "total"),
    ("net mismatch", {"net_total": Decimal("1.00"), "total": Decimal("8.64")}, SalesErrorCode.TOTALS_MISMATCH,
     "net_total"),
    ("row gross mismatch", {"rows": (row(total_gross=Decimal("1")),)}, SalesErrorCode.TOTALS_MISMATCH,
     "rows[0].total_gross"),
    ("long channel number", {"channel_order_number": "9" * 101}, SalesErrorCode.TOO_LONG, "channel_order_number"),
    ("long sku", {"rows": (row(sku="S" * 101),)}, SalesErrorCode.TOO_LONG, "rows[0].sku"),
    ("long customer name", {"customer": CustomerPayload(name="N" * 101)}, SalesErrorCode.TOO_LONG, "customer.name"),
    ("long status code", {"status": StatusPayload(code="c" * 101)}, SalesErrorCode.TOO_LONG, "status.code"),
    ("empty number", {"channel_order_number": " "}, SalesErrorCode.REQUIRED, "channel_order_number"),
    ("empty method code", {"payment_method": CodePayload(code="")}, SalesErrorCode.REQUIRED, "payment_method.code"),
    ("naive time", {"created_on_channel": datetime(2025, 3, 14, 10, 0)},  # noqa: DTZ001 - the bad input under test
     SalesErrorCode.NAIVE_DATETIME, "created_on_channel"),
    ("float amount", {"coupon_total": 1.5}, SalesErrorCode.INVALID_VALUE, "coupon_total"),
    ("huge amount", {"commission_total": Decimal("1e12")}, SalesErrorCode.OUT_OF_RANGE, "commission_total"),
    ("vat over 100", {"rows": (row(vat_rate="150"),)}, SalesErrorCode.OUT_OF_RANGE, "rows[0].vat_rate"),
    ("bad email", {"customer": CustomerPayload(email="not-an-email")}, SalesErrorCode.INVALID_EMAIL,
     "customer.email"),
    ("NUL in notes", {"notes": "a\x00b"}, SalesErrorCode.INVALID_VALUE, "notes"),
    ("unknown document type", {"document_type": "quote"}, SalesErrorCode.INVALID_VALUE, "document_type"),
]


@pytest.mark.parametrize(("overrides", "code", "field"), [case[1:] for case in BAD_INPUTS],
                         ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_refused_and_nothing_written(tenant: LocalTenant, overrides: dict[str, Any],
                                                  code: SalesErrorCode, field: str) -> None:
    """Invalid payloads give a coded error naming the field, and store nothing at all."""
    with pytest.raises(SalesError) as caught:
        store(tenant, order_payload(**overrides))
    assert (caught.value.code, caught.value.field) == (code, field)
    assert set(counts(tenant).values()) == {0}


def test_unchanged_redownload_only_reads(tenant: LocalTenant) -> None:
    """A no-op re-download issues no INSERT, UPDATE or DELETE, and a bounded number of queries."""
    store(tenant)
    with CaptureQueriesContext(connection) as queries:
        assert not store(tenant).changed
    writes = [q["sql"] for q in queries.captured_queries
              if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert writes == []
    assert len(queries.captured_queries) <= 15
