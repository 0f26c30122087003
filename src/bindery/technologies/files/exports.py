"""Order and product export to CSV, XML or JSON files, written streaming, then published by a transport.

:func:`export_orders` writes the hub's orders as ``Documents/Document`` with the groups General,
Customer, Delivery, Payments, Rows, Amounts and Shipping — the tree of the orders export in
WIRE.md, so ERP readers of that format (and its CSV variant: one line per order row, order
columns repeated, column names are paths joined by ``_``) read Bindery's files too. JSON is the
same tree as an array of objects. :func:`export_products` writes one record per product with its
prices per list, stock per warehouse and categories.

Both stream: orders and products are read in keyset chunks with their children fetched per
chunk, and each record is written as soon as it is built. :func:`publish` uploads the file
through a folder transport under a timestamped name, atomically (temporary name, then rename),
so an ERP polling the folder never reads half a file. The caller (the engine's connector)
passes the queryset it wants exported (order filter, "export once", delta) and records the
export references from the returned ids.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape

from django.db.models import Prefetch, QuerySet

from bindery.catalog.models import Price, Product, ProductCategory, StockLevel
from bindery.control.models import LocalTenant
from bindery.sales.access import orders_for_export
from bindery.sales.models import Address, Order, OrderRow, Shipment
from bindery.technologies.files.transports import FolderTransport, check_name

CHUNK = 500
Progress = Callable[[int, int | None], None]
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class ExportFormat(StrEnum):
    CSV = "csv"
    XML = "xml"
    JSON = "json"


@dataclass
class ExportResult:
    path: Path
    format: ExportFormat
    count: int = 0
    ids: list[uuid.UUID] = field(default_factory=list)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # 1.2000 -> 1.2, 10.0000 -> 10 (never 1E+1)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def export_file_name(prefix: str, fmt: ExportFormat, now: dt.datetime | None = None) -> str:
    """Return ``<prefix>-YYYY-MM-DD_HHMMSS.<ext>`` (UTC), a name an ERP can sort by time."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d_%H%M%S")
    return check_name(f"{prefix}-{stamp}.{fmt.value}")


# --- documents -----------------------------------------------------------------------------------

Group = dict[str, str]


def _party(address: Address | None, customer: Any) -> Group:
    """Return a party's fields from the order's address snapshot, falling back to the customer's."""

    def get(name: str) -> str:
        value = getattr(address, name, "") if address is not None else ""
        return str(value or (getattr(customer, name, "") if customer is not None else "") or "")

    return {"Name": get("name"), "Surname": get("surname"), "Company": get("company"),
            "Address": " ".join(p for p in (get("address_line1"), get("address_line2")) if p),
            "Postcode": get("postal_code"), "City": get("city"), "Province": get("province"),
            "CountryCode": get("country"), "Phone": get("phone"), "MobPhone": get("mobile"),
            "Email": get("email")}


def order_document(order: Order) -> dict[str, Any]:
    """Return the export tree of one order (its rows, addresses and shipments prefetched)."""
    addresses = {a.kind: a for a in order.addresses.all()}
    customer = order.customer
    status = order.status
    billing = _party(addresses.get("billing"), customer)
    customer_group: Group = {"Code": (customer.code if customer else "") or "", **billing,
                             "VatCode": customer.vat_number if customer else "",
                             "FiscalCode": customer.fiscal_code if customer else "",
                             "EInvoiceDestCode": customer.e_invoice_code if customer else "",
                             "Pec": customer.certified_email if customer else ""}
    shipments = list(order.shipments.all())
    last = shipments[-1] if shipments else None
    return {
        "General": {"DocumentType": {"order": "C"}.get(order.document_type, order.document_type),
                    "bindCommerceNumber": order.hub_order_key, "Number": order.channel_order_number,
                    "Date": _text(order.created_on_channel), "LastUpdate": _text(order.channel_updated_at),
                    "StateCode": status.code if status else "", "StateName": status.name if status else "",
                    "NormalizedState": order.normalized_status, "B2B": _text(order.is_b2b)},
        "Customer": customer_group,
        "Delivery": _party(addresses.get("delivery"), None),
        "Payments": {"PaymentName": order.payment_method.name if order.payment_method else "",
                     "PaymentCode": order.payment_method.code if order.payment_method else "",
                     "PaymentCOD": "YES" if order.cash_on_delivery else "NO",
                     "PaymentTotal": _text(order.payment_total), "PaymentStatus": order.payment_status,
                     "PaidTime": _text(order.paid_at)},
        "Rows": [{"bindID": _text(row.position), "Code": row.sku, "Barcode": row.barcode,
                  "Description": row.description, "Qty": _text(row.quantity),
                  "PriceVatExcluded": _text(row.unit_price_net), "Price": _text(row.unit_price_gross),
                  "Discounts": _text(row.discount_net), "VatRate": _text(row.vat_rate),
                  "TotalVatExcluded": _text(row.total_net), "Total": _text(row.total_gross),
                  "Currency": row.currency, "Commission": _text(row.commission),
                  "Warehouse_Key": row.warehouse_key} for row in order.rows.all()],
        "Amounts": {"TotalWithoutTax": _text(order.net_total), "VatAmount": _text(order.vat_total),
                    "Total": _text(order.total), "Currency": order.currency,
                    "ShippingCost": _text(order.shipping_net + order.shipping_vat),
                    "ShippingCostWithoutTax": _text(order.shipping_net), "ShippingTax": _text(order.shipping_vat),
                    "CouponDiscount": _text(order.coupon_total), "SellerNote": order.notes},
        "Shipping": {"Carrier": last.carrier if last else "", "TrackingNumber": last.tracking_number if last else "",
                     "TransportedWeight": _text(last.weight_kg) if last else "",
                     "ShippedTime": _text(last.shipped_at) if last else ""},
    }


def _order_chunks(tenant: LocalTenant, orders: QuerySet[Order]) -> Iterator[Order]:
    prefetches = [Prefetch("rows", queryset=OrderRow.objects.for_tenant(tenant).order_by("position")),
                  Prefetch("addresses", queryset=Address.objects.for_tenant(tenant)),
                  Prefetch("shipments", queryset=Shipment.objects.for_tenant(tenant).order_by("created_at", "pk"))]
    yield from orders.select_related("customer", "status", "payment_method").prefetch_related(
        *prefetches).iterator(chunk_size=CHUNK)


# --- writers -------------------------------------------------------------------------------------


class _XmlWriter:
    def __init__(self, out: IO[str], root: str, item: str) -> None:
        self.out, self.root, self.item = out, root, item
        out.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}>\n')

    def _leaf(self, tag: str, value: str) -> str:
        return f"<{tag}>{escape(_XML_INVALID.sub('', value))}</{tag}>"

    def write(self, document: dict[str, Any]) -> None:
        parts = [f"<{self.item}>"]
        for group, content in document.items():
            if isinstance(content, list):
                singular = group[:-1]
                parts.append(f"<{group}>")
                for entry in content:
                    parts.append(f"<{singular}>" + "".join(self._leaf(k, v) for k, v in entry.items())
                                 + f"</{singular}>")
                parts.append(f"</{group}>")
            elif isinstance(content, dict):
                parts.append(f"<{group}>" + "".join(self._leaf(k, v) for k, v in content.items()) + f"</{group}>")
            else:
                parts.append(self._leaf(group, content))
        parts.append(f"</{self.item}>\n")
        self.out.write("".join(parts))

    def close(self, count: int) -> None:
        self.out.write(f"</{self.root}>\n")


class _JsonWriter:
    def __init__(self, out: IO[str]) -> None:
        self.out, self.first = out, True
        out.write("[")

    def write(self, document: dict[str, Any]) -> None:
        self.out.write(("\n" if self.first else ",\n") + json.dumps(document, ensure_ascii=False))
        self.first = False

    def close(self, count: int) -> None:
        self.out.write("\n]\n")


class _CsvWriter:
    """One line per list entry (order rows), the other groups repeated; header from the first record."""

    def __init__(self, out: IO[str], delimiter: str) -> None:
        self.writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
        self.header: list[str] | None = None

    def write(self, document: dict[str, Any]) -> None:
        flat: dict[str, str] = {}
        lines: list[dict[str, str]] = []
        for group, content in document.items():
            if isinstance(content, list):
                lines = [{f"Row_{k}": v for k, v in entry.items()} for entry in content] or [{}]
            elif isinstance(content, dict):
                flat.update({f"{group}_{k}": v for k, v in content.items()})
            else:
                flat[group] = content
        lines = lines or [{}]
        if self.header is None:
            row_columns = list(lines[0]) if lines[0] else []
            self.header = list(flat) + row_columns
            self.writer.writerow(self.header)
        for line in lines:
            values = {**flat, **line}
            self.writer.writerow([values.get(column, "") for column in self.header])

    def close(self, count: int) -> None:
        if self.header is None:
            self.writer.writerow([])


def _writer(out: IO[str], fmt: ExportFormat, *, root: str, item: str, delimiter: str) -> Any:
    if fmt == ExportFormat.XML:
        return _XmlWriter(out, root, item)
    if fmt == ExportFormat.JSON:
        return _JsonWriter(out)
    return _CsvWriter(out, delimiter)


def export_orders(tenant: LocalTenant, dest: Path, fmt: ExportFormat | str, *, orders: QuerySet[Order] | None = None,
                  modified_since: dt.datetime | None = None, delimiter: str = ";",
                  progress: Progress | None = None) -> ExportResult:
    """Write the tenant's orders (``orders`` if given, else all or those modified since) to ``dest``."""
    fmt = ExportFormat(fmt)
    queryset = orders if orders is not None else orders_for_export(tenant, modified_since=modified_since)
    queryset = queryset.filter(tenant_id=tenant.pk)  # a queryset of another tenant can never leak through
    result = ExportResult(dest, fmt)
    with dest.open("w", encoding="utf-8", newline="") as out:
        writer = _writer(out, fmt, root="Documents", item="Document", delimiter=delimiter)
        for order in _order_chunks(tenant, queryset):
            writer.write(order_document(order))
            result.count += 1
            result.ids.append(order.pk)
            if progress and result.count % CHUNK == 0:
                progress(result.count, None)
        writer.close(result.count)
    if progress:
        progress(result.count, result.count)
    return result


def _product_chunks(tenant: LocalTenant, products: QuerySet[Product]) -> Iterator[list[Product]]:
    from bindery.integration.delta import id_chunks

    yield from id_chunks(products.select_related("parent"), size=CHUNK)


def product_record(product: Product, prices: dict[str, tuple[Decimal, Decimal]], stock: dict[str, Decimal],
                   categories: list[str], price_lists: Iterable[str], warehouses: Iterable[str]) -> dict[str, str]:
    record: dict[str, str] = {
        "Code": product.sku, "ParentCode": product.parent.sku if product.parent_id and product.parent else "",
        "Barcode": product.barcode, "Title": product.name, "Manufacturer": product.manufacturer,
        "MPN": product.mpn, "Supplier": product.supplier, "Qty": _text(product.quantity_available),
        "Weight": _text(product.weight), "Categories": ";".join(sorted(categories)),
        "Deleted": _text(product.deleted), "Modified": _text(product.modified_at),
    }
    for name in price_lists:
        net, gross = prices.get(name, (None, None))
        record[f"Price_{name}_net"] = _text(net)
        record[f"Price_{name}_gross"] = _text(gross)
    for key in warehouses:
        record[f"Stock_{key}"] = _text(stock.get(key))
    return record


def export_products(tenant: LocalTenant, dest: Path, fmt: ExportFormat | str, *,
                    products: QuerySet[Product] | None = None, price_lists: Sequence[str] = (),
                    warehouses: Sequence[str] = (),
                    delimiter: str = ";", progress: Progress | None = None) -> ExportResult:
    """Write products (default: the tenant's not-deleted ones) with the chosen price lists and warehouses."""
    fmt = ExportFormat(fmt)
    queryset = products if products is not None else Product.objects.for_tenant(tenant).filter(deleted=False)
    queryset = queryset.filter(tenant_id=tenant.pk)
    result = ExportResult(dest, fmt)
    with dest.open("w", encoding="utf-8", newline="") as out:
        writer = _writer(out, fmt, root="Products", item="Product", delimiter=delimiter)
        for chunk in _product_chunks(tenant, queryset):
            ids = [p.pk for p in chunk]
            prices: dict[Any, dict[str, tuple[Decimal, Decimal]]] = defaultdict(dict)
            for pid, name, net, gross in Price.objects.for_tenant(tenant).filter(
                    product_id__in=ids, min_quantity=1, price_list__name__in=list(price_lists)).values_list(
                    "product_id", "price_list__name", "net", "gross"):
                prices[pid][name] = (net, gross)
            stock: dict[Any, dict[str, Decimal]] = defaultdict(dict)
            for pid, key, quantity in StockLevel.objects.for_tenant(tenant).filter(
                    product_id__in=ids, warehouse__key__in=list(warehouses)).values_list(
                    "product_id", "warehouse__key", "quantity"):
                stock[pid][key] = quantity
            categories: dict[Any, list[str]] = defaultdict(list)
            for pid, path in ProductCategory.objects.for_tenant(tenant).filter(product_id__in=ids).values_list(
                    "product_id", "category__path_key"):
                categories[pid].append(path)
            for product in chunk:
                document = product_record(product, prices[product.pk], stock[product.pk], categories[product.pk],
                                          price_lists, warehouses)
                writer.write(document)
                result.count += 1
            if progress:
                progress(result.count, None)
        writer.close(result.count)
    return result


def publish(transport: FolderTransport, local: Path, name: str) -> str:
    """Upload ``local`` under ``name`` atomically (temporary name, then rename); return the name."""
    transport.put(local, check_name(name))
    return name
