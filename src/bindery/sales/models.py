"""Sales documents in the hub: customers, orders and their rows, shipments, and the
per-channel payment methods, shipping methods and order statuses that orders refer to.

Everything is tenant-owned (:class:`~bindery.control.tenancy.TenantOwnedModel`). Orders come
from channels (the *origin node*) and are identified there by a channel order number; the hub
gives each one its own short ``hub_order_key`` that every connected system can quote.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pycountry
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from bindery.control.tenancy import TenantOwnedModel
from bindery.privacy.fields import BlindIndexField, EncryptedCharField, EncryptedEmailField, EncryptedTextField

MONEY_DIGITS = 18
MONEY_PLACES = 4


def validate_currency(value: str) -> None:
    """Accept only upper-case ISO 4217 alphabetic codes known to pycountry."""
    if not (len(value) == 3 and value.isascii() and value.isupper() and pycountry.currencies.get(alpha_3=value)):
        raise ValidationError(f"{value!r} is not an ISO 4217 currency code", code="currency")


def validate_country(value: str) -> None:
    """Accept only upper-case ISO 3166-1 alpha-2 codes known to pycountry."""
    if not (len(value) == 2 and value.isascii() and value.isupper() and pycountry.countries.get(alpha_2=value)):
        raise ValidationError(f"{value!r} is not an ISO 3166-1 alpha-2 country code", code="country")


def money_field(**kwargs: Any) -> models.DecimalField:
    """Return a money column: 18 digits, 4 decimals (enough for unit prices of cheap items)."""
    kwargs.setdefault("default", Decimal(0))
    return models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, **kwargs)


def currency_field() -> models.CharField:
    return models.CharField(max_length=3, validators=[validate_currency])


class DocumentType(models.TextChoices):
    ORDER = "order", "Order"
    INVOICE = "invoice", "Invoice"
    OTHER = "other", "Other"


class NormalizedStatus(models.TextChoices):
    """The hub's own order states; every channel status code maps onto one of them."""

    UNKNOWN = "unknown", "Unknown"
    PENDING = "pending", "Pending"
    ON_HOLD = "on_hold", "On hold"
    PROCESSING = "processing", "Processing"
    SHIPPED = "shipped", "Shipped"
    DELIVERED = "delivered", "Delivered"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refunded"
    FAILED = "failed", "Failed"


class PaymentStatus(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    PENDING = "pending", "Pending"
    PARTIALLY_PAID = "partially_paid", "Partially paid"
    PAID = "paid", "Paid"
    REFUNDED = "refunded", "Refunded"
    FAILED = "failed", "Failed"


class ShipmentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SHIPPED = "shipped", "Shipped"
    IN_TRANSIT = "in_transit", "In transit"
    DELIVERED = "delivered", "Delivered"
    RETURNED = "returned", "Returned"
    FAILED = "failed", "Failed"


class AddressKind(models.TextChoices):
    BILLING = "billing", "Billing"
    DELIVERY = "delivery", "Delivery"


class ChannelCodedModel(TenantOwnedModel):
    """A value a channel sends as a code (payment method, shipping method, order status).

    Rows are created the first time a downloaded order uses a code, so one row exists per
    (origin node, code); codes entered in the hub itself have no origin node.
    """

    origin_node_id = models.UUIDField(null=True, blank=True)
    code = models.CharField(max_length=100)
    name = models.CharField(max_length=200, blank=True)

    class Meta:
        abstract = True
        # NULL origin nodes are distinct in a plain unique constraint, hence two partial ones.
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "origin_node_id", "code"], condition=Q(origin_node_id__isnull=False),
                name="%(app_label)s_%(class)s_node_code",
            ),
            models.UniqueConstraint(
                fields=["tenant", "code"], condition=Q(origin_node_id__isnull=True),
                name="%(app_label)s_%(class)s_hub_code",
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.code


class PaymentMethod(ChannelCodedModel):
    cash_on_delivery = models.BooleanField(default=False)

    class Meta(ChannelCodedModel.Meta):
        pass


class ShippingMethod(ChannelCodedModel):
    class Meta(ChannelCodedModel.Meta):
        pass


class OrderStatus(ChannelCodedModel):
    """A channel's order status; ``normalized`` is the normalization map entry for its code."""

    normalized = models.CharField(max_length=20, choices=NormalizedStatus.choices,
                                  default=NormalizedStatus.UNKNOWN)

    class Meta(ChannelCodedModel.Meta):
        verbose_name_plural = "order statuses"


class PostalFields(models.Model):
    # Personal fields are encrypted at rest (bindery.privacy.fields); the country stays clear
    # because VAT treatment and reports group by it, and alone it identifies nobody.
    address_line1 = EncryptedCharField(max_length=200, blank=True)
    address_line2 = EncryptedCharField(max_length=200, blank=True)
    city = EncryptedCharField(max_length=100, blank=True)
    postal_code = EncryptedCharField(max_length=20, blank=True)
    province = EncryptedCharField(max_length=100, blank=True)
    country = models.CharField(max_length=2, blank=True, validators=[validate_country])

    class Meta:
        abstract = True


class Customer(TenantOwnedModel, PostalFields):
    """A buyer; the e-mail address (case-insensitive, via its blind index) is the de-duplication key per tenant."""

    origin_node_id = models.UUIDField(null=True, blank=True)
    code = EncryptedCharField(max_length=100, blank=True)
    company = EncryptedCharField(max_length=200, blank=True)
    name = EncryptedCharField(max_length=100, blank=True)
    surname = EncryptedCharField(max_length=100, blank=True)
    email = EncryptedEmailField(max_length=254, blank=True)
    # Keyed blind index of the normalized e-mail: de-duplication and lookups by e-mail.
    email_index = BlindIndexField(source="email")
    phone = EncryptedCharField(max_length=50, blank=True)
    mobile = EncryptedCharField(max_length=50, blank=True)
    vat_number = EncryptedCharField(max_length=50, blank=True)
    fiscal_code = EncryptedCharField(max_length=50, blank=True)
    e_invoice_code = EncryptedCharField(max_length=20, blank=True)
    certified_email = EncryptedEmailField(max_length=254, blank=True)
    certified_email_index = BlindIndexField(source="certified_email")
    # Price lists live in the catalog app, which sales does not depend on.
    default_price_list_id = models.UUIDField(null=True, blank=True)
    default_payment_method = models.ForeignKey(PaymentMethod, null=True, blank=True,
                                               on_delete=models.SET_NULL, related_name="+")
    default_shipping_method = models.ForeignKey(ShippingMethod, null=True, blank=True,
                                                on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            # Customers without an e-mail (some marketplaces hide it) are never merged. The
            # blind index is of the lower-cased e-mail, so this is case-insensitive.
            models.UniqueConstraint(fields=["tenant", "email_index"], condition=~Q(email_index=""),
                                    name="sales_customer_tenant_email"),
        ]

    def __str__(self) -> str:
        return self.email or " ".join(p for p in (self.company, self.name, self.surname) if p) or str(self.pk)


class Order(TenantOwnedModel):
    """A sales document (order, invoice or other) as downloaded from a channel."""

    document_type = models.CharField(max_length=10, choices=DocumentType.choices, default=DocumentType.ORDER)
    hub_order_key = models.CharField(max_length=32, editable=False)
    origin_node_id = models.UUIDField(null=True, blank=True)
    channel_order_number = models.CharField(max_length=100)
    created_on_channel = models.DateTimeField()
    imported_at = models.DateTimeField()
    channel_updated_at = models.DateTimeField(null=True, blank=True)
    status = models.ForeignKey(OrderStatus, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    normalized_status = models.CharField(max_length=20, choices=NormalizedStatus.choices,
                                         default=NormalizedStatus.UNKNOWN)
    is_b2b = models.BooleanField(default=False)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="orders")
    payment_method = models.ForeignKey(PaymentMethod, null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="+")
    shipping_method = models.ForeignKey(ShippingMethod, null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="+")
    # Payment lives on the order: channels send one payment per order, and exports expect it there.
    cash_on_delivery = models.BooleanField(default=False)
    payment_total = money_field()
    payment_status = models.CharField(max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.UNKNOWN)
    paid_at = models.DateTimeField(null=True, blank=True)
    net_total = money_field()
    vat_total = money_field()
    total = money_field()
    shipping_net = money_field()
    shipping_vat = money_field()
    coupon_total = money_field()
    commission_total = money_field()
    currency = currency_field()
    notes = EncryptedTextField(blank=True)
    is_marked = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "hub_order_key"], name="sales_order_hub_key"),
            models.UniqueConstraint(
                fields=["tenant", "origin_node_id", "channel_order_number"], condition=Q(origin_node_id__isnull=False),
                name="sales_order_node_number",
            ),
            models.UniqueConstraint(
                fields=["tenant", "channel_order_number"], condition=Q(origin_node_id__isnull=True),
                name="sales_order_hub_number",
            ),
        ]
        indexes = [
            # Delta mode selects by modification time; plan limits count by channel date.
            models.Index(fields=["tenant", "modified_at"], name="sales_order_modified"),
            models.Index(fields=["tenant", "created_on_channel"], name="sales_order_created_on_ch"),
        ]

    def __str__(self) -> str:
        return self.hub_order_key


class Address(TenantOwnedModel, PostalFields):
    """A billing or delivery address as it stood on the order (a snapshot, not the customer's)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="addresses")
    kind = models.CharField(max_length=10, choices=AddressKind.choices)
    company = EncryptedCharField(max_length=200, blank=True)
    name = EncryptedCharField(max_length=100, blank=True)
    surname = EncryptedCharField(max_length=100, blank=True)
    phone = EncryptedCharField(max_length=50, blank=True)
    email = EncryptedEmailField(max_length=254, blank=True)
    email_index = BlindIndexField(source="email")  # order search by e-mail

    class Meta:
        constraints = [models.UniqueConstraint(fields=["order", "kind"], name="sales_address_order_kind")]

    def __str__(self) -> str:
        return f"{self.kind} address of {self.order_id}"


class OrderRow(TenantOwnedModel):
    """One line of an order; SKU, barcode and description are text, as channels send them."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="rows")
    position = models.PositiveIntegerField()
    sku = models.CharField(max_length=100, blank=True)
    barcode = models.CharField(max_length=50, blank=True)
    description = models.CharField(max_length=500, blank=True)
    quantity = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    unit_price_net = money_field()
    unit_price_gross = money_field()
    discount_net = money_field(help_text="total discount on the row, net")
    vat_rate = models.DecimalField(max_digits=7, decimal_places=4, default=Decimal(0), help_text="percent")
    total_net = money_field()
    total_vat = money_field()
    total_gross = money_field()
    currency = currency_field()
    commission = money_field()
    warehouse_key = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["order", "position"]
        constraints = [
            models.UniqueConstraint(fields=["order", "position"], name="sales_orderrow_order_position"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="sales_orderrow_quantity_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} x {self.quantity}"


class Shipment(TenantOwnedModel):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="shipments")
    carrier = models.CharField(max_length=100, blank=True)
    service = models.CharField(max_length=100, blank=True)
    tracking_number = EncryptedCharField(max_length=100, blank=True)
    weight_kg = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=ShipmentStatus.choices, default=ShipmentStatus.SHIPPED)

    class Meta:
        constraints = [
            # Logistics systems resend the same tracking number; that updates, never duplicates.
            # The number is encrypted (a fresh nonce per write), so this no longer binds:
            # do_add_shipment locks the order and compares decrypted numbers instead.
            models.UniqueConstraint(fields=["order", "carrier", "tracking_number"], condition=~Q(tracking_number=""),
                                    name="sales_shipment_tracking"),
        ]

    def __str__(self) -> str:
        return self.tracking_number or str(self.pk)
