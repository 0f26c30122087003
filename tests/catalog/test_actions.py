"""Catalog writes: upsert, change logs, modified_at bumps, plan limits and coded refusals."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bindery.catalog.actions import (
    do_create_category,
    do_create_price_list,
    do_create_warehouse,
    do_delete_product,
    do_set_price,
    do_set_stock,
    do_upsert_product,
)
from bindery.catalog.errors import CatalogError, CatalogErrorCode
from bindery.catalog.models import (
    Attribute,
    Category,
    Price,
    PriceChangeLog,
    PriceList,
    Product,
    ProductAttributeValue,
    ProductCategory,
    ProductImage,
    StockChangeLog,
    StockLevel,
    Warehouse,
)
from bindery.catalog.payloads import AttributeValueData, ImageData, PriceData, ProductData, StockData
from bindery.catalog.upsert import Outcome
from bindery.control.models import LocalTenant
from tests.catalog.conftest import ACTOR, full_product

pytestmark = pytest.mark.django_db(databases="__all__")

PAST = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def ready(tenant: LocalTenant, warehouse: Warehouse, price_list: PriceList) -> LocalTenant:
    return tenant


def products(tenant: LocalTenant) -> Any:
    return Product.objects.for_tenant(tenant)


def log_rows(tenant: LocalTenant) -> tuple[int, int]:
    return StockChangeLog.objects.for_tenant(tenant).count(), PriceChangeLog.objects.for_tenant(tenant).count()


def age(tenant: LocalTenant) -> None:
    """Move every product's modified_at into the past, so a bump is visible regardless of clock resolution."""
    products(tenant).update(modified_at=PAST)


def test_upsert_creates_product_with_every_group(ready: LocalTenant) -> None:
    """A new SKU creates the product, its variants, prices (net and gross), stock, links and images."""
    result = do_upsert_product(ready, full_product("TS-1"), actor=ACTOR)
    assert result.outcome == Outcome.CREATED
    parent = products(ready).get(sku="TS-1")
    assert result.product_id == parent.pk
    assert sorted(products(ready).filter(parent=parent).values_list("sku", flat=True)) == ["TS-1-0", "TS-1-1"]
    price = Price.objects.for_tenant(ready).get(product=parent)
    assert (price.net, price.gross, price.vat_rate) == (Decimal("10"), Decimal("12.2"), Decimal(22))
    assert StockLevel.objects.for_tenant(ready).get(product=parent).quantity == 5
    assert set(Category.objects.for_tenant(ready).values_list("path_key", flat=True)) == {
        "Clothes", "Clothes|Shirts", "Sale"}
    shirts = Category.objects.for_tenant(ready).get(path_key="Clothes|Shirts")
    assert shirts.parent is not None
    assert shirts.parent.path_key == "Clothes"
    assert ProductCategory.objects.for_tenant(ready).filter(product=parent).count() == 2
    assert ProductImage.objects.for_tenant(ready).get(product=parent).thumbnail_url.endswith("-t.jpg")
    assert parent.tags == ["new", "summer"]
    assert Attribute.objects.for_tenant(ready).get(name="size").kind == "variant"


def test_upsert_twice_changes_nothing(ready: LocalTenant) -> None:
    """Re-sending the same payload is a no-op: unchanged outcome, no new log rows, modified_at kept."""
    do_upsert_product(ready, full_product("TS-1"), actor=ACTOR)
    before = dict(products(ready).values_list("sku", "modified_at"))
    logs = log_rows(ready)
    assert do_upsert_product(ready, full_product("TS-1"), actor=ACTOR).outcome == Outcome.UNCHANGED
    assert dict(products(ready).values_list("sku", "modified_at")) == before
    assert log_rows(ready) == logs


def test_change_logs_record_old_new_and_cause(ready: LocalTenant) -> None:
    """Stock and price changes are logged once each, with old and new values and the actor as cause."""
    do_upsert_product(ready, full_product("TS-1", variants=0), actor=ACTOR)
    first = StockChangeLog.objects.for_tenant(ready).get(sku="TS-1", warehouse_key="main")
    assert (first.old_quantity, first.new_quantity, first.cause) == (None, Decimal(5), ACTOR)
    do_upsert_product(ready, full_product("TS-1", variants=0, qty="3", net="8"), actor="user:42")
    stock = StockChangeLog.objects.for_tenant(ready).filter(sku="TS-1", warehouse_key="main").last()
    assert stock is not None
    assert (stock.old_quantity, stock.new_quantity, stock.cause) == (Decimal(5), Decimal(3), "user:42")
    overall = StockChangeLog.objects.for_tenant(ready).filter(sku="TS-1", warehouse=None).last()
    assert overall is not None
    assert (overall.old_quantity, overall.new_quantity) == (Decimal(5), Decimal(3))
    price = PriceChangeLog.objects.for_tenant(ready).filter(sku="TS-1").last()
    assert price is not None
    assert (price.old_net, price.old_gross, price.new_net, price.new_gross) == (
        Decimal(10), Decimal("12.2"), Decimal(8), Decimal("9.76"))
    assert (price.price_list_name, price.currency, price.cause) == ("retail", "EUR", "user:42")
    assert log_rows(ready) == (4, 2)


@pytest.mark.parametrize(("change", "check"), [
    (ProductData(sku="TS-1", prices=[PriceData(price_list="retail", net="11", vat_rate=22)]),
     lambda t: Price.objects.for_tenant(t).get(product__sku="TS-1").net == 11),
    (ProductData(sku="TS-1", stock=[StockData(warehouse="main", quantity=9)]),
     lambda t: StockLevel.objects.for_tenant(t).get(product__sku="TS-1").quantity == 9),
    (ProductData(sku="TS-1", categories=["Sale"]),
     lambda t: ProductCategory.objects.for_tenant(t).filter(product__sku="TS-1").count() == 1),
    (ProductData(sku="TS-1", attributes=[AttributeValueData(attribute="material", value="linen")]),
     lambda t: ProductAttributeValue.objects.for_tenant(t).get(product__sku="TS-1").value.value == "linen"),
    (ProductData(sku="TS-1", images=[ImageData(url="https://img.example/other.jpg")]),
     lambda t: ProductImage.objects.for_tenant(t).get(product__sku="TS-1").url.endswith("other.jpg")),
    (ProductData(sku="TS-1", name="Renamed"),
     lambda t: Product.objects.for_tenant(t).get(sku="TS-1").name == "Renamed"),
], ids=["price", "stock", "category", "attribute", "image", "field"])
def test_related_changes_bump_modified_at(ready: LocalTenant, change: ProductData, check: Any) -> None:
    """A change to prices, stock, categories, attributes, images or a field moves the product's modified_at."""
    do_upsert_product(ready, full_product("TS-1", variants=1), actor=ACTOR)
    age(ready)
    assert do_upsert_product(ready, change, actor=ACTOR).outcome == Outcome.UPDATED
    assert check(ready)
    assert products(ready).get(sku="TS-1").modified_at > PAST
    assert products(ready).get(sku="TS-1-0").modified_at == PAST  # the untouched variant keeps its time


def test_set_stock_and_price_log_only_real_changes(ready: LocalTenant, warehouse: Warehouse,
                                                   price_list: PriceList) -> None:
    """do_set_stock/do_set_price write a log and bump modified_at on change, and nothing when the value is the same."""
    do_upsert_product(ready, full_product("TS-1", variants=0), actor=ACTOR)
    product = products(ready).get(sku="TS-1")
    age(ready)
    logs = log_rows(ready)
    assert do_set_stock(ready, product, 5, warehouse=warehouse, actor=ACTOR).outcome == Outcome.UNCHANGED
    assert do_set_price(ready, product, price_list, net="10", vat_rate=22, actor=ACTOR).outcome == Outcome.UNCHANGED
    assert log_rows(ready) == logs
    assert products(ready).get(sku="TS-1").modified_at == PAST
    assert do_set_stock(ready, product, "-2", warehouse=warehouse, actor=ACTOR).outcome == Outcome.UPDATED
    assert do_set_stock(ready, product, 7, warehouse=None, actor=ACTOR).outcome == Outcome.UPDATED
    assert do_set_price(ready, product, price_list, gross="24.40", vat_rate=22, actor=ACTOR).outcome == Outcome.UPDATED
    assert log_rows(ready) == (logs[0] + 2, logs[1] + 1)
    assert StockLevel.objects.for_tenant(ready).get(product=product).quantity == -2
    assert Price.objects.for_tenant(ready).get(product=product).net == 20
    assert products(ready).get(sku="TS-1").modified_at > PAST


def test_plan_limit_refuses_with_the_limit_and_writes_nothing(ready: LocalTenant) -> None:
    """Creating more products than max_products fails with PLAN_LIMIT_EXCEEDED naming the limit; updates still work."""
    ready.max_products = 3
    ready.save(update_fields=["max_products"])
    do_upsert_product(ready, full_product("A", variants=1), actor=ACTOR)
    with pytest.raises(CatalogError) as caught:
        do_upsert_product(ready, full_product("B", variants=1), actor=ACTOR)
    assert caught.value.code == CatalogErrorCode.PLAN_LIMIT_EXCEEDED
    assert "3" in caught.value.message
    assert products(ready).count() == 2
    assert do_upsert_product(ready, ProductData(sku="C"), actor=ACTOR).outcome == Outcome.CREATED
    assert do_upsert_product(ready, ProductData(sku="A", name="still fine"), actor=ACTOR).outcome == Outcome.UPDATED


def _variant_of_variant() -> ProductData:
    return ProductData(sku="P", variants=[ProductData(sku="V", variants=[ProductData(sku="VV")])])


@pytest.mark.parametrize(("payload", "code", "field"), [
    (ProductData(sku="X", quantity_arriving=-1), CatalogErrorCode.NEGATIVE_VALUE, "quantity_arriving"),
    (ProductData(sku="X", weight="-0.5"), CatalogErrorCode.NEGATIVE_VALUE, "weight"),
    (ProductData(sku="X", prices=[PriceData(price_list="retail", net="-1")]), CatalogErrorCode.NEGATIVE_VALUE,
     "prices[0].net"),
    (ProductData(sku="X", variants=[ProductData(sku="X-1", prices=[PriceData(price_list="retail", gross="abc")])]),
     CatalogErrorCode.INVALID_DECIMAL, "variants[0].prices[0].gross"),
    (ProductData(sku="X", quantity_available="NaN"), CatalogErrorCode.INVALID_DECIMAL, "quantity_available"),
    (ProductData(sku="X", length="1e20"), CatalogErrorCode.INVALID_DECIMAL, "length"),
    (ProductData(sku="X", stock=[StockData(warehouse="main", quantity=True)]), CatalogErrorCode.INVALID_DECIMAL,
     "stock[0].quantity"),
    (ProductData(sku="X", name="n" * 256), CatalogErrorCode.TOO_LONG, "name"),
    (ProductData(sku="s" * 101), CatalogErrorCode.TOO_LONG, "sku"),
    (ProductData(sku="  "), CatalogErrorCode.REQUIRED, "sku"),
    (ProductData(sku="X", barcode_type="qr"), CatalogErrorCode.INVALID_CHOICE, "barcode_type"),
    (ProductData(sku="X", barcode_type=["ean13"]), CatalogErrorCode.INVALID_CHOICE, "barcode_type"),
    (ProductData(sku="X", categories=["A||B"]), CatalogErrorCode.INVALID_VALUE, "categories[0]"),
    (ProductData(sku="X", images=[ImageData(url="javascript:alert(1)")]), CatalogErrorCode.INVALID_VALUE,
     "images[0].url"),
    (ProductData(sku="X", prices=[PriceData(price_list="retail", net=1), PriceData(price_list="retail", net=2)]),
     CatalogErrorCode.DUPLICATE_KEY, "prices[1]"),
    (ProductData(sku="X", prices=[PriceData(price_list="wholesale", net=1)]), CatalogErrorCode.UNKNOWN_PRICE_LIST,
     "prices[0].price_list"),
    (ProductData(sku="X", stock=[StockData(warehouse="nowhere", quantity=1)]), CatalogErrorCode.UNKNOWN_WAREHOUSE,
     "stock[0].warehouse"),
    (ProductData(sku="X", variants=[ProductData(sku="X")]), CatalogErrorCode.DUPLICATE_SKU, "variants[0].sku"),
    (_variant_of_variant(), CatalogErrorCode.NESTED_VARIANT, "variants[0].variants"),
])
def test_bad_input_is_refused_naming_the_field(ready: LocalTenant, payload: ProductData, code: CatalogErrorCode,
                                               field: str) -> None:
    """Invalid payloads raise a coded error naming the offending field, and write nothing at all."""
    payload = ProductData(**{**payload.__dict__, "categories": payload.categories or ["Must|Not|Exist"]})
    with pytest.raises(CatalogError) as caught:
        do_upsert_product(ready, payload, actor=ACTOR)
    assert (caught.value.code, caught.value.field) == (code, field)
    assert products(ready).count() == 0
    assert Category.objects.for_tenant(ready).count() == 0
    assert log_rows(ready) == (0, 0)


def test_existing_variant_cannot_receive_variants(ready: LocalTenant) -> None:
    """A product stored as a variant cannot be sent with variants of its own (that would nest variants)."""
    do_upsert_product(ready, full_product("P", variants=1), actor=ACTOR)
    with pytest.raises(CatalogError) as caught:
        do_upsert_product(ready, ProductData(sku="P-0", variants=[ProductData(sku="P-0-a")]), actor=ACTOR)
    assert (caught.value.code, caught.value.field) == (CatalogErrorCode.NESTED_VARIANT, "variants")
    with pytest.raises(CatalogError) as caught:
        do_upsert_product(ready, ProductData(sku="Q", variants=[ProductData(sku="P")]), actor=ACTOR)
    assert (caught.value.code, caught.value.field) == (CatalogErrorCode.NESTED_VARIANT, "variants[0].sku")
    assert not products(ready).filter(sku__in=["P-0-a", "Q"]).exists()


def test_variant_sent_alone_keeps_its_parent(ready: LocalTenant) -> None:
    """A flat update of a variant (e.g. stock only) does not detach it from its parent."""
    do_upsert_product(ready, full_product("P", variants=1), actor=ACTOR)
    do_upsert_product(ready, ProductData(sku="P-0", quantity_available=3), actor=ACTOR)
    variant = products(ready).get(sku="P-0")
    assert variant.parent is not None
    assert variant.parent.sku == "P"


def test_delete_is_logical_and_covers_variants(ready: LocalTenant) -> None:
    """Deleting marks the product and its variants deleted and bumps modified_at; a repeat changes nothing."""
    do_upsert_product(ready, full_product("P", variants=2), actor=ACTOR)
    age(ready)
    product = products(ready).get(sku="P")
    assert do_delete_product(ready, product, actor=ACTOR) == 3
    assert set(products(ready).values_list("deleted", flat=True)) == {True}
    assert all(m > PAST for m in products(ready).values_list("modified_at", flat=True))
    assert do_delete_product(ready, product, actor=ACTOR) == 0
    assert do_upsert_product(ready, ProductData(sku="P", deleted=False), actor=ACTOR).outcome == Outcome.UPDATED


def test_create_category_builds_the_path_and_refuses_duplicates(tenant: LocalTenant) -> None:
    """A path key creates missing ancestors; the same path again is ALREADY_EXISTS; languages are separate trees."""
    leaf = do_create_category(tenant, " Home | Garden | Tools ", selection_tags=["diy"], actor=ACTOR)
    assert (leaf.path_key, leaf.name, leaf.selection_tags) == ("Home|Garden|Tools", "Tools", ["diy"])
    assert leaf.parent is not None
    assert leaf.parent.path_key == "Home|Garden"
    with pytest.raises(CatalogError) as caught:
        do_create_category(tenant, "Home|Garden|Tools", actor=ACTOR)
    assert (caught.value.code, caught.value.field) == (CatalogErrorCode.ALREADY_EXISTS, "path_key")
    assert do_create_category(tenant, "Home|Garden|Tools", language="it", actor=ACTOR).pk != leaf.pk
    assert do_create_category(tenant, "Home|Kitchen", actor=ACTOR).parent == leaf.parent.parent


@pytest.mark.parametrize("currency", ["XYZ", "eur", "EURO", "", "E1R"])
def test_price_list_needs_an_iso_currency(tenant: LocalTenant, currency: str) -> None:
    """An unknown or malformed currency is refused with UNKNOWN_CURRENCY on the currency field."""
    with pytest.raises(CatalogError) as caught:
        do_create_price_list(tenant, "retail", currency, actor=ACTOR)
    assert (caught.value.code, caught.value.field) == (CatalogErrorCode.UNKNOWN_CURRENCY, "currency")
    assert PriceList.objects.for_tenant(tenant).count() == 0


def test_duplicate_warehouse_and_price_list_are_refused(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    """Keys are unique per tenant: a second one is ALREADY_EXISTS, another tenant may reuse them."""
    do_create_warehouse(tenant, "main", actor=ACTOR)
    do_create_price_list(tenant, "retail", "EUR", actor=ACTOR)
    with pytest.raises(CatalogError) as caught:
        do_create_warehouse(tenant, "main", actor=ACTOR)
    assert (caught.value.code, caught.value.field) == (CatalogErrorCode.ALREADY_EXISTS, "key")
    with pytest.raises(CatalogError) as caught:
        do_create_price_list(tenant, "retail", "USD", actor=ACTOR)
    assert (caught.value.code, caught.value.field) == (CatalogErrorCode.ALREADY_EXISTS, "name")
    assert do_create_warehouse(other_tenant, "main", actor=ACTOR).tenant_id == other_tenant.pk
    assert do_create_price_list(other_tenant, "retail", "USD", actor=ACTOR).currency == "USD"


amounts = st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False, allow_infinity=False)
names = st.text(st.characters(codec="utf-8", exclude_characters="\x00|"), max_size=30)
payloads = st.builds(
    ProductData,
    sku=st.sampled_from(["H-1", "H-2", "H-3"]),
    name=st.none() | names,
    quantity_available=st.none() | st.decimals(min_value=-1000, max_value=1000, places=2),
    featured=st.none() | st.booleans(),
    tags=st.none() | st.lists(names.filter(str.strip), max_size=3),
    prices=st.none() | st.lists(st.builds(PriceData, price_list=st.just("retail"), net=amounts,
                                          vat_rate=st.sampled_from([0, 4, 10, 22])), max_size=1),
    stock=st.none() | st.lists(st.builds(StockData, warehouse=st.just("main"), quantity=amounts), max_size=1),
    categories=st.none() | st.lists(st.sampled_from(["A", "A|B", "C|D|E"]), max_size=3),
    attributes=st.none() | st.lists(st.builds(AttributeValueData, attribute=st.sampled_from(["color", "size"]),
                                              value=st.sampled_from(["red", "L"])), max_size=2, unique_by=lambda a: (
                                                  a.attribute, a.value)),
    images=st.none() | st.lists(st.builds(ImageData, url=st.sampled_from(["https://i.example/1", "https://i.example/2"])),
                                max_size=2, unique_by=lambda i: i.url),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads)
def test_upsert_is_idempotent_for_generated_payloads(ready: LocalTenant, payload: ProductData) -> None:
    """For any valid payload, applying it a second time is UNCHANGED and writes no log rows."""
    do_upsert_product(ready, payload, actor=ACTOR)
    before = dict(products(ready).values_list("sku", "modified_at"))
    logs = log_rows(ready)
    assert do_upsert_product(ready, payload, actor=ACTOR).outcome == Outcome.UNCHANGED
    assert dict(products(ready).values_list("sku", "modified_at")) == before
    assert log_rows(ready) == logs
