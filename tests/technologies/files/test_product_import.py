"""Product import from files: mapping, transforms, filters, per-row errors, idempotent re-import."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bindery.catalog.actions import do_create_price_list, do_create_warehouse
from bindery.catalog.models import Price, Product, ProductCategory, StockLevel
from bindery.control.models import LocalTenant
from bindery.technologies.files.errors import FileError, FileErrorCode
from bindery.technologies.files.product_import import import_products

pytestmark = pytest.mark.django_db(databases="__all__")
ACTOR = "run:test"

MAPPING: dict[str, Any] = {
    "fields": {
        "sku": {"column": "Code", "transforms": [{"kind": "trim"}], "required": True},
        "name": {"column": "Title"},
        "manufacturer": {"column": "Brand", "transforms": [{"kind": "upper"}]},
        "quantity_available": {"column": "Qty", "transforms": [{"kind": "number", "decimal": ",",
                                                                 "thousands": "."}]},
        "categories": {"column": "Categories"},
        "featured": {"column": "Featured", "transforms": [{"kind": "default", "value": "no"}]},
        "language": {"constant": "it"},
    },
    "prices": [{"column": "Price", "price_list": "retail", "amount": "gross", "vat_rate": "22",
                "transforms": [{"kind": "number", "decimal": ",", "thousands": "."}]}],
    "stock": [{"column": "Qty", "warehouse": "main",
               "transforms": [{"kind": "number", "decimal": ",", "thousands": "."}]}],
    "attributes": [{"column": "Colour", "attribute": "colour",
                    "transforms": [{"kind": "lookup", "table": {"R": "red", "B": "blue"}}]}],
}
CSV = (
    "Code;Title;Brand;Qty;Price;Categories;Featured;Colour\n"
    " A1 ;Shirt;acme;1.234,5;10,50;Clothes|Shirts;yes;R\n"
    "A2;Hat;acme;3;x;Hats;;B\n"
    "A3;Scarf;acme;2;5,00;Clothes|Scarves;maybe;R\n"
    "A4;Sock;acme;1;1,00;Clothes;;G\n"
    ";Nameless;acme;1;1,00;;;R\n"
    "A1;Shirt again;acme;1;1,00;;;R\n"
    "A5;Glove;acme;7;2,50;Clothes;no;B\n"
)


@pytest.fixture
def catalog(tenant: LocalTenant) -> LocalTenant:
    do_create_warehouse(tenant, "main", actor=ACTOR)
    do_create_price_list(tenant, "retail", "EUR", actor=ACTOR)
    return tenant


def csv_config(**extra: Any) -> dict[str, Any]:
    return {"file": {"format": "csv", "csv": {"encoding": "auto"}, **extra.pop("file", {})},
            "mapping": {**MAPPING, **extra.pop("mapping", {})}, **extra}


def write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "products.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_import_maps_transforms_and_records_each_bad_row(catalog: LocalTenant, tmp_path: Path) -> None:
    """Good rows are imported with their prices, stock, categories and attributes; each bad row is one error."""
    progress: list[tuple[int, int | None]] = []
    result = import_products(catalog, write(tmp_path, CSV), csv_config(batch_size=2), actor=ACTOR,
                             progress=lambda done, total: progress.append((done, total)))
    assert (result.total, result.read, result.created, result.failed) == (7, 7, 2, 5)
    errors = {e.location: (e.code, e.field) for e in result.errors}
    assert errors == {
        "line 3": ("mapping", "prices[0]"),          # 'x' is not a number
        "line 4": ("mapping", "featured"),           # 'maybe' is not yes/no
        "line 5": ("mapping", "attributes[0]"),      # 'G' not in the lookup table
        "line 6": ("mapping", "sku"),                # blank SKU
        "line 7": ("duplicate_sku", "sku"),          # A1 again
    }
    assert "products.csv, line 3" not in result.errors[0].message  # the location is its own field
    assert progress[0] == (0, 7)
    assert progress[-1] == (7, 7)
    shirt = Product.objects.for_tenant(catalog).get(sku="A1")
    assert (shirt.name, shirt.manufacturer, shirt.language, shirt.featured) == ("Shirt", "ACME", "it", True)
    assert shirt.quantity_available == Decimal("1234.5")
    assert Price.objects.for_tenant(catalog).get(product=shirt).gross == Decimal("10.50")
    assert StockLevel.objects.for_tenant(catalog).get(product=shirt).quantity == Decimal("1234.5")
    assert sorted(ProductCategory.objects.for_tenant(catalog).filter(product=shirt).values_list(
        "category__path_key", flat=True)) == ["Clothes|Shirts"]
    assert set(Product.objects.for_tenant(catalog).values_list("sku", flat=True)) == {"A1", "A5"}


def test_reimport_is_idempotent_and_updates_changes(catalog: LocalTenant, tmp_path: Path) -> None:
    path = write(tmp_path, CSV)
    import_products(catalog, path, csv_config(), actor=ACTOR)
    again = import_products(catalog, path, csv_config(), actor=ACTOR)
    assert (again.created, again.updated, again.unchanged, again.failed) == (0, 0, 2, 5)
    changed = import_products(catalog, write(tmp_path, CSV.replace("Glove;acme;7", "Glove;acme;8")), csv_config(),
                              actor=ACTOR)
    assert (changed.created, changed.updated, changed.unchanged) == (0, 1, 1)


def test_filters_combine_with_and_or(catalog: LocalTenant, tmp_path: Path) -> None:
    text = "Code;Title;Qty;Brand\nA1;Shirt;5;acme\nA2;Hat;0;acme\nA3;Cap;9;other\n"
    mapping = {"fields": {"sku": {"column": "Code"}, "name": {"column": "Title"}}}
    both = {"filters": [{"column": "Qty", "op": "gt", "value": "0"},
                        {"column": "Brand", "op": "eq", "value": "acme"}]}
    result = import_products(catalog, write(tmp_path, text),
                             {"file": {"format": "csv"}, "mapping": {**mapping, **both}}, actor=ACTOR)
    assert (result.created, result.skipped) == (1, 2)
    either = {**both, "filter_combine": "or"}
    result = import_products(catalog, write(tmp_path, text),
                             {"file": {"format": "csv"}, "mapping": {**mapping, **either}}, actor=ACTOR)
    assert (result.created, result.unchanged, result.skipped) == (2, 1, 0)


def test_catalog_refusals_are_row_errors(catalog: LocalTenant, tmp_path: Path) -> None:
    """An unknown warehouse or an over-long name is refused by the catalog for that row only."""
    mapping = {"fields": {"sku": {"column": "sku"}, "name": {"column": "name"}},
               "stock": [{"column": "qty", "warehouse": "nowhere"}]}
    text = "sku,name,qty\nA1,ok,\nA2," + "n" * 300 + ",\nA3,ok,4\n"
    result = import_products(catalog, write(tmp_path, text), {"file": {"format": "csv"}, "mapping": mapping},
                             actor=ACTOR)
    assert result.created == 1
    assert [(e.location, e.code, e.field) for e in result.errors] == [
        ("line 3", "too_long", "name"), ("line 4", "unknown_warehouse", "stock[0].warehouse")]


def test_file_level_errors_apply_nothing(catalog: LocalTenant, tmp_path: Path) -> None:
    """Broken quoting at the end, wrong encoding or a truncated file: refused before any write."""
    broken = write(tmp_path, CSV + 'A9;"unterminated;x;1;1,00;;;R\nA10;x"y;acme;1;1;;;R\n')
    with pytest.raises(FileError) as caught:
        import_products(catalog, broken, csv_config(), actor=ACTOR)
    assert caught.value.code == FileErrorCode.MALFORMED
    latin = write(tmp_path, CSV.replace("Shirt", "Camicia è"), encoding="latin-1")
    with pytest.raises(FileError) as caught:
        import_products(catalog, latin, csv_config(file={"csv": {"encoding": "utf-8"}}), actor=ACTOR)
    assert caught.value.code == FileErrorCode.ENCODING
    with pytest.raises(FileError) as caught:
        import_products(catalog, write(tmp_path, CSV[:40]), csv_config(file={"limits": {"min_bytes": 100}}),
                        actor=ACTOR)
    assert caught.value.code == FileErrorCode.TOO_SMALL
    assert not Product.objects.for_tenant(catalog).exists()


def test_latin1_file_is_imported_when_declared(catalog: LocalTenant, tmp_path: Path) -> None:
    path = write(tmp_path, "Code;Title\nA1;Caffè crème\n", encoding="latin-1")
    result = import_products(catalog, path, {"file": {"format": "csv", "csv": {"encoding": "latin-1"}},
                                             "mapping": {"fields": {"sku": {"column": "Code"},
                                                                    "name": {"column": "Title"}}}}, actor=ACTOR)
    assert result.created == 1
    assert Product.objects.for_tenant(catalog).get(sku="A1").name == "Caffè crème"


def test_simulate_writes_nothing(catalog: LocalTenant, tmp_path: Path) -> None:
    result = import_products(catalog, write(tmp_path, CSV), csv_config(), actor=ACTOR, simulate=True)
    assert (result.created, result.failed, result.simulated) == (2, 5, True)
    assert not Product.objects.for_tenant(catalog).exists()


def test_import_stays_in_its_tenant(catalog: LocalTenant, other_tenant: LocalTenant, tmp_path: Path) -> None:
    import_products(catalog, write(tmp_path, CSV), csv_config(), actor=ACTOR)
    assert not Product.objects.for_tenant(other_tenant).exists()


@pytest.mark.parametrize(("fmt", "payload", "items"), [
    ("json", b'{"products": [{"sku": "J1", "name": "Jar", "price": {"gross": "3.5"}}]}', "products.item"),
    ("xml", b"<Products><Product><Code>J1</Code><Title>Jar</Title><Gross>3.5</Gross></Product></Products>", None),
])
def test_json_and_xml_import(catalog: LocalTenant, tmp_path: Path, fmt: str, payload: bytes,
                             items: str | None) -> None:
    path = tmp_path / f"p.{fmt}"
    path.write_bytes(payload)
    columns = {"json": ("sku", "name", "price/gross"), "xml": ("Code", "Title", "Gross")}[fmt]
    mapping = {"fields": {"sku": {"column": columns[0]}, "name": {"column": columns[1]}},
               "prices": [{"column": columns[2], "price_list": "retail"}]}
    file: dict[str, Any] = {"format": fmt}
    if items:
        file["json"] = {"items_path": items}
    result = import_products(catalog, path, {"file": file, "mapping": mapping}, actor=ACTOR)
    assert result.created == 1
    assert Price.objects.for_tenant(catalog).get(product__sku="J1").gross == Decimal("3.5")


def test_mapping_config_errors_name_fields() -> None:
    from bindery.technologies.files.schemas import ProductImportConfig, check_config

    with pytest.raises(FileError) as caught:
        check_config(ProductImportConfig, {"file": {"format": "csv"}, "mapping": {"fields": {
            "sku": {"column": "a"}, "colour": {"column": "c"}}}})
    assert "config.mapping.fields: Value error, unknown hub field(s) colour" in caught.value.message
    with pytest.raises(FileError) as caught:
        check_config(ProductImportConfig, {"file": {"format": "csv"}, "batch_size": 0, "mapping": {"fields": {
            "sku": {"column": "a", "constant": "b"}}, "prices": [{"column": "p"}]}})
    message = caught.value.message
    assert "config.mapping.fields.sku: Value error, give exactly one of column or constant" in message
    assert "config.mapping.prices.0.price_list: Field required" in message
    assert "config.batch_size: Input should be greater than or equal to 1" in message
