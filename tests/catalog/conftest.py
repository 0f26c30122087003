"""Catalog fixtures: a warehouse and a price list per tenant, and a payload factory."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bindery.catalog.actions import do_create_price_list, do_create_warehouse
from bindery.catalog.models import PriceList, Warehouse
from bindery.catalog.payloads import AttributeValueData, ImageData, PriceData, ProductData, StockData
from bindery.control.models import LocalTenant

ACTOR = "run:test"


@pytest.fixture
def warehouse(tenant: LocalTenant) -> Warehouse:
    return do_create_warehouse(tenant, "main", name="Main", actor=ACTOR)


@pytest.fixture
def price_list(tenant: LocalTenant) -> PriceList:
    return do_create_price_list(tenant, "retail", "EUR", actor=ACTOR)


def full_product(sku: str, *, variants: int = 2, net: str = "10.00", qty: str = "5") -> ProductData:
    """A payload touching every group: variants, prices, stock, categories, attributes, images, tags."""
    return ProductData(
        sku=sku, name=f"Product {sku}", language="en", barcode="4006381333931", barcode_type="ean13",
        weight=Decimal("1.25"), weight_unit="kg", quantity_available=qty, tags=["new", "summer"],
        prices=[PriceData(price_list="retail", net=net, vat_rate=22)],
        stock=[StockData(warehouse="main", quantity=qty)],
        categories=["Clothes|Shirts", "Sale"],
        attributes=[AttributeValueData(attribute="material", value="cotton")],
        images=[ImageData(url=f"https://img.example/{sku}.jpg", thumbnail_url=f"https://img.example/{sku}-t.jpg")],
        variants=[
            ProductData(sku=f"{sku}-{i}", name=f"Product {sku} size {i}",
                        attributes=[AttributeValueData(attribute="size", value=str(i), kind="variant")],
                        prices=[PriceData(price_list="retail", net=net, vat_rate=22)],
                        stock=[StockData(warehouse="main", quantity=i)])
            for i in range(variants)
        ],
    )
