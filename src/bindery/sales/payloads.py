"""What an order download hands to :func:`~bindery.sales.actions.do_upsert_order`.

Connectors translate a channel's order into these frozen dataclasses; the action validates
them (coded errors naming the field) before it writes anything. Field names match the model
fields they fill. Amounts are ``Decimal`` (floats are refused: they cannot hold cents exactly);
times must be timezone-aware and are stored in UTC.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bindery.sales.models import DocumentType, NormalizedStatus, PaymentStatus

ZERO = Decimal(0)


@dataclass(frozen=True, kw_only=True)
class CodePayload:
    """A payment method, shipping method or order status as the channel names it."""

    code: str
    name: str = ""


@dataclass(frozen=True, kw_only=True)
class StatusPayload(CodePayload):
    # The connector's suggestion for a code the hub has not seen yet; the stored map wins after.
    normalized: NormalizedStatus | None = None


@dataclass(frozen=True, kw_only=True)
class AddressPayload:
    company: str = ""
    name: str = ""
    surname: str = ""
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    postal_code: str = ""
    province: str = ""
    country: str = ""
    phone: str = ""
    email: str = ""


@dataclass(frozen=True, kw_only=True)
class CustomerPayload:
    email: str = ""
    code: str = ""
    company: str = ""
    name: str = ""
    surname: str = ""
    phone: str = ""
    mobile: str = ""
    vat_number: str = ""
    fiscal_code: str = ""
    e_invoice_code: str = ""
    certified_email: str = ""
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    postal_code: str = ""
    province: str = ""
    country: str = ""


@dataclass(frozen=True, kw_only=True)
class OrderRowPayload:
    quantity: Decimal
    sku: str = ""
    barcode: str = ""
    description: str = ""
    unit_price_net: Decimal = ZERO
    unit_price_gross: Decimal = ZERO
    discount_net: Decimal = ZERO
    vat_rate: Decimal = ZERO
    total_net: Decimal = ZERO
    total_vat: Decimal = ZERO
    total_gross: Decimal = ZERO
    commission: Decimal = ZERO
    warehouse_key: str = ""
    # Empty means the order's currency; any other value must equal it.
    currency: str = ""


@dataclass(frozen=True, kw_only=True)
class OrderPayload:
    """One sales document from a channel.

    Amount rules (checked within a rounding tolerance): each row's ``total_gross`` is
    ``total_net + total_vat``; ``net_total`` is the rows' net plus ``shipping_net``;
    ``vat_total`` the rows' VAT plus ``shipping_vat``; ``total`` is ``net_total + vat_total``.
    ``coupon_total`` is informational: row totals are already after discounts.
    """

    origin_node_id: uuid.UUID | None
    channel_order_number: str
    created_on_channel: datetime
    currency: str
    document_type: DocumentType = DocumentType.ORDER
    channel_updated_at: datetime | None = None
    status: StatusPayload | None = None
    is_b2b: bool = False
    customer: CustomerPayload | None = None
    billing_address: AddressPayload | None = None
    delivery_address: AddressPayload | None = None
    payment_method: CodePayload | None = None
    shipping_method: CodePayload | None = None
    cash_on_delivery: bool = False
    payment_total: Decimal = ZERO
    payment_status: PaymentStatus = PaymentStatus.UNKNOWN
    paid_at: datetime | None = None
    net_total: Decimal = ZERO
    vat_total: Decimal = ZERO
    total: Decimal = ZERO
    shipping_net: Decimal = ZERO
    shipping_vat: Decimal = ZERO
    coupon_total: Decimal = ZERO
    commission_total: Decimal = ZERO
    notes: str = ""
    rows: tuple[OrderRowPayload, ...] = ()
