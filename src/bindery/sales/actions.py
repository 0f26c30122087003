"""Writes to sales: order downloads, shipments, marks and status changes.

Every action runs in one transaction on the host database and is idempotent: a row is saved
only when a value differs, so applying the same input twice changes nothing the second time
and ``modified_at`` — which delta mode selects on — moves only on real changes.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from bindery.control.actors import actor_label
from bindery.control.models import LocalTenant
from bindery.control.routers import HOST
from bindery.sales.access import access_order_by_id, find_customer_by_email
from bindery.sales.errors import SalesError, SalesErrorCode
from bindery.sales.models import (
    MONEY_DIGITS,
    MONEY_PLACES,
    Address,
    AddressKind,
    ChannelCodedModel,
    Customer,
    NormalizedStatus,
    Order,
    OrderRow,
    OrderStatus,
    PaymentMethod,
    Shipment,
    ShipmentStatus,
    ShippingMethod,
    validate_country,
    validate_currency,
)
from bindery.sales.payloads import (
    AddressPayload,
    CodePayload,
    CustomerPayload,
    OrderPayload,
    OrderRowPayload,
    StatusPayload,
)

logger = logging.getLogger(__name__)

# A channel rounds each row and each total; allow a cent per rounded figure that was summed.
ROUNDING_TOLERANCE = Decimal("0.01")
PLAN_WINDOW = timedelta(days=30)
# Crockford's base32: no I, L, O or U, so keys survive being read aloud or retyped.
_KEY_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_UPSERT_ATTEMPTS = 3
_QUANT = Decimal(1).scaleb(-MONEY_PLACES)
# SQLite keeps 15 significant digits of a decimal column: with 4 places, amounts stay below
# 10^11 so that what is read back equals what was written (idempotent re-downloads need that).
_MAX_MONEY = min(Decimal(10) ** (MONEY_DIGITS - MONEY_PLACES), Decimal(10) ** (15 - MONEY_PLACES))

# Codes most channels use for the same states; anything else starts as UNKNOWN until mapped.
_STATUS_GUESSES: dict[str, NormalizedStatus] = {
    "pending": NormalizedStatus.PENDING,
    "pending-payment": NormalizedStatus.PENDING,
    "on-hold": NormalizedStatus.ON_HOLD,
    "processing": NormalizedStatus.PROCESSING,
    "shipped": NormalizedStatus.SHIPPED,
    "delivered": NormalizedStatus.DELIVERED,
    "completed": NormalizedStatus.COMPLETED,
    "complete": NormalizedStatus.COMPLETED,
    "cancelled": NormalizedStatus.CANCELLED,
    "canceled": NormalizedStatus.CANCELLED,
    "refunded": NormalizedStatus.REFUNDED,
    "failed": NormalizedStatus.FAILED,
}


@dataclass(frozen=True)
class UpsertResult:
    """The stored order, and whether this download created or changed it (for run counters)."""

    order: Order
    created: bool
    changed: bool


def new_hub_order_key(now: datetime) -> str:
    """Return a short, readable key such as ``250314-7K3M9QXA`` (import date + 40 random bits)."""
    suffix = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(8))
    return f"{now:%y%m%d}-{suffix}"


# --- validation ---------------------------------------------------------------------------


def _fail(code: SalesErrorCode, field: str, message: str) -> SalesError:
    return SalesError(code, message, field=field)


def _clean_text(value: Any, field: str, max_length: int | None) -> str:
    if not isinstance(value, str):
        raise _fail(SalesErrorCode.INVALID_VALUE, field, "must be text")
    if "\x00" in value:
        raise _fail(SalesErrorCode.INVALID_VALUE, field, "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _fail(SalesErrorCode.INVALID_VALUE, field, "is not valid Unicode text") from None
    if max_length is not None and len(value) > max_length:
        raise _fail(SalesErrorCode.TOO_LONG, field, f"is {len(value)} characters long; at most {max_length} fit")
    return value


def _clean_decimal(value: Any, field: str, *, maximum: Decimal = _MAX_MONEY) -> Decimal:
    # bool is an int; float cannot hold cents exactly: both are refused rather than guessed.
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise _fail(SalesErrorCode.INVALID_VALUE, field, "must be a Decimal")
    number = Decimal(value)
    if not number.is_finite():
        raise _fail(SalesErrorCode.INVALID_VALUE, field, "must be a finite number")
    if number < 0:
        raise _fail(SalesErrorCode.NEGATIVE_VALUE, field, f"must not be negative (got {number})")
    if number >= maximum:
        raise _fail(SalesErrorCode.OUT_OF_RANGE, field, f"must be below {maximum}")
    try:
        return number.quantize(_QUANT, rounding=ROUND_HALF_UP)
    except InvalidOperation:  # pragma: no cover - excluded by the range check above
        raise _fail(SalesErrorCode.OUT_OF_RANGE, field, "is out of range") from None


def _clean_datetime(value: Any, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise _fail(SalesErrorCode.INVALID_VALUE, field, "must be a datetime")
    if timezone.is_naive(value):
        raise _fail(SalesErrorCode.NAIVE_DATETIME, field, "must carry a time zone")
    return value.astimezone(UTC)


def _clean_fields(payload: Any, model: type[models.Model], prefix: str,
                  exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Validate a payload's scalar fields against the model fields of the same name."""
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(payload):
        if spec.name in exclude:
            continue
        value = getattr(payload, spec.name)
        field_name = f"{prefix}{spec.name}"
        model_field = model._meta.get_field(spec.name)
        if isinstance(model_field, models.DecimalField):
            maximum = min(_MAX_MONEY, Decimal(10) ** (model_field.max_digits - model_field.decimal_places))
            value = _clean_decimal(value, field_name, maximum=maximum)
        elif isinstance(model_field, models.DateTimeField):
            value = None if value is None else _clean_datetime(value, field_name)
        elif isinstance(model_field, models.BooleanField):
            if not isinstance(value, bool):
                raise _fail(SalesErrorCode.INVALID_VALUE, field_name, "must be true or false")
        elif isinstance(model_field, models.CharField | models.TextField):
            # A three-letter country is better reported as an unknown country than as too long.
            value = _clean_text(value, field_name, None if spec.name == "country" else model_field.max_length)
            if model_field.choices and value not in {choice for choice, _ in model_field.choices}:
                raise _fail(SalesErrorCode.INVALID_VALUE, field_name, f"{value!r} is not a known choice")
            if isinstance(model_field, models.EmailField) and value:
                try:
                    validate_email(value)
                except ValidationError:
                    raise _fail(SalesErrorCode.INVALID_EMAIL, field_name,
                                f"{value!r} is not an e-mail address") from None
            if spec.name == "country" and value:
                try:
                    validate_country(value)
                except ValidationError as exc:
                    raise _fail(SalesErrorCode.UNKNOWN_COUNTRY, field_name, exc.messages[0]) from None
        values[spec.name] = value
    return values


def _clean_currency(value: Any, field: str) -> str:
    value = _clean_text(value, field, 3)
    try:
        validate_currency(value)
    except ValidationError as exc:
        raise _fail(SalesErrorCode.UNKNOWN_CURRENCY, field, exc.messages[0]) from None
    return value


def _clean_code(payload: CodePayload, model: type[ChannelCodedModel], prefix: str) -> dict[str, Any]:
    values = _clean_fields(payload, model, prefix, exclude=frozenset({"normalized"}))
    if not values["code"].strip():
        raise _fail(SalesErrorCode.REQUIRED, f"{prefix}code", "must not be empty")
    if isinstance(payload, StatusPayload) and payload.normalized is not None:
        if payload.normalized not in NormalizedStatus.values:
            raise _fail(SalesErrorCode.INVALID_VALUE, f"{prefix}normalized", "is not a normalized status")
        values["normalized"] = NormalizedStatus(payload.normalized)
    return values


def _near(actual: Decimal, expected: Decimal, tolerance: Decimal) -> bool:
    return abs(actual - expected) <= tolerance


@dataclass(frozen=True)
class CleanOrder:
    """A validated order payload, split into the values of each model it fills."""

    origin_node_id: uuid.UUID | None
    order: dict[str, Any]
    status: dict[str, Any] | None
    payment_method: dict[str, Any] | None
    shipping_method: dict[str, Any] | None
    customer: dict[str, Any] | None
    addresses: dict[str, dict[str, Any] | None]
    rows: list[dict[str, Any]]


def clean_order_payload(payload: OrderPayload) -> CleanOrder:
    """Validate an order download; raise a coded :class:`SalesError` naming the first bad field."""
    if payload.origin_node_id is not None and not isinstance(payload.origin_node_id, uuid.UUID):
        raise _fail(SalesErrorCode.INVALID_VALUE, "origin_node_id", "must be a UUID")
    nested = frozenset({"origin_node_id", "status", "customer", "billing_address", "delivery_address",
                        "payment_method", "shipping_method", "rows", "currency"})
    currency = _clean_currency(payload.currency, "currency")
    order = _clean_fields(payload, Order, "", exclude=nested)
    order["currency"] = currency
    if not order["channel_order_number"].strip():
        raise _fail(SalesErrorCode.REQUIRED, "channel_order_number", "must not be empty")
    if order["created_on_channel"] is None:
        raise _fail(SalesErrorCode.REQUIRED, "created_on_channel", "must be set")

    rows = []
    for position, row_payload in enumerate(payload.rows):
        prefix = f"rows[{position}]."
        if not isinstance(row_payload, OrderRowPayload):
            raise _fail(SalesErrorCode.INVALID_VALUE, prefix.rstrip("."), "must be an order row")
        row = _clean_fields(row_payload, OrderRow, prefix, exclude=frozenset({"currency"}))
        if row_payload.currency and _clean_currency(row_payload.currency, f"{prefix}currency") != currency:
            raise _fail(SalesErrorCode.CURRENCY_MISMATCH, f"{prefix}currency",
                        f"{row_payload.currency} differs from the order's currency {currency}")
        if row["vat_rate"] > 100:
            raise _fail(SalesErrorCode.OUT_OF_RANGE, f"{prefix}vat_rate", "must be a percentage from 0 to 100")
        if not _near(row["total_gross"], row["total_net"] + row["total_vat"], ROUNDING_TOLERANCE):
            raise _fail(SalesErrorCode.TOTALS_MISMATCH, f"{prefix}total_gross",
                        f"{row['total_gross']} is not total_net + total_vat ({row['total_net'] + row['total_vat']})")
        rows.append({**row, "position": position, "currency": currency})
    _check_totals(order, rows)

    addresses: dict[str, dict[str, Any] | None] = {}
    for kind, address in ((AddressKind.BILLING, payload.billing_address),
                          (AddressKind.DELIVERY, payload.delivery_address)):
        if address is not None and not isinstance(address, AddressPayload):
            raise _fail(SalesErrorCode.INVALID_VALUE, f"{kind}_address", "must be an address")
        addresses[kind] = None if address is None else _clean_fields(address, Address, f"{kind}_address.")

    customer = None
    if payload.customer is not None:
        if not isinstance(payload.customer, CustomerPayload):
            raise _fail(SalesErrorCode.INVALID_VALUE, "customer", "must be a customer")
        customer = _clean_fields(payload.customer, Customer, "customer.")
    return CleanOrder(
        origin_node_id=payload.origin_node_id,
        order=order,
        status=None if payload.status is None else _clean_code(payload.status, OrderStatus, "status."),
        payment_method=(None if payload.payment_method is None
                        else _clean_code(payload.payment_method, PaymentMethod, "payment_method.")),
        shipping_method=(None if payload.shipping_method is None
                         else _clean_code(payload.shipping_method, ShippingMethod, "shipping_method.")),
        customer=customer,
        addresses=addresses,
        rows=rows,
    )


def _check_totals(order: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    tolerance = ROUNDING_TOLERANCE * (len(rows) + 1)
    rows_net = sum((row["total_net"] for row in rows), Decimal(0))
    rows_vat = sum((row["total_vat"] for row in rows), Decimal(0))
    expected = {
        "net_total": rows_net + order["shipping_net"],
        "vat_total": rows_vat + order["shipping_vat"],
        "total": order["net_total"] + order["vat_total"],
    }
    for field, value in expected.items():
        if not _near(order[field], value, tolerance):
            raise _fail(SalesErrorCode.TOTALS_MISMATCH, field,
                        f"{order[field]} does not match the rows and shipping ({value})")


# --- plan limit ---------------------------------------------------------------------------


def check_order_plan_limit(tenant: LocalTenant, *, now: datetime | None = None) -> None:
    """Raise ``PLAN_LIMIT_EXCEEDED`` if the tenant cannot take another document dated in the window.

    Connectors call it when they start; :func:`do_upsert_order` calls it before each new order.
    The tenant row is locked first, so concurrent downloads on PostgreSQL count one after another
    instead of both squeezing under the limit (the lock lasts until the caller's transaction ends).
    """
    now = now or timezone.now()
    with transaction.atomic(using=HOST):
        limit = (LocalTenant.objects.select_for_update().filter(pk=tenant.pk)
                 .values_list("max_orders_30d", flat=True).get())
        if limit is None:
            return
        used = Order.objects.for_tenant(tenant).filter(created_on_channel__gte=now - PLAN_WINDOW).count()
    if used >= limit:
        raise SalesError(
            SalesErrorCode.PLAN_LIMIT_EXCEEDED,
            f"the plan allows {limit} sales documents dated in the last 30 days and {used} are stored; "
            "upgrade the plan to download more",
        )


# --- writes -------------------------------------------------------------------------------


def _assign(instance: models.Model, values: dict[str, Any]) -> list[str]:
    """Set the attributes that differ; return their names (empty when nothing changed)."""
    changed = []
    for name, value in values.items():
        if getattr(instance, name) != value:
            setattr(instance, name, value)
            changed.append(name)
    return changed


def _save_changes(instance: models.Model, changed: list[str]) -> bool:
    if not changed:
        return False
    instance.save(update_fields=[*changed, "modified_at"])
    return True


def _coded_row(model: type[ChannelCodedModel], tenant: LocalTenant, origin_node_id: uuid.UUID | None,
               values: dict[str, Any], create_defaults: dict[str, Any]) -> ChannelCodedModel:
    """Return the method or status for this (origin node, code), creating it on first sight."""
    row = model.objects.for_tenant(tenant).filter(origin_node_id=origin_node_id, code=values["code"]).first()
    if row is None:
        row = model(tenant=tenant, origin_node_id=origin_node_id, **values, **create_defaults)
        row.save()
    elif values.get("name"):
        # A channel may rename a code; a name edited in the hub is replaced only by a non-empty one.
        _save_changes(row, _assign(row, {"name": values["name"]}))
    return row


def _order_status(tenant: LocalTenant, origin_node_id: uuid.UUID | None, values: dict[str, Any]) -> OrderStatus:
    hint = values.pop("normalized", None)
    guess = hint or _STATUS_GUESSES.get(values["code"].strip().lower().removeprefix("wc-"), NormalizedStatus.UNKNOWN)
    return cast(OrderStatus, _coded_row(OrderStatus, tenant, origin_node_id, values, {"normalized": guess}))


def _upsert_customer(tenant: LocalTenant, values: dict[str, Any], current: Customer | None) -> Customer:
    customer = find_customer_by_email(tenant, values["email"], for_write=True)
    if customer is None and not values["email"] and current is not None and not current.email:
        customer = current  # no e-mail to match on: keep the customer this order already had
    if customer is None:
        customer = Customer(tenant=tenant, **values)
        customer.save()
        return customer
    # Blank fields in one order must not erase what earlier orders told us, and the e-mail keeps
    # its first spelling so orders alternating its case do not rewrite the customer each time.
    updates = {k: v for k, v in values.items() if v and k != "email"}
    _save_changes(customer, _assign(customer, updates))
    return customer


def _sync_address(tenant: LocalTenant, order: Order, kind: str, values: dict[str, Any] | None) -> bool:
    current = Address.objects.for_tenant(tenant).filter(order=order, kind=kind).first()
    if values is None:
        if current is None:
            return False
        current.delete()
        return True
    if current is None:
        Address(tenant=tenant, order=order, kind=kind, **values).save()
        return True
    return _save_changes(current, _assign(current, values))


_ROW_FIELDS = ("position", "sku", "barcode", "description", "quantity", "unit_price_net", "unit_price_gross",
               "discount_net", "vat_rate", "total_net", "total_vat", "total_gross", "currency", "commission",
               "warehouse_key")


def _sync_rows(tenant: LocalTenant, order: Order, rows: list[dict[str, Any]]) -> bool:
    """Replace the order's rows unless they already equal the new ones."""
    stored = list(OrderRow.objects.for_tenant(tenant).filter(order=order).order_by("position").values(*_ROW_FIELDS))
    wanted = [{name: row[name] for name in _ROW_FIELDS} for row in rows]
    if stored == wanted:
        return False
    OrderRow.objects.for_tenant(tenant).filter(order=order).delete()
    OrderRow.objects.bulk_create([OrderRow(tenant=tenant, order=order, **row) for row in wanted])
    return True


def _upsert_once(tenant: LocalTenant, clean: CleanOrder, now: datetime) -> UpsertResult:
    node = clean.origin_node_id
    order = (Order.objects.for_tenant(tenant).select_for_update()
             .filter(origin_node_id=node, channel_order_number=clean.order["channel_order_number"]).first())
    created = order is None
    if created and clean.order["created_on_channel"] >= now - PLAN_WINDOW:
        check_order_plan_limit(tenant, now=now)

    values = dict(clean.order)
    if clean.status is not None:
        status = _order_status(tenant, node, dict(clean.status))
        values.update(status=status, normalized_status=status.normalized)
    else:
        values.update(status=None, normalized_status=NormalizedStatus.UNKNOWN)
    values["payment_method"] = (None if clean.payment_method is None else _coded_row(
        PaymentMethod, tenant, node, clean.payment_method, {"cash_on_delivery": clean.order["cash_on_delivery"]}))
    values["shipping_method"] = (None if clean.shipping_method is None
                                 else _coded_row(ShippingMethod, tenant, node, clean.shipping_method, {}))
    current_customer = None if order is None or order.customer_id is None else order.customer
    values["customer"] = (None if clean.customer is None
                          else _upsert_customer(tenant, clean.customer, current_customer))

    if order is None:
        order = Order(tenant=tenant, origin_node_id=node, hub_order_key=new_hub_order_key(now), imported_at=now,
                      **values)
        order.save()
        changed_fields: list[str] = []
    else:
        changed_fields = _assign(order, values)
    touched = False
    for kind, address in clean.addresses.items():
        touched = _sync_address(tenant, order, kind, address) or touched
    touched = _sync_rows(tenant, order, clean.rows) or touched
    if not created and (changed_fields or touched):
        # Row and address changes move the order's modified_at too: delta exports select on it.
        order.save(update_fields=[*changed_fields, "modified_at"])
    return UpsertResult(order=order, created=created, changed=created or bool(changed_fields) or touched)


def do_upsert_order(tenant: LocalTenant, payload: OrderPayload, *, actor: Any) -> UpsertResult:
    """Store a downloaded order: create it, or update it and replace its rows if it changed.

    (origin node, channel order number) identifies the order; a unique constraint guards it, and
    a download that loses a race to a concurrent one re-reads and updates instead. Payment and
    shipping methods and statuses are created the first time their code appears; the customer
    is matched by e-mail (case-insensitive) or created. Invalid input raises a coded
    :class:`SalesError` naming the field before anything is written.
    """
    clean = clean_order_payload(payload)
    now = timezone.now()
    for attempt in range(1, _UPSERT_ATTEMPTS + 1):
        try:
            with transaction.atomic(using=HOST):
                result = _upsert_once(tenant, clean, now)
            break
        except IntegrityError:
            # Another download created the order, a method or the customer first (or a hub key
            # collided): the retry finds those rows and updates them.
            if attempt == _UPSERT_ATTEMPTS:
                raise
    if result.changed:
        logger.info("order stored", extra={
            "event": "sales.order_created" if result.created else "sales.order_updated",
            "tenant": tenant.slug, "order_id": str(result.order.pk), "actor": actor_label(actor),
        })
    return result


def do_add_shipment(
    order: Order,
    *,
    carrier: str,
    tracking_number: str,
    service: str = "",
    weight_kg: Decimal | None = None,
    shipped_at: datetime | None = None,
    status: ShipmentStatus = ShipmentStatus.SHIPPED,
    actor: Any,
) -> Shipment:
    """Record a shipment of the order; the same carrier + tracking number again updates it.

    The order's ``modified_at`` moves with it, so order upload connectors in delta mode send the
    tracking number back to the channel.
    """
    values: dict[str, Any] = {
        "carrier": _clean_text(carrier, "carrier", 100),
        "service": _clean_text(service, "service", 100),
        "tracking_number": _clean_text(tracking_number, "tracking_number", 100),
        "weight_kg": None if weight_kg is None else _clean_decimal(weight_kg, "weight_kg", maximum=Decimal(10) ** 8),
        "shipped_at": None if shipped_at is None else _clean_datetime(shipped_at, "shipped_at"),
        "status": _clean_text(status, "status", 20),
    }
    if values["status"] not in ShipmentStatus.values:
        raise _fail(SalesErrorCode.INVALID_VALUE, "status", f"{status!r} is not a shipment status")
    with transaction.atomic(using=HOST):
        locked = access_order_by_id(order.tenant_id, order.pk, for_write=True)
        shipment = None
        if values["tracking_number"]:
            # The tracking number is encrypted: compare the order's few shipments in Python.
            shipment = next((s for s in Shipment.objects.for_tenant(order.tenant_id).filter(
                order=locked, carrier=values["carrier"]).order_by("created_at", "pk")
                if s.tracking_number == values["tracking_number"]), None)
        if shipment is None:
            shipment = Shipment(tenant_id=order.tenant_id, order=locked, **values)
            shipment.save()
            changed = True
        else:
            changed = _save_changes(shipment, _assign(shipment, values))
        if changed:
            locked.save(update_fields=["modified_at"])
            order.modified_at = locked.modified_at
    if changed:
        logger.info("shipment stored", extra={"event": "sales.shipment_stored", "order_id": str(order.pk),
                                               "shipment_id": str(shipment.pk), "actor": actor_label(actor)})
    return shipment


def do_mark_order(order: Order, marked: bool, *, actor: Any) -> bool:
    """Set or clear the order's marked flag; return whether it changed."""
    with transaction.atomic(using=HOST):
        locked = access_order_by_id(order.tenant_id, order.pk, for_write=True)
        changed = _save_changes(locked, _assign(locked, {"is_marked": marked}))
    order.is_marked, order.modified_at = locked.is_marked, locked.modified_at
    if changed:
        logger.info("order marked", extra={"event": "sales.order_marked", "order_id": str(order.pk),
                                            "marked": marked, "actor": actor_label(actor)})
    return changed


def do_set_order_status(order: Order, code: str, *, name: str = "", actor: Any) -> bool:
    """Give the order a channel status code; its normalized status follows the normalization map.

    An unseen code is added to the map for the order's origin node. Return whether the order changed.
    """
    values = _clean_code(CodePayload(code=code, name=name), OrderStatus, "status.")
    with transaction.atomic(using=HOST):
        locked = access_order_by_id(order.tenant_id, order.pk, for_write=True)
        tenant = LocalTenant.objects.get(pk=order.tenant_id)
        status = _order_status(tenant, locked.origin_node_id, values)
        changed = _save_changes(locked, _assign(locked, {"status": status, "normalized_status": status.normalized}))
    order.status, order.normalized_status, order.modified_at = status, locked.normalized_status, locked.modified_at
    if changed:
        logger.info("order status set", extra={"event": "sales.order_status_set", "order_id": str(order.pk),
                                                "status": status.code, "actor": actor_label(actor)})
    return changed


def do_map_order_status(status: OrderStatus, normalized: NormalizedStatus, *, actor: Any) -> int:
    """Change the normalization map entry of a channel status; return how many orders it moved.

    Orders with that status take the new normalized status (and a new ``modified_at``) at once.
    """
    if normalized not in NormalizedStatus.values:
        raise _fail(SalesErrorCode.INVALID_VALUE, "normalized", f"{normalized!r} is not a normalized status")
    with transaction.atomic(using=HOST):
        _save_changes(status, _assign(status, {"normalized": NormalizedStatus(normalized)}))
        moved = (Order.objects.for_tenant(status.tenant_id).filter(status=status)
                 .exclude(normalized_status=normalized)
                 .update(normalized_status=normalized, modified_at=timezone.now()))
    logger.info("order status mapped", extra={"event": "sales.order_status_mapped", "status": status.code,
                                              "normalized": str(normalized), "orders": moved,
                                              "actor": actor_label(actor)})
    return moved

