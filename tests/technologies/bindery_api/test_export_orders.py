"""Export orders wire format, checked element by element against WIRE.md section 2.

``konga_read`` reimplements the Konga "Importa ordini" reader's accesses (find().text on
every element it needs, decimal parsing, first ten characters of Date as a date).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal
from typing import Any

import defusedxml.ElementTree as ET
import pytest

from bindery.control.models import LocalTenant
from bindery.sales.actions import do_add_shipment
from bindery.sales.models import Order
from bindery.technologies.bindery_api.export_orders import (
    CSV_CONTENT_TYPE,
    XML_CONTENT_TYPE,
    csv_header,
    error_xml,
    format_number,
    iter_orders_csv,
    iter_orders_json,
    iter_orders_xml,
)
from tests.sales.factories import order_payload, row, store

pytestmark = pytest.mark.django_db(databases="__all__")

GROUPS = ["General", "Customer", "Delivery", "Payments", "Rows", "Amounts", "Commission", "Shipping"]
KONGA_NEEDS = {
    "General": ["bindCommerceNumber", "Number", "Date", "StateName"],
    "Customer": ["Code", "Name", "Surname", "Company", "Address", "Postcode", "City", "Province", "CountryCode",
                 "VatCode", "FiscalCode", "Phone", "MobPhone", "Email", "EInvoiceDestCode", "Pec"],
    "Delivery": ["Name", "Surname", "Company", "Address", "Postcode", "City", "Province", "CountryCode", "Phone",
                 "MobPhone", "Email"],
    "Payments": ["PaymentName"],
    "Amounts": ["Total", "Currency", "ShippingCostWithoutTax", "InternalComment", "SellerNote"],
}
KONGA_ROW_DECIMALS = ["Qty", "PriceVatExcluded", "Price", "Discounts", "VatRate"]


def konga_read(text: str) -> list[dict[str, Any]]:
    """Read like the Konga script: re-encode response.text as UTF-8, parse, dereference find()."""
    root = ET.fromstring(text.encode("utf-8"))
    documents = []
    for document in root.findall("Document"):
        read: dict[str, Any] = {}
        for group, names in KONGA_NEEDS.items():
            element = document.find(group)
            for name in names:
                read[f"{group}/{name}"] = element.find(name).text or ""  # type: ignore[union-attr]
        date.fromisoformat(read["General/Date"][:10])
        assert read["General/bindCommerceNumber"]
        Decimal(read["Amounts/Total"] or "0")
        Decimal(read["Amounts/ShippingCostWithoutTax"])
        read["rows"] = [{name: Decimal(r.find(name).text) for name in KONGA_ROW_DECIMALS}  # type: ignore[union-attr,arg-type]
                        | {"Code": r.find("Code").text or ""}  # type: ignore[union-attr]
                        for r in document.find("Rows").findall("Row")]  # type: ignore[union-attr]
        documents.append(read)
    return documents


def export(tenant: LocalTenant) -> str:
    orders = Order.objects.for_tenant(tenant).order_by("created_on_channel", "pk")
    return "".join(iter_orders_xml(orders, orders.count()))


def test_xml_has_every_element_in_order_and_konga_reads_it(tenant: LocalTenant) -> None:
    stored = store(tenant, order_payload("A&B-1", notes="<fragile> & è")).order
    text = export(tenant)
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == "Documents"
    assert next(child.tag for child in root) == "totalDocumentsFounded"
    assert root.findtext("totalDocumentsFounded") == "1"
    document = root.find("Document")
    assert document is not None
    assert [child.tag for child in document] == GROUPS
    general = [child.tag for child in document.find("General")]  # type: ignore[union-attr]
    assert general == ["DocumentType", "bindCommerceNumber", "Number", "Node", "NodeID", "Technology", "Market",
                       "Date", "LastUpdate", "StatebindID", "StateCode", "StateName", "B2B", "DocumentNumber"]
    for leaf in document.iter():
        if leaf.tag not in GROUPS and leaf.tag not in ("Row", "ProductDimensions", "Document"):
            assert len(leaf) == 0, f"{leaf.tag} must be text-only"
    read = konga_read(text)[0]
    assert read["General/bindCommerceNumber"] == stored.hub_order_key
    assert read["General/Number"] == "A&B-1"
    assert read["Amounts/SellerNote"] == "<fragile> & è"
    assert read["General/StateName"] == "Processing"
    assert read["Payments/PaymentName"] == "PayPal"
    assert read["Delivery/City"] == "Torino"
    assert read["Customer/City"] == "Milano"
    assert read["rows"][0] == {"Qty": Decimal(2), "PriceVatExcluded": Decimal(10), "Price": Decimal("12.2"),
                               "Discounts": Decimal(0), "VatRate": Decimal(22), "Code": "SKU-1"}
    assert document.findtext("General/DocumentType") == "C"
    assert len(document.findtext("General/Date") or "") == 19
    assert document.findtext("Amounts/Total") == format_number(stored.total)


def test_number_format_has_dot_no_exponent_no_thousands() -> None:
    assert format_number(Decimal("1234567.50")) == "1234567.5"
    assert format_number(Decimal("22.0000")) == "22"
    assert format_number(Decimal("0E-8")) == "0"
    assert format_number(Decimal("0.04")) == "0.04"
    assert format_number(None) == ""


def test_number_is_stable_across_reexports_and_shipping_appears(tenant: LocalTenant) -> None:
    stored = store(tenant, order_payload("9")).order
    first = konga_read(export(tenant))[0]["General/bindCommerceNumber"]
    do_add_shipment(stored, carrier="UPS", tracking_number="1Z999", actor="test")
    text = export(tenant)
    assert konga_read(text)[0]["General/bindCommerceNumber"] == first
    assert ET.fromstring(text).findtext("Document/Shipping/TrackingNumber") == "1Z999"


def test_nothing_to_export_is_an_empty_documents_root(tenant: LocalTenant) -> None:
    text = export(tenant)
    root = ET.fromstring(text)
    assert [child.tag for child in root] == ["totalDocumentsFounded"]
    assert root.findtext("totalDocumentsFounded") == "0"
    assert konga_read(text) == []
    assert "charset=UTF-8" in XML_CONTENT_TYPE
    assert "charset=UTF-8" in CSV_CONTENT_TYPE


def test_error_form_escapes_and_never_carries_a_token() -> None:
    root = ET.fromstring(error_xml("401", "token <invalid> & refused"))
    assert [child.tag for child in root] == ["errorCode", "errorDescription"]
    assert root.findtext("errorDescription") == "token <invalid> & refused"
    assert root.find("token") is None


def test_csv_has_one_line_per_row_with_the_documented_columns(tenant: LocalTenant) -> None:
    stored = store(tenant, order_payload("77", rows=(row("X;1"), row("Y", quantity="3"), row("Z")))).order
    orders = Order.objects.for_tenant(tenant)
    text = "".join(iter_orders_csv(orders))
    lines = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert len(lines) == 3
    assert list(lines[0]) == csv_header()
    assert csv_header()[-1] == "Row_Warehouse_Key"
    assert {line["General_bindCommerceNumber"] for line in lines} == {stored.hub_order_key}
    assert [line["Row_Code"] for line in lines] == ["X;1", "Y", "Z"]
    assert lines[1]["Row_Qty"] == "3"
    assert lines[0]["Row_Warehouse_Key"] == "MAIN"
    assert "Row_ProductDimensions_Weight" in lines[0]
    empty = "".join(iter_orders_csv(Order.objects.for_tenant(None)))
    assert empty.strip().split(";") == csv_header()


def test_json_mirrors_the_xml_nesting(tenant: LocalTenant) -> None:
    store(tenant, order_payload("5"))
    orders = Order.objects.for_tenant(tenant)
    data = json.loads("".join(iter_orders_json(orders, 1)))
    assert data["totalDocumentsFounded"] == 1
    document = data["Documents"][0]
    assert list(document) == GROUPS
    assert document["General"]["Number"] == "5"
    assert document["Rows"][1]["Code"] == "SKU-2"
    assert document["Rows"][0]["ProductDimensions"]["Weight"] == ""


def test_export_is_tenant_scoped(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    store(other_tenant, order_payload("theirs"))
    assert konga_read(export(tenant)) == []
