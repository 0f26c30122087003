"""Order and product export to CSV/XML/JSON, published to real FTP/SFTP servers; SFTP import end to end."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from defusedxml import ElementTree

from bindery.catalog.actions import do_create_price_list, do_create_warehouse
from bindery.catalog.models import Product
from bindery.control.models import LocalTenant
from bindery.sales.models import Order
from bindery.technologies.files.exports import ExportFormat, export_file_name, export_orders, export_products, publish
from bindery.technologies.files.product_import import import_products
from bindery.technologies.files.transports import PROCESSED, FtpTransport, SftpTransport, pick_up
from tests.sales.factories import order_payload, row, store
from tests.technologies.files.servers import PASSWORD, USER, ftp_server, sftp_server

pytestmark = pytest.mark.django_db(databases="__all__")
ACTOR = "run:test"


@pytest.fixture
def orders(tenant: LocalTenant) -> LocalTenant:
    store(tenant, order_payload("1001"))
    store(tenant, order_payload("1002", rows=(row("SKU-9", quantity="3", description="Caffè <&> \x01crème"),)))
    return tenant


def test_orders_xml_follows_the_documents_tree(orders: LocalTenant, tmp_path: Path) -> None:
    result = export_orders(orders, tmp_path / "o.xml", "xml")
    assert result.count == 2
    assert len(result.ids) == 2
    root = ElementTree.parse(tmp_path / "o.xml").getroot()
    assert root.tag == "Documents"
    documents = root.findall("Document")
    assert [d.findtext("General/Number") for d in documents] == ["1001", "1002"]
    first = documents[0]
    assert [g.tag for g in first] == ["General", "Customer", "Delivery", "Payments", "Rows", "Amounts", "Shipping"]
    assert first.findtext("Customer/Email") == "Mario.Rossi@example.com"
    assert first.findtext("Delivery/City") == "Torino"
    assert [r.findtext("Code") for r in first.findall("Rows/Row")] == ["SKU-1", "SKU-2"]
    assert first.findtext("General/bindCommerceNumber") == Order.objects.for_tenant(orders).get(
        channel_order_number="1001").hub_order_key
    assert documents[1].findtext("Rows/Row/Description") == "Caffè <&> crème"  # escaped, control char dropped


def test_orders_csv_has_one_line_per_row(orders: LocalTenant, tmp_path: Path) -> None:
    export_orders(orders, tmp_path / "o.csv", ExportFormat.CSV)
    lines = list(csv.DictReader(io.StringIO((tmp_path / "o.csv").read_text("utf-8")), delimiter=";"))
    assert [(line["General_Number"], line["Row_Code"]) for line in lines] == [
        ("1001", "SKU-1"), ("1001", "SKU-2"), ("1002", "SKU-9")]
    assert lines[0]["Amounts_Currency"] == "EUR"
    assert lines[2]["Row_Qty"] == "3"


def test_orders_json_and_delta(orders: LocalTenant, tmp_path: Path) -> None:
    documents = json.loads(_export_json(orders, tmp_path))
    assert [d["General"]["Number"] for d in documents] == ["1001", "1002"]
    assert documents[1]["Rows"][0]["Code"] == "SKU-9"
    later = export_orders(orders, tmp_path / "none.json", "json",
                          modified_since=max(Order.objects.for_tenant(orders).values_list("modified_at", flat=True))
                          + dt.timedelta(seconds=1))
    assert later.count == 0
    assert json.loads((tmp_path / "none.json").read_text()) == []


def _export_json(tenant: LocalTenant, tmp_path: Path) -> str:
    export_orders(tenant, tmp_path / "o.json", "json")
    return (tmp_path / "o.json").read_text("utf-8")


def test_orders_of_another_tenant_never_leak(orders: LocalTenant, other_tenant: LocalTenant, tmp_path: Path) -> None:
    result = export_orders(other_tenant, tmp_path / "o.xml", "xml", orders=Order.objects.unscoped().all())
    assert result.count == 0


@pytest.fixture
def catalog(tenant: LocalTenant) -> LocalTenant:
    do_create_warehouse(tenant, "main", actor=ACTOR)
    do_create_price_list(tenant, "retail", "EUR", actor=ACTOR)
    return tenant


IMPORT = {"file": {"format": "csv", "limits": {"min_bytes": 10}},
          "mapping": {"fields": {"sku": {"column": "Code"}, "name": {"column": "Title"},
                                 "categories": {"column": "Categories"}},
                      "prices": [{"column": "Price_retail_gross", "price_list": "retail", "vat_rate": "22"}],
                      "stock": [{"column": "Stock_main", "warehouse": "main"}]}}


def test_sftp_import_then_export_to_ftp_round_trip(catalog: LocalTenant, tmp_path: Path) -> None:
    """A CSV on SFTP is imported once; the products exported to FTP re-import as unchanged."""
    sftp_root, ftp_root = tmp_path / "sftp", tmp_path / "ftp"
    (sftp_root / "in").mkdir(parents=True)
    ftp_root.mkdir()
    spool = tmp_path / "spool"
    spool.mkdir()
    (sftp_root / "in" / "products.csv").write_text(
        "Code;Title;Categories;Price_retail_gross;Stock_main\nP1;Pen;Office|Pens;1.20;10\nP2;Pad;Office;2;\n"
        "P3;Bad;;abc;1\n", "utf-8")
    with sftp_server(sftp_root) as sftp:
        transport = SftpTransport("127.0.0.1", allow_private=True, port=sftp.port, username=USER, password=PASSWORD,
                                  host_key=sftp.host_key, folder="in", timeout=60)
        try:
            def handle(local: Path, name: str) -> object:
                return import_products(catalog, local, IMPORT, actor=ACTOR, name=name)

            [picked] = pick_up(transport, handle, spool=spool, max_bytes=10_000)
            assert pick_up(transport, handle, spool=spool, max_bytes=10_000) == []
        finally:
            transport.close()
    assert picked.moved_to.startswith(PROCESSED)
    assert (picked.result.created, picked.result.failed) == (2, 1)
    assert picked.result.errors[0].location == "line 4"
    assert Product.objects.for_tenant(catalog).get(sku="P1").name == "Pen"

    exported = export_products(catalog, tmp_path / "p.csv", "csv", price_lists=["retail"], warehouses=["main"])
    assert exported.count == 2
    name = export_file_name("ExportProducts", ExportFormat.CSV)
    with ftp_server(ftp_root) as ftp:
        target = FtpTransport("127.0.0.1", allow_private=True, port=ftp.port, username=USER,
                              password=PASSWORD, folder="out",
                              timeout=60)
        try:
            publish(target, exported.path, name)
        finally:
            target.close()
    published = ftp_root / "out" / name
    assert sorted(p.name for p in (ftp_root / "out").iterdir()) == [name]
    again = import_products(catalog, published, IMPORT, actor=ACTOR)
    assert (again.created, again.updated, again.unchanged, again.failed) == (0, 0, 2, 0)
    lines = list(csv.DictReader(io.StringIO(published.read_text("utf-8")), delimiter=";"))
    assert [(line["Code"], line["Price_retail_gross"], line["Stock_main"]) for line in lines] in (
        [("P1", "1.2", "10"), ("P2", "2", "")], [("P2", "2", ""), ("P1", "1.2", "10")])
    pen = next(line for line in lines if line["Code"] == "P1")
    assert Decimal(pen["Price_retail_net"]) == Decimal("0.9836")


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_product_export_formats(catalog: LocalTenant, tmp_path: Path, fmt: str) -> None:
    from bindery.catalog.actions import do_bulk_upsert_products
    from bindery.catalog.payloads import ProductData

    do_bulk_upsert_products(catalog, [ProductData(sku=f"S{i}", name=f"N{i}") for i in range(1203)], actor=ACTOR)
    result = export_products(catalog, tmp_path / f"p.{fmt}", fmt)
    assert result.count == 1203
    if fmt == "xml":
        codes = [p.findtext("Code") for p in ElementTree.parse(tmp_path / "p.xml").getroot().findall("Product")]
    else:
        codes = [p["Code"] for p in json.loads((tmp_path / "p.json").read_text())]
    assert sorted(codes) == sorted(f"S{i}" for i in range(1203))
