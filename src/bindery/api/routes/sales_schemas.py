"""Request and response schemas of the sales API.

Inputs forbid unknown fields (a typo is a 422 naming the field, not a value silently dropped)
and cap text at the length of the model field it fills. Amounts are accepted as JSON strings or
numbers and always returned as strings, so no client has to trust binary floating point with
money. Values the sales actions validate against reference data (currencies, countries, e-mail
addresses, totals) are left to the actions, which answer with a coded error naming the field.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any

from ninja import Field, Schema
from pydantic import AwareDatetime, ConfigDict, PlainSerializer, SkipValidation, StrictBool, StringConstraints

from bindery.sales.models import DocumentType, NormalizedStatus, PaymentStatus, ShipmentStatus
from bindery.sales.payloads import (
    AddressPayload,
    CodePayload,
    CustomerPayload,
    OrderPayload,
    OrderRowPayload,
    StatusPayload,
)

MAX_ROWS_PER_ORDER = 1_000
MAX_BULK_ORDERS = 1_000
# TextField on the model; a cap keeps one order from filling the request budget with notes.
MAX_NOTES = 10_000


# Text capped at the length of the model field it fills.
Str3 = Annotated[str, StringConstraints(max_length=3)]
Str10 = Annotated[str, StringConstraints(max_length=10)]
Str20 = Annotated[str, StringConstraints(max_length=20)]
Str50 = Annotated[str, StringConstraints(max_length=50)]
Str100 = Annotated[str, StringConstraints(max_length=100)]
Str200 = Annotated[str, StringConstraints(max_length=200)]
Str254 = Annotated[str, StringConstraints(max_length=254)]
Str500 = Annotated[str, StringConstraints(max_length=500)]
NotesStr = Annotated[str, StringConstraints(max_length=MAX_NOTES)]


# Amounts: a JSON number or a numeric string; never negative, never NaN or infinite.
AmountIn = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
# Amounts out: the stored decimal as a string ("12.5000").
AmountOut = Annotated[Decimal, PlainSerializer(str, return_type=str)]


class InputSchema(Schema):
    model_config = ConfigDict(extra="forbid")


# --- errors -------------------------------------------------------------------------------



# --- inputs -------------------------------------------------------------------------------


class CodeIn(InputSchema):
    code: Str100 = Field(min_length=1)
    name: Str200 = ""


class StatusIn(CodeIn):
    normalized: NormalizedStatus | None = Field(
        None, description="Suggested normalized status for a code the hub has not seen; the stored map wins after."
    )


class AddressIn(InputSchema):
    company: Str200 = ""
    name: Str100 = ""
    surname: Str100 = ""
    address_line1: Str200 = ""
    address_line2: Str200 = ""
    city: Str100 = ""
    postal_code: Str20 = ""
    province: Str100 = ""
    # Capped loosely: the action reports "ITA" as an unknown country, which is the real fault.
    country: Str10 = Field("", description="ISO 3166-1 alpha-2")
    phone: Str50 = ""
    email: Str254 = ""


class CustomerIn(InputSchema):
    email: Str254 = Field("", description="The de-duplication key (case-insensitive)")
    code: Str100 = ""
    company: Str200 = ""
    name: Str100 = ""
    surname: Str100 = ""
    phone: Str50 = ""
    mobile: Str50 = ""
    vat_number: Str50 = ""
    fiscal_code: Str50 = ""
    e_invoice_code: Str20 = ""
    certified_email: Str254 = ""
    address_line1: Str200 = ""
    address_line2: Str200 = ""
    city: Str100 = ""
    postal_code: Str20 = ""
    province: Str100 = ""
    country: Str10 = Field("", description="ISO 3166-1 alpha-2")


class OrderRowIn(InputSchema):
    quantity: AmountIn
    sku: Str100 = ""
    barcode: Str50 = ""
    description: Str500 = ""
    unit_price_net: AmountIn = Decimal(0)
    unit_price_gross: AmountIn = Decimal(0)
    discount_net: AmountIn = Field(Decimal(0), description="Total discount on the row, net")
    vat_rate: AmountIn = Field(Decimal(0), description="Percent, 0-100")
    total_net: AmountIn = Decimal(0)
    total_vat: AmountIn = Decimal(0)
    total_gross: AmountIn = Field(Decimal(0), description="total_net + total_vat")
    commission: AmountIn = Decimal(0)
    warehouse_key: Str100 = ""
    currency: Str3 = Field("", description="Empty: the order's currency; otherwise it must equal it")


class OrderIn(InputSchema):
    """One sales document from a channel; (origin_node_id, channel_order_number) identifies it.

    Totals must agree within a cent per summed figure: each row's ``total_gross`` is
    ``total_net + total_vat``; ``net_total`` is the rows' net plus ``shipping_net``; ``vat_total``
    the rows' VAT plus ``shipping_vat``; ``total`` is ``net_total + vat_total``.
    """

    origin_node_id: uuid.UUID | None = Field(None, description="The channel node; null: entered in the hub")
    channel_order_number: Str100 = Field(min_length=1)
    created_on_channel: AwareDatetime
    currency: Str3 = Field(description="ISO 4217, e.g. EUR")
    document_type: DocumentType = DocumentType.ORDER
    channel_updated_at: AwareDatetime | None = None
    status: StatusIn | None = None
    is_b2b: StrictBool = False
    customer: CustomerIn | None = None
    billing_address: AddressIn | None = None
    delivery_address: AddressIn | None = None
    payment_method: CodeIn | None = None
    shipping_method: CodeIn | None = None
    cash_on_delivery: StrictBool = False
    payment_total: AmountIn = Decimal(0)
    payment_status: PaymentStatus = PaymentStatus.UNKNOWN
    paid_at: AwareDatetime | None = None
    net_total: AmountIn = Decimal(0)
    vat_total: AmountIn = Decimal(0)
    total: AmountIn = Decimal(0)
    shipping_net: AmountIn = Decimal(0)
    shipping_vat: AmountIn = Decimal(0)
    coupon_total: AmountIn = Decimal(0)
    commission_total: AmountIn = Decimal(0)
    notes: NotesStr = ""
    rows: list[OrderRowIn] = Field(default_factory=list, max_length=MAX_ROWS_PER_ORDER)

    def to_payload(self) -> OrderPayload:
        """Return the download payload :func:`~bindery.sales.actions.do_upsert_order` takes."""
        nested = {"status", "customer", "billing_address", "delivery_address", "payment_method",
                  "shipping_method", "rows"}
        values = {name: getattr(self, name) for name in type(self).model_fields if name not in nested}

        def code(value: CodeIn | None) -> CodePayload | None:
            return None if value is None else CodePayload(code=value.code, name=value.name)

        return OrderPayload(
            **values,
            status=None if self.status is None else StatusPayload(**dict(self.status)),
            customer=None if self.customer is None else CustomerPayload(**dict(self.customer)),
            billing_address=None if self.billing_address is None else AddressPayload(**dict(self.billing_address)),
            delivery_address=(None if self.delivery_address is None
                              else AddressPayload(**dict(self.delivery_address))),
            payment_method=code(self.payment_method),
            shipping_method=code(self.shipping_method),
            rows=tuple(OrderRowPayload(**dict(row)) for row in self.rows),
        )


class OrderBulkIn(InputSchema):
    # Items are validated one by one in the view (a bad item is rejected alone, with its own
    # result), so the body keeps them raw; the OpenAPI document still describes each as OrderIn.
    items: list[SkipValidation[OrderIn]] = Field(min_length=1, max_length=MAX_BULK_ORDERS)


class MarkIn(InputSchema):
    marked: StrictBool


class OrderStatusSetIn(InputSchema):
    code: Str100 = Field(min_length=1)
    name: Str200 = ""


class ShipmentIn(InputSchema):
    carrier: Str100 = ""
    service: Str100 = ""
    tracking_number: Str100 = Field("", description="The same carrier + tracking number again updates the shipment")
    weight_kg: AmountIn | None = Field(None, lt=Decimal(10) ** 8)
    shipped_at: AwareDatetime | None = None
    status: ShipmentStatus = ShipmentStatus.SHIPPED


class OrderStatusMapIn(InputSchema):
    normalized: NormalizedStatus


# --- outputs ------------------------------------------------------------------------------


class CodeOut(Schema):
    id: uuid.UUID
    code: str
    name: str


class OrderStatusOut(CodeOut):
    origin_node_id: uuid.UUID | None
    normalized: NormalizedStatus
    modified_at: dt.datetime


class OrderStatusMappedOut(OrderStatusOut):
    orders_moved: int


class OrderOut(Schema):
    id: uuid.UUID
    hub_order_key: str
    document_type: DocumentType
    origin_node_id: uuid.UUID | None
    channel_order_number: str
    created_on_channel: dt.datetime
    imported_at: dt.datetime
    channel_updated_at: dt.datetime | None
    modified_at: dt.datetime
    status: CodeOut | None
    normalized_status: NormalizedStatus
    is_b2b: bool
    customer_id: uuid.UUID | None
    payment_method: CodeOut | None
    shipping_method: CodeOut | None
    cash_on_delivery: bool
    payment_total: AmountOut
    payment_status: PaymentStatus
    paid_at: dt.datetime | None
    net_total: AmountOut
    vat_total: AmountOut
    total: AmountOut
    shipping_net: AmountOut
    shipping_vat: AmountOut
    coupon_total: AmountOut
    commission_total: AmountOut
    currency: str
    notes: str
    is_marked: bool


class OrderRowOut(Schema):
    id: uuid.UUID
    position: int
    sku: str
    barcode: str
    description: str
    quantity: AmountOut
    unit_price_net: AmountOut
    unit_price_gross: AmountOut
    discount_net: AmountOut
    vat_rate: AmountOut
    total_net: AmountOut
    total_vat: AmountOut
    total_gross: AmountOut
    currency: str
    commission: AmountOut
    warehouse_key: str


class AddressOut(Schema):
    company: str
    name: str
    surname: str
    address_line1: str
    address_line2: str
    city: str
    postal_code: str
    province: str
    country: str
    phone: str
    email: str


class ShipmentOut(Schema):
    id: uuid.UUID
    order_id: uuid.UUID
    carrier: str
    service: str
    tracking_number: str
    weight_kg: AmountOut | None
    shipped_at: dt.datetime | None
    status: ShipmentStatus
    created_at: dt.datetime
    modified_at: dt.datetime


class OrderDetailOut(OrderOut):
    """An order with its rows, address snapshots and shipments."""

    rows: list[OrderRowOut]
    billing_address: AddressOut | None
    delivery_address: AddressOut | None
    shipments: list[ShipmentOut]

    # The view attaches these, read through the tenant-scoped manager (not related managers).
    @staticmethod
    def resolve_rows(obj: Any) -> Any:
        return obj.detail_rows

    @staticmethod
    def resolve_billing_address(obj: Any) -> Any:
        return obj.detail_addresses.get("billing")

    @staticmethod
    def resolve_delivery_address(obj: Any) -> Any:
        return obj.detail_addresses.get("delivery")

    @staticmethod
    def resolve_shipments(obj: Any) -> Any:
        return obj.detail_shipments


class OrderPageOut(Schema):
    items: list[OrderOut]
    next_cursor: str | None


class BulkResultOut(Schema):
    index: int
    outcome: str = Field(description="created, updated, unchanged or rejected")
    order_id: uuid.UUID | None = None
    code: str | None = None
    message: str | None = None
    field: str | None = None


class OrderBulkOut(Schema):
    results: list[BulkResultOut]


class CustomerOut(Schema):
    id: uuid.UUID
    origin_node_id: uuid.UUID | None
    code: str
    company: str
    name: str
    surname: str
    email: str
    phone: str
    mobile: str
    vat_number: str
    fiscal_code: str
    e_invoice_code: str
    certified_email: str
    address_line1: str
    address_line2: str
    city: str
    postal_code: str
    province: str
    country: str
    created_at: dt.datetime
    modified_at: dt.datetime


class CustomerPageOut(Schema):
    items: list[CustomerOut]
    next_cursor: str | None


class ShipmentPageOut(Schema):
    items: list[ShipmentOut]
    next_cursor: str | None


class OrderStatusPageOut(Schema):
    items: list[OrderStatusOut]
    next_cursor: str | None
