"""Export orders wire format: hub orders as bindCommerce "API v4.0" XML, plus CSV and JSON.

Every element of WIRE.md section 2 is written on every document, empty when unknown, in the
documented order, because real clients dereference ``find(...)`` without checking for None.
Output is generated piece by piece (``iter_*``) so a large export never sits in memory whole.
The error form never contains the token.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from itertools import islice
from typing import Any
from xml.sax.saxutils import escape

from django.db.models import QuerySet

from bindery.sales.models import Address, AddressKind, DocumentType, Order, OrderRow, Shipment

XML_CONTENT_TYPE = "text/xml; charset=UTF-8"
CSV_CONTENT_TYPE = "text/csv; charset=UTF-8"
JSON_CONTENT_TYPE = "application/json; charset=UTF-8"

DOCUMENT_TYPE_CODES = {DocumentType.ORDER: "C", DocumentType.INVOICE: "F", DocumentType.OTHER: "O"}

Leaf = tuple[str, str]
# A group is a list of (name, text) leaves; rows are a list of such lists, nested groups by name.

PARTY_FIELDS = ("Name", "Surname", "Company", "Address", "Postcode", "City", "Province", "CountryCode",
                "VatCode", "FiscalCode", "Phone", "MobPhone", "Email", "EInvoiceDestCode", "Pec")
DELIVERY_FIELDS = ("Name", "Surname", "Company", "Address", "Postcode", "City", "Province", "CountryCode",
                   "Phone", "MobPhone", "Email")
DIMENSION_FIELDS = ("Weight", "WeightUom", "WeightVolume", "LwhUom", "Length", "Width", "Height")


def format_number(value: Decimal | int | None) -> str:
    """Dot decimal separator, no thousands separator, no exponent, no trailing zeros."""
    if value is None:
        return ""
    number = Decimal(value)
    if number == number.to_integral_value():
        return str(number.quantize(Decimal(1)))
    return format(number.normalize(), "f")


def format_time(value: datetime | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in UTC (the clients read the first ten characters as the date)."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _party(fields: tuple[str, ...], source: Any, *, code: str = "", vat: str = "", fiscal: str = "",
           mobile: str = "", e_invoice: str = "", pec: str = "") -> list[Leaf]:
    get = (lambda attribute: getattr(source, attribute, "") or "") if source is not None else (lambda _a: "")
    address = " ".join(part for part in (get("address_line1"), get("address_line2")) if part)
    values = {
        "Code": code, "Name": get("name"), "Surname": get("surname"), "Company": get("company"),
        "Address": address, "Postcode": get("postal_code"), "City": get("city"), "Province": get("province"),
        "CountryCode": get("country"), "VatCode": vat, "FiscalCode": fiscal, "Phone": get("phone"),
        "MobPhone": mobile, "Email": get("email"), "EInvoiceDestCode": e_invoice, "Pec": pec,
    }
    return [(name, values[name]) for name in fields]


@dataclass
class Children:
    """An order's addresses, shipments and rows, read for a whole batch of orders at once."""

    addresses: dict[str, Address] = field(default_factory=dict)
    shipments: list[Shipment] = field(default_factory=list)
    rows: list[OrderRow] = field(default_factory=list)


BATCH = 200


def with_children(orders: Iterable[Order]) -> Iterator[tuple[Order, Children]]:
    """Yield each order with its children, three queries per batch of orders instead of three per order."""
    source: Iterator[Order] = (orders.select_related("customer", "status", "payment_method").iterator(
        chunk_size=BATCH) if isinstance(orders, QuerySet) else iter(orders))
    while batch := list(islice(source, BATCH)):
        tenant_id = batch[0].tenant_id
        ids = [order.pk for order in batch]
        kids = {pk: Children() for pk in ids}
        for address in Address.objects.for_tenant(tenant_id).filter(order_id__in=ids):
            kids[address.order_id].addresses[address.kind] = address
        for shipment in Shipment.objects.for_tenant(tenant_id).filter(order_id__in=ids).order_by("created_at", "pk"):
            kids[shipment.order_id].shipments.append(shipment)
        for row in OrderRow.objects.for_tenant(tenant_id).filter(order_id__in=ids).order_by("position"):
            kids[row.order_id].rows.append(row)
        for order in batch:
            yield order, kids[order.pk]


def document_tree(order: Order, children: Children | None = None) -> list[tuple[str, Any]]:
    """Return the Document as ordered (group, leaves) pairs; Rows is a list of row trees."""
    if children is None:
        children = next(with_children([order]))[1]
    addresses = children.addresses
    customer = order.customer
    billing = addresses.get(AddressKind.BILLING) or customer
    delivery = addresses.get(AddressKind.DELIVERY) or billing
    status = order.status
    payment = order.payment_method
    shipments = children.shipments
    shipment = shipments[-1] if shipments else None
    general = [
        ("DocumentType", DOCUMENT_TYPE_CODES.get(DocumentType(order.document_type), "C")),
        ("bindCommerceNumber", order.hub_order_key),
        ("Number", order.channel_order_number),
        ("Node", ""),
        ("NodeID", str(order.origin_node_id or "")),
        ("Technology", ""),
        ("Market", ""),
        ("Date", format_time(order.created_on_channel)),
        ("LastUpdate", format_time(order.channel_updated_at or order.modified_at)),
        ("StatebindID", ""),
        ("StateCode", status.code if status else ""),
        ("StateName", (status.name or status.code) if status else order.get_normalized_status_display()),
        ("B2B", "1" if order.is_b2b else "0"),
        ("DocumentNumber", ""),
    ]
    customer_group = [("Code", customer.code if customer else ""), *_party(
        PARTY_FIELDS, billing,
        vat=customer.vat_number if customer else "", fiscal=customer.fiscal_code if customer else "",
        mobile=customer.mobile if customer else "", e_invoice=customer.e_invoice_code if customer else "",
        pec=customer.certified_email if customer else "",
    )]
    if not any(value for name, value in customer_group if name == "Email") and customer is not None:
        customer_group = [(n, customer.email if n == "Email" else v) for n, v in customer_group]
    payments = [
        ("PaymentName", (payment.name or payment.code) if payment else ""),
        ("PaymentCode", payment.code if payment else ""),
        ("PaymentCOD", "YES" if order.cash_on_delivery else "NO"),
        ("PaymentTotal", format_number(order.payment_total)),
        ("PaymentStatus", order.payment_status),
        ("PaidTime", format_time(order.paid_at)),
    ]
    rows = []
    for position, row in enumerate(children.rows, start=1):
        discounted = row.total_gross
        rows.append([
            ("bindID", str(row.position or position)),
            ("Code", row.sku), ("Barcode", row.barcode), ("Description", row.description),
            ("Qty", format_number(row.quantity)),
            ("ProductDimensions", [(name, "") for name in DIMENSION_FIELDS]),
            ("Picture", ""), ("MPN", ""),
            ("PriceVatExcluded", format_number(row.unit_price_net)),
            ("Price", format_number(row.unit_price_gross)),
            ("Discounts", format_number(row.discount_net)),
            ("VatRate", format_number(row.vat_rate)),
            ("TotalVatExcluded", format_number(row.total_net)),
            ("Total", format_number(row.total_gross + row.discount_net)),
            ("TotalDiscounted", format_number(discounted)),
            ("Currency", row.currency),
            ("Commission", format_number(row.commission)),
            ("Warehouse_Key", row.warehouse_key),
        ])
    amounts = [
        ("TotalWithoutTax", format_number(order.net_total)),
        ("VatAmount", format_number(order.vat_total)),
        ("Total", format_number(order.total)),
        ("Currency", order.currency),
        ("ShippingCost", format_number(order.shipping_net + order.shipping_vat)),
        ("ShippingCostWithoutTax", format_number(order.shipping_net)),
        ("ShippingTax", format_number(order.shipping_vat)),
        ("InternalComment", ""),
        ("SellerNote", order.notes),
        ("CouponDiscount", format_number(order.coupon_total)),
        ("CouponCode", ""),
        ("DiscountToCart", "0"),
    ]
    commission = [("PayPalCommission", "0"), ("PayPalTransactionID", ""), ("eBayCommission", "0"),
                  ("eBayAccount", ""), ("eBayAdjustmentAmount", "0"), ("eBayAmountSaved", "0")]
    shipping = [
        ("Carrier", shipment.carrier if shipment else ""),
        ("TrackingNumber", shipment.tracking_number if shipment else ""),
        ("TransportedWeight", format_number(shipment.weight_kg) if shipment else ""),
        ("ShippedTime", format_time(shipment.shipped_at) if shipment else ""),
    ]
    delivery_group = _party(DELIVERY_FIELDS, delivery)
    return [("General", general), ("Customer", customer_group), ("Delivery", delivery_group),
            ("Payments", payments), ("Rows", rows), ("Amounts", amounts), ("Commission", commission),
            ("Shipping", shipping)]


def _xml_leaves(leaves: list[tuple[str, Any]], indent: str) -> Iterator[str]:
    for name, value in leaves:
        if isinstance(value, list):
            yield f"{indent}<{name}>\n"
            yield from _xml_leaves(value, indent + "  ")
            yield f"{indent}</{name}>\n"
        elif value == "":
            yield f"{indent}<{name}></{name}>\n"
        else:
            yield f"{indent}<{name}>{escape(value)}</{name}>\n"




def xml_from_tree(tree: list[tuple[str, Any]]) -> Iterator[str]:
    """Yield one ``Document`` element for a tree made by ``document_tree``."""
    yield "  <Document>\n"
    for group, content in tree:
        yield f"    <{group}>\n"
        if group == "Rows":
            for row in content:
                yield "      <Row>\n"
                yield from _xml_leaves(row, "        ")
                yield "      </Row>\n"
        else:
            yield from _xml_leaves(content, "      ")
        yield f"    </{group}>\n"
    yield "  </Document>\n"


def iter_orders_xml(orders: Iterable[Order], total: int) -> Iterator[str]:
    """Yield the export as XML text pieces; ``total`` is ``totalDocumentsFounded``."""
    yield '<?xml version="1.0" encoding="UTF-8"?>\n<Documents>\n'
    yield f"  <totalDocumentsFounded>{int(total)}</totalDocumentsFounded>\n"
    for order, children in with_children(orders):
        yield from xml_from_tree(document_tree(order, children))
    yield "</Documents>\n"


def error_xml(code: str, description: str) -> str:
    """The error form; callers pass their own text, never the request's token."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Documents>\n'
            f"  <errorCode>{escape(code)}</errorCode>\n"
            f"  <errorDescription>{escape(description)}</errorDescription>\n</Documents>\n")


def _flat(prefix: str, leaves: list[tuple[str, Any]]) -> Iterator[tuple[str, str]]:
    for name, value in leaves:
        if isinstance(value, list):
            yield from _flat(f"{prefix}{name}_", value)
        else:
            yield f"{prefix}{name}", value


def _csv_lines(order: Order, children: Children | None = None) -> Iterator[list[tuple[str, str]]]:
    tree = document_tree(order, children)
    head = [pair for group, content in tree[:4] for pair in _flat(f"{group}_", content)]
    tail = [pair for group, content in tree[5:] for pair in _flat(f"{group}_", content)]
    rows = tree[4][1] or [[]]
    for row in rows:
        row_pairs = list(_flat("Row_", row))
        warehouse = [pair for pair in row_pairs if pair[0] == "Row_Warehouse_Key"]
        row_pairs = [pair for pair in row_pairs if pair[0] != "Row_Warehouse_Key"]
        yield head + row_pairs + tail + (warehouse or [("Row_Warehouse_Key", "")])


def iter_orders_csv(orders: Iterable[Order], *, delimiter: str = ";") -> Iterator[str]:
    """Yield CSV text: a header, then one line per order row with order columns repeated."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    header_written = False

    def take() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    for order, children in with_children(orders):
        for line in _csv_lines(order, children):
            if not header_written:
                writer.writerow([name for name, _ in line])
                header_written = True
            writer.writerow([value for _, value in line])
        yield take()
    if not header_written:
        writer.writerow(csv_header())
        yield take()


def csv_header() -> list[str]:
    """The CSV columns, in order, independent of any order."""
    general = ["DocumentType", "bindCommerceNumber", "Number", "Node", "NodeID", "Technology", "Market", "Date",
               "LastUpdate", "StatebindID", "StateCode", "StateName", "B2B", "DocumentNumber"]
    row = ["bindID", "Code", "Barcode", "Description", "Qty"] + [f"ProductDimensions_{d}" for d in DIMENSION_FIELDS] + [
        "Picture", "MPN", "PriceVatExcluded", "Price", "Discounts", "VatRate", "TotalVatExcluded", "Total",
        "TotalDiscounted", "Currency", "Commission"]
    amounts = ["TotalWithoutTax", "VatAmount", "Total", "Currency", "ShippingCost", "ShippingCostWithoutTax",
               "ShippingTax", "InternalComment", "SellerNote", "CouponDiscount", "CouponCode", "DiscountToCart"]
    commission = ["PayPalCommission", "PayPalTransactionID", "eBayCommission", "eBayAccount", "eBayAdjustmentAmount",
                  "eBayAmountSaved"]
    shipping = ["Carrier", "TrackingNumber", "TransportedWeight", "ShippedTime"]
    groups: list[tuple[str, Iterable[str]]] = [
        ("General_", general), ("Customer_", ("Code", *PARTY_FIELDS)), ("Delivery_", DELIVERY_FIELDS),
        ("Payments_", ("PaymentName", "PaymentCode", "PaymentCOD", "PaymentTotal", "PaymentStatus", "PaidTime")),
        ("Row_", row), ("Amounts_", amounts), ("Commission_", commission), ("Shipping_", shipping)]
    return [prefix + name for prefix, names in groups for name in names] + ["Row_Warehouse_Key"]


def _json_value(content: Any, *, rows: bool = False) -> Any:
    if rows:
        return [_json_value(row) for row in content]
    return {name: _json_value(value) if isinstance(value, list) else value for name, value in content}


def iter_orders_json(orders: Iterable[Order], total: int) -> Iterator[str]:
    """Yield JSON mirroring the XML nesting: {"totalDocumentsFounded": n, "Documents": [...]}."""
    yield f'{{"totalDocumentsFounded": {int(total)}, "Documents": ['
    separator = ""
    for order, children in with_children(orders):
        document = {group: _json_value(content, rows=group == "Rows")
                    for group, content in document_tree(order, children)}
        yield separator + json.dumps(document, ensure_ascii=False)
        separator = ", "
    yield "]}\n"


FORMATS: dict[str, tuple[str, Callable[..., Iterator[str]]]] = {
    "xml": (XML_CONTENT_TYPE, iter_orders_xml),
    "json": (JSON_CONTENT_TYPE, iter_orders_json),
}
