"""Shared set-up for the console data-page tests: signed-in clients and data made through actions."""

from __future__ import annotations

from dataclasses import dataclass

from bindery.accounts.actions import do_create_user
from bindery.accounts.models import Role
from bindery.catalog.actions import (
    do_create_category,
    do_create_price_list,
    do_create_warehouse,
    do_upsert_product,
)
from bindery.catalog.models import PriceList, Product, Warehouse
from bindery.catalog.payloads import ImageData, PriceData, ProductData, StockData
from bindery.control.models import LocalTenant
from bindery.sales.actions import do_add_shipment
from bindery.sales.models import Customer, Order, Shipment
from tests.conftest import PASSWORD, HttpsClient
from tests.sales.factories import order_payload, store


def signed_in(tenant: LocalTenant, role: Role = Role.OWNER, email: str | None = None) -> HttpsClient:
    """Return a client signed in as a new user of the tenant with this role."""
    email = email or f"{role}@{tenant.slug}.example"
    do_create_user(tenant, email, PASSWORD, role=role, actor="test")
    client = HttpsClient()
    response = client.post("/login/", {"workspace": tenant.slug, "email": email, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


@dataclass(frozen=True)
class Catalog:
    product: Product
    variant: Product
    warehouse: Warehouse
    price_list: PriceList


def make_catalog(tenant: LocalTenant, *, sku: str = "SHIRT", name: str = "Shirt", category: str = "Clothes|Shirts",
                 warehouse: str = "main", price_list: str = "retail") -> Catalog:
    """Create a warehouse, a price list, a category and a product with one variant, stock, a price and an image."""
    wh = do_create_warehouse(tenant, warehouse, name=f"{warehouse} store", actor="test")
    pl = do_create_price_list(tenant, price_list, "EUR", actor="test")
    do_create_category(tenant, category, actor="test")
    do_upsert_product(tenant, ProductData(
        sku=sku, name=name, barcode="8001234567890", manufacturer="Acme Textiles", quantity_available=5,
        categories=[category], stock=[StockData(warehouse=warehouse, quantity=5)],
        prices=[PriceData(price_list=price_list, net="10", gross="12.20", vat_rate="22")],
        images=[ImageData(url=f"https://img.example/{sku}.jpg")],
        variants=[ProductData(sku=f"{sku}-RED", name=f"{name} red", quantity_available=2)],
    ), actor="test")
    return Catalog(product=Product.objects.for_tenant(tenant).get(sku=sku),
                   variant=Product.objects.for_tenant(tenant).get(sku=f"{sku}-RED"), warehouse=wh, price_list=pl)


@dataclass(frozen=True)
class Sales:
    order: Order
    customer: Customer
    shipment: Shipment


def make_sales(tenant: LocalTenant, *, number: str = "1001", email: str = "mario.rossi@example.com",
               tracking: str = "TRACK-1") -> Sales:
    """Store an order (with customer, rows and addresses) and add a shipment to it."""
    from bindery.sales.payloads import CustomerPayload

    result = store(tenant, order_payload(number, customer=CustomerPayload(email=email, name="Mario",
                                                                            surname="Rossi", country="IT")))
    order = result.order
    shipment = do_add_shipment(order, carrier="UPS", tracking_number=tracking, actor="test")
    customer = Customer.objects.for_tenant(tenant).get(pk=order.customer_id)
    return Sales(order=order, customer=customer, shipment=shipment)
