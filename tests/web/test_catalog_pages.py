"""Console catalog pages: products (search, filters, export, detail, edit, stock, price, delete),
categories, price lists and warehouses; role rules and bad input."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest

from bindery.accounts.models import Role
from bindery.catalog.actions import do_create_warehouse, do_upsert_product
from bindery.catalog.models import (
    Category,
    Price,
    PriceChangeLog,
    PriceList,
    Product,
    StockChangeLog,
    StockLevel,
    Warehouse,
)
from bindery.catalog.payloads import ProductData
from bindery.control.models import LocalTenant
from bindery.web.csv_export import safe_cell
from tests.conftest import HttpsClient
from tests.web.console_data import make_catalog, signed_in

pytestmark = pytest.mark.django_db(databases="__all__")


def read_csv(response: object) -> list[list[str]]:
    """Return the rows of a streamed CSV response (BOM removed)."""
    body = b"".join(response.streaming_content).decode("utf-8")  # type: ignore[attr-defined]
    return list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))


def test_pages_need_a_signed_in_tenant_user(tenant: LocalTenant, client: HttpsClient) -> None:
    """A stranger is sent to the sign-in page, with the page to come back to."""
    response = client.get("/catalog/products/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/catalog/products/")


def test_product_list_shows_and_searches(tenant: LocalTenant) -> None:
    """The list shows top-level products; search matches SKU, name, barcode and variants' SKUs."""
    make_catalog(tenant)
    do_upsert_product(tenant, ProductData(sku="MUG", name="Coffee mug", barcode="4000000000001"), actor="test")
    client = signed_in(tenant)
    page = client.get("/catalog/products/").content.decode()
    assert "SHIRT" in page
    assert "MUG" in page
    assert "SHIRT-RED" not in page  # variants appear on their parent's page
    for query, expected, other in [("coffee", "MUG", "SHIRT"), ("4000000", "MUG", "SHIRT"),
                                   ("shirt-red", "SHIRT", "MUG")]:
        found = client.get("/catalog/products/", {"q": query}).content.decode()
        assert expected in found, query
        assert f">{other}<" not in found, query


def test_product_filters(tenant: LocalTenant) -> None:
    """Category, deleted and stock filters narrow the list."""
    catalog = make_catalog(tenant)
    do_upsert_product(tenant, ProductData(sku="EMPTY", quantity_available=0), actor="test")
    do_upsert_product(tenant, ProductData(sku="GONE", deleted=True), actor="test")
    client = signed_in(tenant)
    category = Category.objects.for_tenant(tenant).get(path_key="Clothes|Shirts")

    def skus(**params: str) -> set[str]:
        response = client.get("/catalog/products/", params)
        assert response.status_code == 200
        return {p.sku for p in response.context["page"].object_list}

    assert skus() == {catalog.product.sku, "EMPTY"}
    assert skus(category=str(category.pk)) == {catalog.product.sku}
    assert skus(deleted="only") == {"GONE"}
    assert skus(deleted="all") == {catalog.product.sku, "EMPTY", "GONE"}
    assert skus(stock="yes") == {catalog.product.sku}
    assert skus(stock="no") == {"EMPTY"}


def test_empty_product_list_explains_where_products_come_from(tenant: LocalTenant) -> None:
    """With no products at all, the page says how they arrive."""
    page = signed_in(tenant).get("/catalog/products/").content.decode()
    assert "No products yet." in page
    assert "/api/v1/docs" in page


def test_product_list_paginates(tenant: LocalTenant) -> None:
    """Fifty products per page; hostile page numbers fall back to a real page."""
    from bindery.catalog.actions import do_bulk_upsert_products

    do_bulk_upsert_products(tenant, [ProductData(sku=f"P{i:03}") for i in range(55)], actor="test")
    client = signed_in(tenant)
    first = client.get("/catalog/products/")
    assert len(first.context["page"].object_list) == 50
    second = client.get("/catalog/products/", {"page": "2"})
    assert [p.sku for p in second.context["page"].object_list] == [f"P{i:03}" for i in range(50, 55)]
    for hostile in ["0", "-1", "abc", "9" * 5000]:
        assert client.get("/catalog/products/", {"page": hostile}).status_code == 200, hostile[:10]


def test_product_list_queries_do_not_grow_with_rows(tenant: LocalTenant, django_assert_max_num_queries) -> None:
    """The list page runs a fixed number of queries, whatever the number of rows."""
    from bindery.catalog.actions import do_bulk_upsert_products

    do_bulk_upsert_products(tenant, [ProductData(sku=f"P{i:03}", variants=[ProductData(sku=f"P{i:03}-V")])
                                     for i in range(40)], actor="test")
    client = signed_in(tenant)
    with django_assert_max_num_queries(12):
        response = client.get("/catalog/products/", {"q": "P", "stock": "no"})
    assert len(response.context["page"].object_list) == 40


@pytest.mark.parametrize("params", [{"q": "x" * 5000}, {"category": "not-a-uuid"}, {"deleted": "bogus"},
                                    {"stock": "'; DROP TABLE x"}, {"category": "\x00"}],
                         ids=["long-search", "bad-category", "bad-deleted", "bad-stock", "nul"])
def test_hostile_filters_answer_400_not_500(tenant: LocalTenant, params: dict[str, str], settings: Any) -> None:
    """Oversized or malformed filter values are field errors, never server errors.

    The form's own checks, behind the application firewall (which would refuse the SQL first).
    """
    settings.BINDERY_WAF_MODE = "detect"
    make_catalog(tenant)
    client = signed_in(tenant)
    response = client.get("/catalog/products/", params)
    assert response.status_code == 400
    assert response.context["form"].errors
    assert client.get("/catalog/products.csv", params).status_code == 400


def test_product_export_follows_filters_and_neutralizes_formulas(tenant: LocalTenant) -> None:
    """The CSV holds the filtered rows; text a spreadsheet would run as a formula gets a quote."""
    make_catalog(tenant)
    do_upsert_product(tenant, ProductData(sku="EVIL", name='=HYPERLINK("http://evil.example","x")',
                                          manufacturer="@SUM(A1)", quantity_available=-3), actor="test")
    do_upsert_product(tenant, ProductData(sku="+PLUS", name="-minus"), actor="test")
    client = signed_in(tenant)
    response = client.get("/catalog/products.csv", {"deleted": "all"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="products.csv"' in response["Content-Disposition"]
    rows = read_csv(response)
    assert rows[0][:2] == ["sku", "name"]
    by_sku = {row[0]: row for row in rows[1:]}
    assert set(by_sku) == {"'+PLUS", "EVIL", "SHIRT"}
    assert by_sku["EVIL"][1] == "'=HYPERLINK(\"http://evil.example\",\"x\")"
    assert by_sku["EVIL"][3] == "'@SUM(A1)"
    assert Decimal(by_sku["EVIL"][6]) == Decimal(-3)  # a negative number stays a number
    assert by_sku["'+PLUS"][1] == "'-minus"
    filtered = read_csv(client.get("/catalog/products.csv", {"q": "EVIL"}))
    assert [row[0] for row in filtered[1:]] == ["EVIL"]


@pytest.mark.parametrize(("value", "expected"), [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"),
                                                 ("\tx", "'\tx"), ("plain", "plain"), (None, ""),
                                                 (Decimal("-2.5"), Decimal("-2.5")), (True, "yes")],
                         ids=["eq", "plus", "minus", "at", "tab", "plain", "none", "negative-decimal", "bool"])
def test_safe_cell(value: object, expected: object) -> None:
    """Only text starting like a formula is quoted; numbers and plain text are unchanged."""
    assert safe_cell(value) == expected


def test_product_detail_shows_everything(tenant: LocalTenant) -> None:
    """Detail shows variants, prices per list, stock per warehouse, categories and images."""
    catalog = make_catalog(tenant)
    page = signed_in(tenant).get(f"/catalog/products/{catalog.product.pk}/").content.decode()
    for text in ["SHIRT-RED", "retail", "12.2", "main", "Clothes|Shirts", "https://img.example/SHIRT.jpg",
                 "Set stock", "Set price", "Delete SHIRT"]:
        assert text in page, text


def test_edit_product(tenant: LocalTenant) -> None:
    """The edit form saves the main fields through the upsert action."""
    catalog = make_catalog(tenant)
    client = signed_in(tenant)
    url = f"/catalog/products/{catalog.product.pk}/edit/"
    form = client.get(url).context["form"]
    data = {k: ("" if v is None else v) for k, v in form.initial.items()}
    data.update(name="Linen shirt", manufacturer="Linen & Co", weight="0.35", weight_unit="kg", featured="on")
    data = {k: v for k, v in data.items() if v is not False}
    response = client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    product = Product.objects.for_tenant(tenant).get(pk=catalog.product.pk)
    assert product.name == "Linen shirt"
    assert product.manufacturer == "Linen & Co"
    assert product.weight == Decimal("0.35")
    assert product.featured is True


@pytest.mark.parametrize("data", [{"name": "x" * 256, "weight_unit": "kg"}, {"weight": "-1", "weight_unit": "kg"},
                                  {"weight": "NaN", "weight_unit": "kg"}, {"weight": "1e400", "weight_unit": "kg"},
                                  {"weight_unit": "stone"}],
                         ids=["long-name", "negative-weight", "nan", "huge", "bad-unit"])
def test_edit_product_refuses_bad_input(tenant: LocalTenant, data: dict[str, str]) -> None:
    """Invalid edits show a field error (400) and change nothing."""
    catalog = make_catalog(tenant)
    before = Product.objects.for_tenant(tenant).filter(pk=catalog.product.pk).values().get()
    response = signed_in(tenant).post(f"/catalog/products/{catalog.product.pk}/edit/", data)
    assert response.status_code == 400
    assert response.context["form"].errors
    assert Product.objects.for_tenant(tenant).filter(pk=catalog.product.pk).values().get() == before


def test_set_stock_writes_a_change_log(tenant: LocalTenant) -> None:
    """Setting stock goes through do_set_stock: the level changes and a log names the user."""
    catalog = make_catalog(tenant)
    client = signed_in(tenant)
    response = client.post(f"/catalog/products/{catalog.product.pk}/stock/",
                           {"warehouse": str(catalog.warehouse.pk), "quantity": "17"})
    assert response.status_code == 302
    level = StockLevel.objects.for_tenant(tenant).get(product=catalog.product, warehouse=catalog.warehouse)
    assert level.quantity == Decimal(17)
    log = StockChangeLog.objects.for_tenant(tenant).filter(sku="SHIRT").order_by("created_at").last()
    assert log is not None
    assert log.new_quantity == Decimal(17)
    assert log.cause.startswith("user:")


def test_set_price_writes_a_change_log(tenant: LocalTenant) -> None:
    """Setting a price goes through do_set_price: the price changes and a log is written."""
    catalog = make_catalog(tenant)
    response = signed_in(tenant).post(f"/catalog/products/{catalog.product.pk}/price/", {
        "price_list": str(catalog.price_list.pk), "net": "20", "gross": "24.40", "vat_rate": "22",
        "min_quantity": "1"})
    assert response.status_code == 302
    price = Price.objects.for_tenant(tenant).get(product=catalog.product, price_list=catalog.price_list)
    assert price.net == Decimal(20)
    assert price.gross == Decimal("24.40")
    log = PriceChangeLog.objects.for_tenant(tenant).filter(sku="SHIRT").order_by("created_at").last()
    assert log is not None
    assert log.new_net == Decimal(20)
    assert log.cause.startswith("user:")


@pytest.mark.parametrize(("path", "data", "field"), [
    ("stock", {"warehouse": "OTHER", "quantity": "1"}, "warehouse"),
    ("stock", {"warehouse": "WH", "quantity": "abc"}, "quantity"),
    ("stock", {"warehouse": "WH", "quantity": "1" * 40}, "quantity"),
    ("price", {"price_list": "PL", "vat_rate": "0", "min_quantity": "1"}, "__all__"),
    ("price", {"price_list": "PL", "net": "-5", "vat_rate": "0", "min_quantity": "1"}, "net"),
    ("price", {"price_list": "OTHER", "net": "5", "vat_rate": "0", "min_quantity": "1"}, "price_list"),
], ids=["stock-unknown-warehouse", "stock-not-a-number", "stock-too-big", "price-none-given", "price-negative",
        "price-unknown-list"])
def test_stock_and_price_forms_refuse_bad_input(tenant: LocalTenant, other_tenant: LocalTenant, path: str,
                                                data: dict[str, str], field: str) -> None:
    """Bad stock or price input is a field error (400); nothing is written, no log either."""
    catalog = make_catalog(tenant)
    foreign = make_catalog(other_tenant)
    values = {"WH": str(catalog.warehouse.pk), "PL": str(catalog.price_list.pk),
              "OTHER": str(foreign.warehouse.pk if path == "stock" else foreign.price_list.pk)}
    data = {k: values.get(v, v) for k, v in data.items()}
    logs = StockChangeLog.objects.for_tenant(tenant).count() + PriceChangeLog.objects.for_tenant(tenant).count()
    response = signed_in(tenant).post(f"/catalog/products/{catalog.product.pk}/{path}/", data)
    assert response.status_code == 400
    form = response.context[f"{path}_form"]
    assert field in form.errors, form.errors
    assert StockChangeLog.objects.for_tenant(tenant).count() + PriceChangeLog.objects.for_tenant(tenant).count() == logs


def test_delete_product_is_logical(tenant: LocalTenant) -> None:
    """Delete marks the product and its variants deleted; they stay addressable."""
    catalog = make_catalog(tenant)
    client = signed_in(tenant)
    assert client.post(f"/catalog/products/{catalog.product.pk}/delete/").status_code == 302
    assert set(Product.objects.for_tenant(tenant).values_list("sku", "deleted")) == {("SHIRT", True),
                                                                                    ("SHIRT-RED", True)}
    assert client.get(f"/catalog/products/{catalog.product.pk}/").status_code == 200


def test_unknown_product_is_404(tenant: LocalTenant) -> None:
    """A well-formed id that does not exist is 404 for reads and writes."""
    client = signed_in(tenant)
    missing = "0190f3a0-0000-7000-8000-0000000000ff"
    assert client.get(f"/catalog/products/{missing}/").status_code == 404
    assert client.post(f"/catalog/products/{missing}/delete/").status_code == 404
    assert client.get("/catalog/products/not-a-uuid/").status_code == 404


@pytest.mark.parametrize("role", [Role.VIEWER], ids=["viewer"])
def test_viewers_read_but_cannot_write(tenant: LocalTenant, role: Role) -> None:
    """A viewer sees the pages without write forms, and every write answers 403 and changes nothing."""
    catalog = make_catalog(tenant)
    client = signed_in(tenant, role)
    page = client.get(f"/catalog/products/{catalog.product.pk}/")
    assert page.status_code == 200
    assert "Set stock" not in page.content.decode()
    pk = catalog.product.pk
    writes = [
        (f"/catalog/products/{pk}/edit/", {"name": "x", "weight_unit": "kg"}),
        (f"/catalog/products/{pk}/stock/", {"warehouse": str(catalog.warehouse.pk), "quantity": "1"}),
        (f"/catalog/products/{pk}/price/", {"price_list": str(catalog.price_list.pk), "net": "1", "vat_rate": "0",
                                            "min_quantity": "1"}),
        (f"/catalog/products/{pk}/delete/", {}),
        ("/catalog/categories/", {"path_key": "New"}),
        ("/catalog/warehouses/", {"key": "new"}),
        ("/catalog/price-lists/", {"name": "new", "currency": "EUR", "relationship": "own"}),
    ]
    for url, data in writes:
        assert client.post(url, data).status_code == 403, url
    assert Product.objects.for_tenant(tenant).get(pk=pk).deleted is False
    assert not Warehouse.objects.for_tenant(tenant).filter(key="new").exists()
    assert client.get(f"/catalog/products/{pk}/edit/").status_code == 200  # reading the form is allowed


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR], ids=["admin", "operator"])
def test_admins_and_operators_write(tenant: LocalTenant, role: Role) -> None:
    """Admins and operators may set stock."""
    catalog = make_catalog(tenant)
    response = signed_in(tenant, role).post(f"/catalog/products/{catalog.product.pk}/stock/",
                                            {"warehouse": str(catalog.warehouse.pk), "quantity": "3"})
    assert response.status_code == 302


def test_writes_need_csrf(tenant: LocalTenant) -> None:
    """A POST without the CSRF token is refused (403) and writes nothing."""
    make_catalog(tenant)
    client = signed_in(tenant)
    client.handler.enforce_csrf_checks = True  # type: ignore[attr-defined]
    assert client.post("/catalog/warehouses/", {"key": "sneaky"}).status_code == 403
    assert not Warehouse.objects.for_tenant(tenant).filter(key="sneaky").exists()


def test_create_category_warehouse_and_price_list(tenant: LocalTenant) -> None:
    """The create forms on the three reference pages write through the actions."""
    client = signed_in(tenant)
    assert client.post("/catalog/categories/", {"path_key": "Home|Kitchen", "language": ""}).status_code == 302
    assert client.post("/catalog/warehouses/", {"key": "north", "name": "North", "kind": "own"}).status_code == 302
    assert client.post("/catalog/price-lists/", {"name": "wholesale", "currency": "usd",
                                                 "relationship": "own"}).status_code == 302
    assert set(Category.objects.for_tenant(tenant).values_list("path_key", flat=True)) == {"Home", "Home|Kitchen"}
    assert Warehouse.objects.for_tenant(tenant).get(key="north").name == "North"
    assert PriceList.objects.for_tenant(tenant).get(name="wholesale").currency == "USD"
    for url, text in [("/catalog/categories/", "Home|Kitchen"), ("/catalog/warehouses/", "north"),
                      ("/catalog/price-lists/", "wholesale")]:
        assert text in client.get(url).content.decode()


@pytest.mark.parametrize(("url", "data", "field"), [
    ("/catalog/categories/", {"path_key": ""}, "path_key"),
    ("/catalog/categories/", {"path_key": "a||b"}, "path_key"),
    ("/catalog/categories/", {"path_key": "x" * 1001}, "path_key"),
    ("/catalog/warehouses/", {"key": "main", "kind": "own"}, "key"),
    ("/catalog/warehouses/", {"key": "k", "kind": "stolen"}, "kind"),
    ("/catalog/price-lists/", {"name": "p", "currency": "XXQ", "relationship": "own"}, "currency"),
    ("/catalog/price-lists/", {"name": "y" * 101, "currency": "EUR", "relationship": "own"}, "name"),
], ids=["category-blank", "category-empty-segment", "category-too-long", "warehouse-duplicate", "warehouse-bad-kind",
        "price-list-bad-currency", "price-list-long-name"])
def test_reference_forms_refuse_bad_input(tenant: LocalTenant, url: str, data: dict[str, str], field: str) -> None:
    """Bad or duplicate input is a field error (400) and creates nothing."""
    do_create_warehouse(tenant, "main", actor="test")
    counts = (Category.objects.for_tenant(tenant).count(), Warehouse.objects.for_tenant(tenant).count(),
              PriceList.objects.for_tenant(tenant).count())
    response = signed_in(tenant).post(url, data)
    assert response.status_code == 400
    assert field in response.context["form"].errors, response.context["form"].errors
    assert counts == (Category.objects.for_tenant(tenant).count(), Warehouse.objects.for_tenant(tenant).count(),
                      PriceList.objects.for_tenant(tenant).count())


@pytest.mark.parametrize(("url", "header"), [
    ("/catalog/categories.csv", ["path_key", "name", "language", "products", "created_at"]),
    ("/catalog/warehouses.csv", ["key", "name", "kind", "stock_levels", "created_at"]),
    ("/catalog/price-lists.csv", ["name", "currency", "relationship", "prices", "created_at"]),
], ids=["categories", "warehouses", "price-lists"])
def test_reference_exports(tenant: LocalTenant, url: str, header: list[str]) -> None:
    """Each reference list exports its rows as CSV, with formula-like text quoted."""
    make_catalog(tenant, category="=Evil", warehouse="=evil", price_list="=evil")
    rows = read_csv(signed_in(tenant).get(url))
    assert rows[0] == header
    assert len(rows) == 2
    assert rows[1][0] == "'=evil" if "categories" not in url else rows[1][0] == "'=Evil"


@pytest.mark.parametrize("url", ["/catalog/categories/", "/catalog/warehouses/", "/catalog/price-lists/"],
                         ids=["categories", "warehouses", "price-lists"])
def test_reference_list_queries_do_not_grow(tenant: LocalTenant, url: str, django_assert_max_num_queries) -> None:
    """Reference lists run a fixed number of queries for many rows."""
    from bindery.catalog.actions import do_create_category, do_create_price_list

    for i in range(30):
        do_create_category(tenant, f"C{i}", actor="test")
        do_create_warehouse(tenant, f"w{i}", actor="test")
        do_create_price_list(tenant, f"p{i}", "EUR", actor="test")
    client = signed_in(tenant)
    with django_assert_max_num_queries(10):
        response = client.get(url)
    assert len(response.context["page"].object_list) == 30


def test_operator_session_is_sent_to_ops(tenant: LocalTenant, client: HttpsClient) -> None:
    """An operator signed in to /ops/ is redirected there from the data pages."""
    from bindery.accounts.models import Operator

    operator = Operator(email="ops@platform.example")
    operator.set_password("a long operator password 1")
    operator.save()
    client.force_login(operator, backend="bindery.accounts.backends.OperatorBackend")
    response = client.get("/catalog/products/")
    assert response.status_code == 302
    assert response["Location"].startswith("/ops/")
