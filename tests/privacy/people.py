"""A data subject with orders in two shops, and a bystander who must stay untouched."""

from __future__ import annotations

from dataclasses import dataclass

from bindery.control.models import LocalTenant
from bindery.sales.actions import do_add_shipment
from bindery.sales.models import Customer, Order
from bindery.sales.payloads import AddressPayload, CustomerPayload
from tests.sales.factories import order_payload, store

EMAIL = "giulia.bianchi@example.com"
# Values that identify Giulia; after erasure none may remain anywhere in the host database.
GIULIA_VALUES = ("giulia.bianchi@example.com", "Bianchi", "+39 333 1234567", "Via Garibaldi 42", "GB-TRACK-77",
                 "BNCGLI80A41F205X", "Call Giulia before delivery")


@dataclass
class People:
    giulia: Customer
    giulia_orders: list[Order]
    other: Customer


def make_people(tenant: LocalTenant) -> People:
    giulia_customer = CustomerPayload(email="Giulia.Bianchi@example.com", name="Giulia", surname="Bianchi",
                                      phone="+39 333 1234567", fiscal_code="BNCGLI80A41F205X", country="IT")
    address = AddressPayload(name="Giulia", surname="Bianchi", address_line1="Via Garibaldi 42", city="Bergamo",
                             postal_code="24121", country="IT", email=EMAIL, phone="+39 333 1234567")
    orders = []
    for number in ("2001", "2002"):
        result = store(tenant, order_payload(number, customer=giulia_customer, billing_address=address,
                                             delivery_address=address, notes="Call Giulia before delivery"))
        orders.append(result.order)
    do_add_shipment(orders[0], carrier="BRT", tracking_number="GB-TRACK-77", actor="test")
    other = store(tenant, order_payload("3001")).order  # Mario Rossi, the factories' default customer
    return People(giulia=Customer.objects.for_tenant(tenant).get(pk=orders[0].customer_id), giulia_orders=orders,
                  other=Customer.objects.for_tenant(tenant).get(pk=other.customer_id))
