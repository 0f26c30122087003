"""Import documents (WIRE.md section 5): orders/invoices XML in, JSON status out.

bindCommerce's own body is not public; Bindery accepts the export's own ``Documents/Document``
tree (section 2), so an export can be replayed into another hub. Parsing goes through
``xmlsafe``; each Document becomes an ``OrderPayload`` stored with ``do_upsert_order``; a bad
document is reported with its index and the others are still stored.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bindery.control.models import LocalTenant
from bindery.sales.actions import do_upsert_order
from bindery.sales.errors import SalesError
from bindery.sales.models import DocumentType
from bindery.sales.payloads import (
    AddressPayload,
    CodePayload,
    CustomerPayload,
    OrderPayload,
    OrderRowPayload,
    StatusPayload,
)
from bindery.technologies.bindery_api.xmlsafe import XmlInputError, XmlLimits, parse_xml

TYPES = {"C": DocumentType.ORDER, "F": DocumentType.INVOICE, "O": DocumentType.OTHER}


class DocumentError(ValueError):
    pass


def _text(element: ET.Element, path: str) -> str:
    return (element.findtext(path) or "").strip()


def _decimal(element: ET.Element, path: str) -> Decimal:
    text = _text(element, path)
    if not text:
        return Decimal(0)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise DocumentError(f"{path} is not a number: {text[:40]!r}") from None
    if not value.is_finite():
        raise DocumentError(f"{path} is not a finite number")
    return value


def _time(element: ET.Element, path: str, *, required: bool = False) -> datetime | None:
    text = _text(element, path)
    if not text:
        if required:
            raise DocumentError(f"{path} is required")
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise DocumentError(f"{path} must be YYYY-MM-DD HH:MM:SS") from None


def _address(document: ET.Element, group: str) -> AddressPayload | None:
    element = document.find(group)
    if element is None:
        return None
    return AddressPayload(
        company=_text(element, "Company"), name=_text(element, "Name"), surname=_text(element, "Surname"),
        address_line1=_text(element, "Address"), address_line2=_text(element, "Address2"),
        city=_text(element, "City"), postal_code=_text(element, "Postcode"), province=_text(element, "Province"),
        country=_text(element, "CountryCode"), phone=_text(element, "Phone"), email=_text(element, "Email"))


def payload_from_document(document: ET.Element) -> OrderPayload:
    number = _text(document, "General/Number")
    if not number:
        raise DocumentError("General/Number is required")
    customer_element = document.find("Customer")
    customer = None
    if customer_element is not None:
        customer = CustomerPayload(
            email=_text(customer_element, "Email"), code=_text(customer_element, "Code"),
            company=_text(customer_element, "Company"), name=_text(customer_element, "Name"),
            surname=_text(customer_element, "Surname"), phone=_text(customer_element, "Phone"),
            mobile=_text(customer_element, "MobPhone"), vat_number=_text(customer_element, "VatCode"),
            fiscal_code=_text(customer_element, "FiscalCode"),
            e_invoice_code=_text(customer_element, "EInvoiceDestCode"),
            certified_email=_text(customer_element, "Pec"), address_line1=_text(customer_element, "Address"),
            city=_text(customer_element, "City"), postal_code=_text(customer_element, "Postcode"),
            province=_text(customer_element, "Province"), country=_text(customer_element, "CountryCode"))
    rows = tuple(OrderRowPayload(
        quantity=_decimal(row, "Qty"), sku=_text(row, "Code"), barcode=_text(row, "Barcode"),
        description=_text(row, "Description"), unit_price_net=_decimal(row, "PriceVatExcluded"),
        unit_price_gross=_decimal(row, "Price"), discount_net=_decimal(row, "Discounts"),
        vat_rate=_decimal(row, "VatRate"), total_net=_decimal(row, "TotalVatExcluded"),
        total_vat=_decimal(row, "TotalDiscounted") - _decimal(row, "TotalVatExcluded"),
        total_gross=_decimal(row, "TotalDiscounted"), commission=_decimal(row, "Commission"),
        warehouse_key=_text(row, "Warehouse_Key"), currency=_text(row, "Currency"),
    ) for row in document.findall("Rows/Row"))
    status_code = _text(document, "General/StateCode")
    payment = _text(document, "Payments/PaymentCode") or _text(document, "Payments/PaymentName")
    shipping_net = _decimal(document, "Amounts/ShippingCostWithoutTax")
    return OrderPayload(
        origin_node_id=None, channel_order_number=number,
        created_on_channel=_time(document, "General/Date", required=True),  # type: ignore[arg-type]
        channel_updated_at=_time(document, "General/LastUpdate"),
        currency=_text(document, "Amounts/Currency"),
        document_type=TYPES.get(_text(document, "General/DocumentType"), DocumentType.ORDER),
        status=StatusPayload(code=status_code, name=_text(document, "General/StateName")) if status_code else None,
        is_b2b=_text(document, "General/B2B") == "1", customer=customer,
        billing_address=_address(document, "Customer"), delivery_address=_address(document, "Delivery"),
        payment_method=CodePayload(code=payment, name=_text(document, "Payments/PaymentName")) if payment else None,
        cash_on_delivery=_text(document, "Payments/PaymentCOD").upper() in {"YES", "1", "SI"},
        payment_total=_decimal(document, "Payments/PaymentTotal"), paid_at=_time(document, "Payments/PaidTime"),
        net_total=_decimal(document, "Amounts/TotalWithoutTax"), vat_total=_decimal(document, "Amounts/VatAmount"),
        total=_decimal(document, "Amounts/Total"), shipping_net=shipping_net,
        shipping_vat=_decimal(document, "Amounts/ShippingTax"),
        coupon_total=_decimal(document, "Amounts/CouponDiscount"), notes=_text(document, "Amounts/SellerNote"),
        rows=rows,
    )


def import_documents(tenant: LocalTenant, body: bytes, *, actor: Any,
                     limits: XmlLimits | None = None) -> tuple[int, dict[str, Any]]:
    """Store every Document of the body; return (HTTP status, JSON status object)."""
    try:
        root = parse_xml(body, root="Documents", limits=limits)
    except XmlInputError as error:
        return 400, {"status": "error", "message": str(error), "code": 400, "results": []}
    results: list[dict[str, Any]] = []
    for index, document in enumerate(root.findall("Document")):
        number = _text(document, "General/Number")
        try:
            stored = do_upsert_order(tenant, payload_from_document(document), actor=actor)
        except (DocumentError, SalesError) as error:
            results.append({"index": index, "number": number, "ok": False, "message": str(error)})
        else:
            results.append({"index": index, "number": number, "ok": True,
                            "bindCommerceNumber": stored.order.hub_order_key, "message": "stored"})
    failed = sum(not result["ok"] for result in results)
    code = 200 if failed == 0 else 207
    return code, {"status": "success" if failed == 0 else "error",
                  "message": f"{len(results) - failed} of {len(results)} documents stored", "code": code,
                  "results": results}
