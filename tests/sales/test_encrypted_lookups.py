"""E-mails are encrypted; de-duplication and order search by e-mail go through the keyed blind index."""

from __future__ import annotations

import pytest

from bindery.control.models import LocalTenant
from bindery.sales.access import find_customer_by_email, orders_with_email, search_customers
from bindery.sales.actions import do_add_shipment
from bindery.sales.errors import SalesError, SalesErrorCode
from bindery.sales.models import Customer, Order, Shipment
from bindery.sales.payloads import AddressPayload, CustomerPayload
from tests.sales.factories import order_payload, store

pytestmark = pytest.mark.django_db(databases="__all__")


def _customer(email: str, **extra: str) -> CustomerPayload:
    return CustomerPayload(email=email, name="Anna", surname="Verdi", country="IT", **extra)


def test_two_imports_of_one_email_in_different_case_make_one_customer(tenant: LocalTenant) -> None:
    first = store(tenant, order_payload("1", customer=_customer("Anna.Verdi@Example.com")))
    second = store(tenant, order_payload("2", customer=_customer("anna.verdi@example.COM", phone="+39 02 123")))
    assert first.order.customer_id == second.order.customer_id
    customer = Customer.objects.for_tenant(tenant).get()
    assert customer.email == "Anna.Verdi@Example.com"  # the first spelling stays
    assert customer.phone == "+39 02 123"  # later orders still fill blanks
    assert len(customer.email_index) == 64
    assert "anna" not in customer.email_index
    assert find_customer_by_email(tenant, "  ANNA.VERDI@example.com ", for_write=False) == customer


def test_customers_without_email_are_never_merged(tenant: LocalTenant) -> None:
    store(tenant, order_payload("1", customer=CustomerPayload(name="A", country="IT")))
    store(tenant, order_payload("2", customer=CustomerPayload(name="B", country="IT")))
    assert Customer.objects.for_tenant(tenant).count() == 2
    assert set(Customer.objects.for_tenant(tenant).values_list("email_index", flat=True)) == {""}


def test_same_email_in_two_tenants_stays_two_customers(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    store(tenant, order_payload("1", customer=_customer("shared@example.com")))
    store(other_tenant, order_payload("1", customer=_customer("shared@example.com")))
    assert find_customer_by_email(other_tenant, "shared@example.com", for_write=False).tenant_id == other_tenant.pk
    assert Customer.objects.unscoped().count() == 2


def test_orders_are_found_by_the_customers_or_an_addresses_email(tenant: LocalTenant) -> None:
    by_customer = store(tenant, order_payload("10", customer=_customer("buyer@example.com"))).order
    by_address = store(tenant, order_payload("11", customer=CustomerPayload(name="Gift", country="IT"),
                                             delivery_address=AddressPayload(name="R", email="Recipient@Example.com",
                                                                             country="IT"))).order
    store(tenant, order_payload("12", customer=_customer("someone.else@example.com")))
    found = set(Order.objects.for_tenant(tenant).filter(orders_with_email(tenant, "BUYER@example.com"))
                .values_list("pk", flat=True))
    assert found == {by_customer.pk}
    found = set(Order.objects.for_tenant(tenant).filter(orders_with_email(tenant, "recipient@example.com"))
                .values_list("pk", flat=True))
    assert found == {by_address.pk}
    assert not Order.objects.for_tenant(tenant).filter(orders_with_email(tenant, "nobody@example.com")).exists()
    assert not Order.objects.for_tenant(tenant).filter(orders_with_email(tenant, "")).exists()


def test_free_text_customer_search_decrypts_and_matches_parts(tenant: LocalTenant) -> None:
    store(tenant, order_payload("1", customer=_customer("anna@example.com", company="Verdi Vini Srl")))
    store(tenant, order_payload("2", customer=CustomerPayload(email="luca@example.com", name="Luca", surname="Neri",
                                                              country="IT")))
    assert [c.email for c in search_customers(tenant, "vini")] == ["anna@example.com"]
    assert [c.email for c in search_customers(tenant, "NERI")] == ["luca@example.com"]
    assert [c.email for c in search_customers(tenant, "luca@example.com")] == ["luca@example.com"]
    assert list(search_customers(tenant, "nobody")) == []


def test_shipments_match_their_tracking_number_though_it_is_encrypted(tenant: LocalTenant) -> None:
    order = store(tenant, order_payload("1")).order
    first = do_add_shipment(order, carrier="BRT", tracking_number="TRK-1", actor="test")
    again = do_add_shipment(order, carrier="BRT", tracking_number="TRK-1", service="express", actor="test")
    other = do_add_shipment(order, carrier="BRT", tracking_number="TRK-2", actor="test")
    assert first.pk == again.pk != other.pk
    assert Shipment.objects.for_tenant(tenant).get(pk=first.pk).service == "express"


@pytest.mark.parametrize(("customer", "code"), [
    (CustomerPayload(email="x" * 250 + "@example.com"), SalesErrorCode.TOO_LONG),
    (CustomerPayload(email="not-an-address"), SalesErrorCode.INVALID_EMAIL),
    (CustomerPayload(email="a@example.com", name="Nul\x00Byte"), SalesErrorCode.INVALID_VALUE),
    (CustomerPayload(email="a@example.com", surname="lone \ud800 surrogate"), SalesErrorCode.INVALID_VALUE),
    (CustomerPayload(email="a@example.com", surname="E1:not-really-ciphertext"), None),
])
def test_hostile_personal_values_get_clear_errors_and_store_nothing(
        tenant: LocalTenant, customer: CustomerPayload, code: SalesErrorCode | None) -> None:
    if code is None:  # text that looks like ciphertext is just text: encrypted like any other
        stored = store(tenant, order_payload("1", customer=customer)).order
        assert Customer.objects.for_tenant(tenant).get(pk=stored.customer_id).surname == "E1:not-really-ciphertext"
        return
    with pytest.raises(SalesError) as caught:
        store(tenant, order_payload("1", customer=customer))
    assert caught.value.code == code
    assert Customer.objects.for_tenant(tenant).count() == 0
    assert Order.objects.for_tenant(tenant).count() == 0
