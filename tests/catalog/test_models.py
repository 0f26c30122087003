"""Database constraints keep catalog invariants even against code that bypasses the actions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from bindery.catalog.models import (
    Category,
    Price,
    PriceList,
    PriceRule,
    Product,
    ProductAlternative,
    QuantityRule,
    StockLevel,
    Warehouse,
)
from bindery.control.models import LocalTenant
from bindery.control.tenancy import UnscopedQueryError

pytestmark = pytest.mark.django_db(databases="__all__")


def refused(make: Callable[[], Any]) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        make()


@pytest.fixture
def product(tenant: LocalTenant) -> Product:
    return Product.objects.create(tenant=tenant, sku="A")


def test_sku_is_unique_per_tenant_only(tenant: LocalTenant, other_tenant: LocalTenant, product: Product) -> None:
    """The same SKU twice in a tenant is refused; another tenant may use it."""
    refused(lambda: Product.objects.create(tenant=tenant, sku="A"))
    assert Product.objects.create(tenant=other_tenant, sku="A").pk != product.pk


def test_product_measures(tenant: LocalTenant, product: Product) -> None:
    """Arriving quantity, weight and dimensions cannot be negative; availability can (oversold stock)."""
    refused(lambda: Product.objects.create(tenant=tenant, sku="B", quantity_arriving=-1))
    refused(lambda: Product.objects.create(tenant=tenant, sku="B", height=Decimal("-0.1")))
    refused(lambda: Product.objects.create(tenant=tenant, sku="B", parent=None, weight=-2))
    assert Product.objects.create(tenant=tenant, sku="B", quantity_available=-3).quantity_available == -3


def test_product_is_not_its_own_parent(product: Product) -> None:
    """A product pointing at itself as parent is refused."""
    product.parent_id = product.pk
    refused(lambda: product.save(update_fields=["parent"]))


def test_price_constraints(tenant: LocalTenant, product: Product) -> None:
    """Prices are non-negative, unique per product x list x tier, with consistent quantity and date ranges."""
    plist = PriceList.objects.create(tenant=tenant, name="retail", currency="EUR")

    def price(**kwargs: Any) -> Price:
        return Price.objects.create(**{"tenant": tenant, "product": product, "price_list": plist, "net": 1,
                                       "gross": 1, **kwargs})

    refused(lambda: price(net=-1))
    refused(lambda: price(discounted_gross=-1))
    refused(lambda: price(min_quantity=10, max_quantity=5))
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    refused(lambda: price(valid_from=now, valid_to=now))
    price()
    refused(lambda: price(net=2))
    assert price(min_quantity=10, net=Decimal("0.9")).min_quantity == 10


def test_stock_is_one_row_per_product_and_warehouse(tenant: LocalTenant, product: Product) -> None:
    """A second stock row for the same product and warehouse is refused; negative stock is allowed."""
    warehouse = Warehouse.objects.create(tenant=tenant, key="main", name="Main")
    StockLevel.objects.create(tenant=tenant, product=product, warehouse=warehouse, quantity=-4)
    refused(lambda: StockLevel.objects.create(tenant=tenant, product=product, warehouse=warehouse, quantity=1))
    refused(lambda: Warehouse.objects.create(tenant=tenant, key="main"))
    refused(lambda: Warehouse.objects.create(tenant=tenant, key=""))


def test_quantity_rule_shape(tenant: LocalTenant) -> None:
    """Each quantity-rule mode requires exactly the value or warehouse it uses."""
    warehouse = Warehouse.objects.create(tenant=tenant, key="main")

    def rule(**kwargs: Any) -> QuantityRule:
        return QuantityRule.objects.create(tenant=tenant, **kwargs)

    refused(lambda: rule(name="w", mode="warehouse"))
    refused(lambda: rule(name="c", mode="capped"))
    refused(lambda: rule(name="p", mode="percentage", value=101))
    refused(lambda: rule(name="a", mode="as_is", warehouse=warehouse))
    assert rule(name="ok", mode="percentage", value=50).value == 50
    assert rule(name="wh", mode="warehouse", warehouse=warehouse).warehouse == warehouse


def test_price_rule_and_category_shape(tenant: LocalTenant) -> None:
    """A rule cannot derive a list from itself; category names cannot hold the path separator; paths are unique."""
    retail = PriceList.objects.create(tenant=tenant, name="retail", currency="EUR")
    refused(lambda: PriceRule.objects.create(tenant=tenant, target=retail, source=retail))
    refused(lambda: Category.objects.create(tenant=tenant, name="A|B", path_key="A|B"))
    Category.objects.create(tenant=tenant, name="A", path_key="A")
    refused(lambda: Category.objects.create(tenant=tenant, name="A", path_key="A"))
    assert Category.objects.create(tenant=tenant, name="A", path_key="A", language="it").language == "it"


def test_alternative_needs_language_or_channel(tenant: LocalTenant, product: Product) -> None:
    """An alternative text applies to a language or a channel, once per pair."""
    refused(lambda: ProductAlternative.objects.create(tenant=tenant, product=product, title="x"))
    ProductAlternative.objects.create(tenant=tenant, product=product, language="it", title="x")
    refused(lambda: ProductAlternative.objects.create(tenant=tenant, product=product, language="it", title="y"))


def test_unscoped_queries_are_refused(product: Product) -> None:
    """Catalog models inherit the tenant-scoped manager: an unscoped query raises."""
    with pytest.raises(UnscopedQueryError):
        list(Product.objects.filter(sku="A"))
