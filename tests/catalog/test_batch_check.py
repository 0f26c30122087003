"""The batch check (``check_products``): the same answer as ``check_product`` for every item.

The fast path may only vouch for items ``check_product`` accepts, with the same clean values;
everything else must reach the exact check and get its error (code, message and field).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bindery.catalog import payloads
from bindery.catalog.actions import do_bulk_upsert_products
from bindery.catalog.errors import CatalogError, CatalogErrorCode
from bindery.catalog.models import Category, PriceList, Product, ProductCategory, StockChangeLog, Warehouse
from bindery.catalog.payloads import (
    AttributeValueData,
    ImageData,
    PriceData,
    ProductData,
    StockData,
    check_product,
    check_products,
)
from bindery.catalog.upsert import Outcome
from bindery.control.models import LocalTenant
from tests.catalog.conftest import ACTOR, full_product


def exact(data: Any) -> Any:
    try:
        return check_product(data)
    except CatalogError as error:
        return error


def comparable(result: Any) -> Any:
    if isinstance(result, CatalogError):
        return ("error", result.code, result.message, result.field)
    return result


def assert_same(items: list[Any]) -> None:
    assert [comparable(r) for r in check_products(items)] == [comparable(exact(i)) for i in items]


def good(i: int) -> ProductData:
    return ProductData(
        sku=f"SKU-{i}", name=f"Product {i}", barcode=str(400000000000 + i), manufacturer="Maker",
        prices=[PriceData(price_list="retail", gross=Decimal("10.99"), vat_rate=22),
                PriceData(price_list="wholesale", net=Decimal("5.5"), vat_rate=22, min_quantity=10)],
        stock=[StockData(warehouse="main", quantity=i % 7), StockData(warehouse="backup", quantity=-2)],
        categories=[" Dept | Shelf ", "Brand"],
        attributes=[AttributeValueData(attribute=" color ", value="red"), AttributeValueData("size", "M", "variant")],
    )


def test_fast_path_vouches_for_well_formed_items() -> None:
    """The common shape takes the fast path (else it would be no faster) and gives the exact clean values."""
    for data in (good(1), full_product("FULL"), ProductData(sku="ONLY-SKU"),
                 ProductData(sku="FIELDS", weight=3, weight_unit="kg", featured=True, deleted=False,
                             quantity_available=Decimal("-4"), origin_node_id=uuid.uuid4(), barcode_type="ean13")):
        fast = payloads._fast_product(data, "", False)
        assert fast is not None
        assert fast == check_product(data)


HOSTILE: list[Any] = [
    "not a product",
    None,
    {"sku": "dict"},
    ProductData(sku=""),
    ProductData(sku="   "),
    ProductData(sku=" lead"),
    ProductData(sku="nul\x00"),
    ProductData(sku="x" * 10_000),
    ProductData(sku=42),  # type: ignore[arg-type]
    ProductData(sku="N", name="\x00"),
    ProductData(sku="N", name="x" * 300),
    ProductData(sku="N", name=["list"]),  # type: ignore[arg-type]
    ProductData(sku="N", barcode_type="nope"),
    ProductData(sku="N", barcode_type=["unhashable"]),  # type: ignore[arg-type]
    ProductData(sku="N", weight=Decimal("NaN")),
    ProductData(sku="N", weight=Decimal("sNaN")),
    ProductData(sku="N", weight=Decimal("Infinity")),
    ProductData(sku="N", weight=Decimal("1e20")),
    ProductData(sku="N", weight=-1),
    ProductData(sku="N", weight=Decimal("-0.00001")),  # rounds to zero: accepted by both
    ProductData(sku="N", weight=True),  # type: ignore[arg-type]
    ProductData(sku="N", weight="12.5"),
    ProductData(sku="N", weight=1.5),
    ProductData(sku="N", weight="abc"),
    ProductData(sku="N", featured="yes"),  # type: ignore[arg-type]
    ProductData(sku="N", origin_node_id="not-a-uuid"),  # type: ignore[arg-type]
    ProductData(sku="N", tags="one"),
    ProductData(sku="N", tags=["a", "a", ""]),
    ProductData(sku="N", prices="retail"),  # type: ignore[arg-type]
    ProductData(sku="N", prices=[None]),  # type: ignore[list-item]
    ProductData(sku="N", prices=[PriceData(price_list="retail")]),
    ProductData(sku="N", prices=[PriceData(price_list="", net=1)]),
    ProductData(sku="N", prices=[PriceData(price_list="retail", net=1, vat_rate=101)]),
    ProductData(sku="N", prices=[PriceData(price_list="retail", net=1, vat_rate=-1)]),
    ProductData(sku="N", prices=[PriceData(price_list="retail", net=-1)]),
    ProductData(sku="N", prices=[PriceData(price_list="retail", net=1, min_quantity=5, max_quantity=2)]),
    ProductData(sku="N", prices=[PriceData(price_list="retail", net=1), PriceData(price_list="retail", gross=2)]),
    ProductData(sku="N", prices=[PriceData(price_list="retail", net=1, discount_applies="date_range")]),
    ProductData(sku="N", prices=[PriceData(price_list="retail", net=1, discount_applies="sometimes")]),
    ProductData(sku="N", prices=[PriceData(price_list="retail", net=1, discounted_gross=Decimal("0.5"))]),
    ProductData(sku="N", prices=[PriceData(price_list="retail", net=1, valid_from=dt.datetime(2026, 1, 1))]),  # noqa: DTZ001
    ProductData(sku="N", prices=[PriceData(price_list="retail", net=1,
                                           valid_from=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
                                           valid_to=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))]),
    ProductData(sku="N", stock=[StockData(warehouse="main", quantity=1), StockData(warehouse="main", quantity=2)]),
    ProductData(sku="N", stock=[StockData(warehouse="main", quantity=float("nan"))]),
    ProductData(sku="N", stock=[StockData(warehouse="\x00", quantity=1)]),
    ProductData(sku="N", stock=[{"warehouse": "main", "quantity": 1}]),  # type: ignore[list-item]
    ProductData(sku="N", categories=["A||B"]),
    ProductData(sku="N", categories=["A|" + "x" * 300]),
    ProductData(sku="N", categories=[" "]),
    ProductData(sku="N", categories=[7]),  # type: ignore[list-item]
    ProductData(sku="N", categories=["A | B", "A|B"]),  # the same path twice: kept once by both
    ProductData(sku="N", attributes=[AttributeValueData("c", "red"), AttributeValueData(" c ", "red")]),
    ProductData(sku="N", attributes=[AttributeValueData("c", "red", kind="weird")]),
    ProductData(sku="N", attributes=[AttributeValueData("c", "")]),
    ProductData(sku="N", images=[ImageData(url="javascript:alert(1)")]),
    ProductData(sku="N", images=[ImageData(url="https://a.example/1.jpg"), ImageData(url="https://a.example/1.jpg")]),
    ProductData(sku="N", images=[ImageData(url="https://a.example/1.jpg", position=-1)]),
    ProductData(sku="N", variants=[ProductData(sku="N")]),
    ProductData(sku="N", variants=[ProductData(sku="V", variants=[ProductData(sku="W")])]),
    ProductData(sku="N", variants=[ProductData(sku="V", weight=-1)]),
    ProductData(sku="N", variants=["V"]),  # type: ignore[list-item]
    ProductData(sku="N", variants=[ProductData(sku="V"), ProductData(sku="V")]),
]


@pytest.mark.parametrize("data", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_items_get_the_exact_answer(data: Any) -> None:
    assert_same([good(1), data, good(2)])


amounts = st.one_of(
    st.none(), st.integers(-10**16, 10**16), st.booleans(), st.floats(allow_nan=True),
    st.decimals(allow_nan=True, allow_infinity=True), st.sampled_from(["1.5", "x", "", "-0"]),
)
texts = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["", " ", "a\x00", "x" * 300]), st.integers())
keys = st.one_of(st.sampled_from(["main", "retail", "A|B", " A | B ", "A||B", ""]), st.text(max_size=6))
prices = st.builds(PriceData, price_list=keys, net=amounts, gross=amounts, vat_rate=amounts,
                   min_quantity=st.one_of(st.just(1), amounts), max_quantity=amounts,
                   discounted_net=amounts, discount_applies=st.sampled_from(["always", "date_range", "x"]))
stock = st.builds(StockData, warehouse=keys, quantity=amounts)
attributes = st.builds(AttributeValueData, attribute=keys, value=keys,
                       kind=st.sampled_from(["descriptive", "variant", "other"]))


def products(variants: Any) -> Any:
    return st.builds(
        ProductData, sku=st.one_of(st.sampled_from(["A", "B", " A"]), texts), name=texts, barcode_type=texts,
        weight=amounts, quantity_available=amounts, featured=st.one_of(st.none(), st.booleans(), st.integers()),
        prices=st.one_of(st.none(), st.lists(prices, max_size=3)),
        stock=st.one_of(st.none(), st.lists(stock, max_size=3)),
        categories=st.one_of(st.none(), st.lists(keys, max_size=3)),
        attributes=st.one_of(st.none(), st.lists(attributes, max_size=3)),
        variants=variants,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(products(st.one_of(st.just(()), st.lists(products(st.just(())), max_size=2))), max_size=4))
def test_generated_items_get_the_exact_answer(items: list[ProductData]) -> None:
    assert_same(items)


@pytest.mark.django_db(databases="__all__")
def test_hostile_items_in_a_large_batch_write_nothing(tenant: LocalTenant, warehouse: Warehouse,
                                                      price_list: PriceList, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch large enough for PostgreSQL's COPY path, hostile items spread through it."""
    from bindery.catalog import upsert

    monkeypatch.setattr(upsert, "COPY_MIN_ITEMS", 10)

    def fine(i: int) -> ProductData:
        return ProductData(sku=f"OK-{i}", name=f"Product {i}", categories=["Bulk|Ok"],
                           prices=[PriceData(price_list="retail", net=Decimal(i), vat_rate=22)],
                           stock=[StockData(warehouse="main", quantity=i)])

    bad = {
        3: (ProductData(sku="BAD-NUL", name="a\x00b", categories=["Bad|One"]), CatalogErrorCode.INVALID_VALUE,
            "name"),
        7: (ProductData(sku="BAD-NAN", stock=[StockData(warehouse="main", quantity=Decimal("NaN"))],
                        categories=["Bad|Two"]), CatalogErrorCode.INVALID_DECIMAL, "stock[0].quantity"),
        11: (ProductData(sku="BAD-VAR", variants=[ProductData(sku="BAD-VAR-1", prices=[
            PriceData(price_list="retail", net=1, vat_rate=200)])]), CatalogErrorCode.INVALID_VALUE,
             "variants[0].prices[0].vat_rate"),
        13: ("just a string", CatalogErrorCode.INVALID_VALUE, None),
        17: (ProductData(sku="BAD-LIST", prices=[PriceData(price_list="ghost", net=1)], categories=["Bad|Three"]),
             CatalogErrorCode.UNKNOWN_PRICE_LIST, "prices[0].price_list"),
    }
    items: list[Any] = [bad[i][0] if i in bad else fine(i) for i in range(30)]
    results = do_bulk_upsert_products(tenant, items, actor=ACTOR)
    for i, result in enumerate(results):
        if i in bad:
            assert (result.outcome, result.code, result.field) == (Outcome.ERROR, bad[i][1], bad[i][2]), i
            assert result.message
        else:
            assert result.outcome == Outcome.CREATED, (i, result)
    stored = set(Product.objects.for_tenant(tenant).values_list("sku", flat=True))
    assert stored == {f"OK-{i}" for i in range(30) if i not in bad}
    assert StockChangeLog.objects.for_tenant(tenant).count() == 25
    assert not Category.objects.for_tenant(tenant).filter(path_key__startswith="Bad").exists()


def test_copy_text_escapes_every_value() -> None:
    """Staging rows are COPY text: no value can add a column or a row, and text spelling \\N is not NULL."""
    from bindery.catalog.bulk_pg import copy_text

    class Sneaky(str):
        def __str__(self) -> str:
            return "x\tinjected"

    assert copy_text(None) == "\\N"
    assert copy_text("\\N") == "\\\\N"
    assert copy_text("a\tb\nc\rd\\e") == "a\\tb\\nc\\rd\\\\e"
    assert copy_text(Sneaky("plain\t")) == "plain\\t"
    assert (copy_text(True), copy_text(False)) == ("t", "f")
    assert copy_text(Decimal("1.5000")) == "1.5000"
    assert copy_text(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)) == "2026-01-02T03:04:05+00:00"


@pytest.mark.django_db(databases="__all__")
def test_text_with_copy_syntax_is_stored_exactly(tenant: LocalTenant, warehouse: Warehouse, price_list: PriceList,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Tabs, newlines, backslashes and a literal \\N in names, SKUs, categories and attributes round-trip."""
    from bindery.catalog import upsert
    from bindery.catalog.models import AttributeValue

    monkeypatch.setattr(upsert, "COPY_MIN_ITEMS", 1)
    odd = ["\\N", "tab\there", "line\nbreak", "back\\slash", "cr\rhere", "\\.", "ünï\u2028cødé"]
    items = [ProductData(sku=f"ODD-{i}{text}", name=text, manufacturer=text, tags=[text],
                         categories=[f"Odd|{text}"], attributes=[AttributeValueData(attribute="odd", value=text)],
                         stock=[StockData(warehouse="main", quantity=i)])
             for i, text in enumerate(odd)]
    results = do_bulk_upsert_products(tenant, items, actor=ACTOR)
    assert [r.outcome for r in results] == [Outcome.CREATED] * len(odd)
    stored = {p.sku: p for p in Product.objects.for_tenant(tenant)}
    for i, text in enumerate(odd):
        product = stored[f"ODD-{i}{text}"]
        assert (product.name, product.manufacturer, product.tags) == (text, text, [text])
        [link] = ProductCategory.objects.for_tenant(tenant).filter(product=product).select_related("category")
        assert link.category.name == text
    assert set(AttributeValue.objects.for_tenant(tenant).values_list("value", flat=True)) == set(odd)
