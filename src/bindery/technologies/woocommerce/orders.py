"""Order download WooCommerce → hub, and order upload (status + tracking) hub → WooCommerce.

Download cursor: ``modified_after`` = the engine's differential start (watermark - its overlap)
minus this connector's own ``overlap_seconds`` (shop clocks drift); ``modified_before`` = the
run's start, so the set being paged can only shrink while we page: an order modified meanwhile
leaves it (and is read by the next run, its new stamp being after this run's start). Paging is
by ``X-WP-Total`` / ``X-WP-TotalPages`` in id order; when ``X-WP-Total`` drops between pages,
rows after the vanished ones moved to earlier pages, so the download steps back as many pages
as could hide them and reads them again — re-reading is harmless, every write is idempotent.

Each order is upserted through :func:`bindery.sales.actions.do_upsert_order` (customers
de-duplicated by e-mail there), bound as ``order`` on the node, and — for the statuses that
hold stock — its rows decrement stock through
:func:`bindery.catalog.actions.do_apply_stock_movements`, each row exactly once by the
reference ``woocommerce:<node>:<line item id>`` however often the order is downloaded.

Upload: each shipment of this node's orders is pushed once (an export reference per shipment):
``PUT /orders/<id>`` with the configured status and a ``_bindery_tracking_<shipment>`` meta
entry (idempotent if a crash makes us push twice), plus an optional customer note.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from pydantic import Field

from bindery.catalog.actions import MovementOutcome, StockMovementData, do_apply_stock_movements
from bindery.integration.access import exported_ids
from bindery.integration.actions import do_record_export
from bindery.integration.http import HttpClient, RemoteError
from bindery.integration.models import Binding
from bindery.integration.registry import StrictSchema
from bindery.integration.runner import RunContext
from bindery.sales.access import shipments_to_upload
from bindery.sales.actions import do_upsert_order
from bindery.sales.errors import SalesError
from bindery.sales.models import PaymentStatus
from bindery.sales.payloads import (
    AddressPayload,
    CodePayload,
    CustomerPayload,
    OrderPayload,
    OrderRowPayload,
    StatusPayload,
)
from bindery.technologies.woocommerce.client import PER_PAGE_MAX, open_client, parse_woo_time, woo_time

ORDER = "order"
STATUS = r"^[a-z0-9_-]{1,50}$"


class OrderDownloadConfig(StrictSchema):
    statuses: list[str] = Field(default_factory=list, max_length=20, description="only these statuses; empty = any")
    per_page: int = Field(default=PER_PAGE_MAX, ge=1, le=PER_PAGE_MAX)
    overlap_seconds: int = Field(default=120, ge=0, le=86_400, description="re-read this much before the cursor")
    decrement_stock: bool = True
    stock_statuses: list[str] = Field(default_factory=lambda: ["processing", "on-hold", "completed"], max_length=20,
                                      description="order statuses whose rows take stock")
    warehouse: str | None = Field(default=None, max_length=100,
                                  description="decrement this warehouse; empty = the product's availability")
    max_step_backs: int = Field(default=20, ge=0, le=1000, description="re-reads allowed when orders move while paging")


class OrderUploadConfig(StrictSchema):
    status: str | None = Field(default="completed", pattern=STATUS, description="order status once shipped")
    customer_note: bool = Field(default=True, description="add a note with the tracking number, sent to the buyer")


def _dec(value: Any, field: str) -> Decimal:
    try:
        number = Decimal(str(value if value not in (None, "") else "0"))
    except InvalidOperation:
        raise ValueError(f"{field} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{field} is not a number")
    return number


def _text(value: Any, limit: int) -> str:
    return str(value or "").strip()[:limit]


def _address(raw: Any) -> AddressPayload | None:
    if not isinstance(raw, dict) or not any(raw.get(k) for k in ("first_name", "last_name", "company", "address_1")):
        return None
    return AddressPayload(company=_text(raw.get("company"), 200), name=_text(raw.get("first_name"), 100),
                          surname=_text(raw.get("last_name"), 100), address_line1=_text(raw.get("address_1"), 200),
                          address_line2=_text(raw.get("address_2"), 200), city=_text(raw.get("city"), 100),
                          postal_code=_text(raw.get("postcode"), 20), province=_text(raw.get("state"), 100),
                          country=_text(raw.get("country"), 2).upper(), phone=_text(raw.get("phone"), 50),
                          email=_text(raw.get("email"), 254))


def _rate(tax: Decimal, net: Decimal) -> Decimal:
    return (tax / net * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) if net else Decimal(0)


def order_payload(node_id: Any, raw: dict[str, Any]) -> OrderPayload:
    """Translate one WooCommerce order into the hub's payload (amounts as Decimal, times in UTC)."""
    rows: list[OrderRowPayload] = []
    for item in raw.get("line_items") or []:
        quantity = _dec(item.get("quantity"), "line_items.quantity")
        net, tax = _dec(item.get("total"), "line_items.total"), _dec(item.get("total_tax"), "line_items.total_tax")
        gross_sub = _dec(item.get("subtotal"), "line_items.subtotal")
        unit = (gross_sub / quantity).quantize(Decimal("0.0001")) if quantity else Decimal(0)
        rows.append(OrderRowPayload(
            quantity=quantity, sku=_text(item.get("sku"), 100), description=_text(item.get("name"), 500),
            unit_price_net=unit, discount_net=max(Decimal(0), gross_sub - net), vat_rate=_rate(tax, net),
            total_net=net, total_vat=tax, total_gross=net + tax))
    for fee in raw.get("fee_lines") or []:
        net, tax = _dec(fee.get("total"), "fee_lines.total"), _dec(fee.get("total_tax"), "fee_lines.total_tax")
        rows.append(OrderRowPayload(quantity=Decimal(1), description=_text(fee.get("name"), 500), unit_price_net=net,
                                    vat_rate=_rate(tax, net), total_net=net, total_vat=tax, total_gross=net + tax))
    shipping_net, shipping_vat = _dec(raw.get("shipping_total"), "shipping_total"), _dec(raw.get("shipping_tax"),
                                                                                          "shipping_tax")
    net_total = sum((r.total_net for r in rows), Decimal(0)) + shipping_net
    vat_total = sum((r.total_vat for r in rows), Decimal(0)) + shipping_vat
    billing = raw.get("billing") if isinstance(raw.get("billing"), dict) else {}
    assert isinstance(billing, dict)
    shipping_lines = raw.get("shipping_lines") or []
    paid_at = parse_woo_time(raw.get("date_paid_gmt"))
    created = parse_woo_time(raw.get("date_created_gmt"))
    if created is None:
        raise ValueError("date_created_gmt is missing")
    return OrderPayload(
        origin_node_id=node_id, channel_order_number=_text(raw.get("number") or raw.get("id"), 100),
        created_on_channel=created, channel_updated_at=parse_woo_time(raw.get("date_modified_gmt")),
        currency=_text(raw.get("currency"), 3).upper(),
        status=StatusPayload(code=_text(raw.get("status"), 50), name=_text(raw.get("status"), 100)),
        customer=CustomerPayload(
            email=_text(billing.get("email"), 254), company=_text(billing.get("company"), 200),
            name=_text(billing.get("first_name"), 100), surname=_text(billing.get("last_name"), 100),
            phone=_text(billing.get("phone"), 50), address_line1=_text(billing.get("address_1"), 200),
            address_line2=_text(billing.get("address_2"), 200), city=_text(billing.get("city"), 100),
            postal_code=_text(billing.get("postcode"), 20), province=_text(billing.get("state"), 100),
            country=_text(billing.get("country"), 2).upper()),
        billing_address=_address(billing), delivery_address=_address(raw.get("shipping")),
        payment_method=(CodePayload(code=_text(raw.get("payment_method"), 100),
                                    name=_text(raw.get("payment_method_title"), 100))
                        if raw.get("payment_method") else None),
        shipping_method=(CodePayload(code=_text(shipping_lines[0].get("method_id"), 100),
                                     name=_text(shipping_lines[0].get("method_title"), 100))
                         if shipping_lines and isinstance(shipping_lines[0], dict) else None),
        cash_on_delivery=raw.get("payment_method") == "cod",
        payment_total=_dec(raw.get("total"), "total") if paid_at else Decimal(0),
        payment_status=PaymentStatus.PAID if paid_at else PaymentStatus.PENDING, paid_at=paid_at,
        net_total=net_total, vat_total=vat_total, total=_dec(raw.get("total"), "total"),
        shipping_net=shipping_net, shipping_vat=shipping_vat,
        coupon_total=_dec(raw.get("discount_total"), "discount_total"),
        notes=_text(raw.get("customer_note"), 5000), rows=tuple(rows))


def run_order_download(ctx: RunContext) -> None:
    config = OrderDownloadConfig.model_validate(ctx.config)
    params: dict[str, Any] = {"orderby": "id", "order": "asc", "dates_are_gmt": "true",
                              # WooCommerce stamps to the second: round up so this second's orders count.
                              "modified_before": woo_time(ctx.started_at.replace(microsecond=0)
                                                          + dt.timedelta(seconds=1))}
    if ctx.since is not None:
        after = ctx.since - dt.timedelta(seconds=config.overlap_seconds)
        params["modified_after"] = woo_time(after)
        ctx.log(f"Orders modified after {params['modified_after']} GMT.")
    if config.statuses:
        params["status"] = ",".join(config.statuses)
    done = 0
    with open_client(ctx) as client:
        page, first_total, step_backs = 1, None, 0
        while True:
            reply = client.get("/orders", params={**params, "per_page": config.per_page, "page": page})
            rows = reply.json()
            total, total_pages = reply.header_int("X-WP-Total"), reply.header_int("X-WP-TotalPages")
            if not isinstance(rows, list) or total is None or total_pages is None:
                raise RemoteError("GET /orders: expected a list with X-WP-Total and X-WP-TotalPages")
            if first_total is None:
                first_total = total
                ctx.checkpoint(done=0, total=total)
            elif total < first_total:
                # Orders left the set while we paged: rows behind them moved to earlier pages.
                back = math.ceil((first_total - total) / config.per_page)
                step_backs += 1
                if step_backs > config.max_step_backs:
                    raise RemoteError("orders keep changing while being paged; try again later")
                ctx.log(f"{first_total - total} order(s) changed while paging; re-reading {back} page(s).")
                first_total, page = total, max(1, page - back)
                continue
            for raw in rows:
                _store(ctx, config, raw)
                done += 1
            ctx.checkpoint(done=done)
            if page >= total_pages or not rows:
                break
            page += 1
    ctx.log(f"{done} orders read.")


def _store(ctx: RunContext, config: OrderDownloadConfig, raw: Any) -> None:
    ctx.count(read=1)
    number = str(raw.get("id") if isinstance(raw, dict) else "?")[:50]
    try:
        if not isinstance(raw, dict):
            raise ValueError("an order is not an object")
        payload = order_payload(ctx.node.pk, raw)
    except (ValueError, TypeError, AttributeError) as error:
        ctx.fail_item(number, "invalid_order", str(error))
        return
    if ctx.simulate:
        ctx.log(f"Would store order {payload.channel_order_number} ({len(payload.rows)} rows).")
        return
    try:
        result = do_upsert_order(ctx.tenant, payload, actor=ctx.actor)
    except SalesError as error:
        ctx.fail_item(number, str(error.code), str(error), error.field)
        return
    if result.created:
        ctx.count(created=1)
    elif result.changed:
        ctx.count(updated=1)
    else:
        ctx.count(skipped=1)
    ctx.bind(ORDER, str(raw["id"]), result.order.pk)
    if config.decrement_stock and raw.get("status") in config.stock_statuses:
        movements = [StockMovementData(reference=f"woocommerce:{ctx.node.pk}:{item['id']}", sku=str(item["sku"]),
                                       quantity=-_dec(item.get("quantity"), "quantity"),
                                       warehouse=config.warehouse or "")
                     for item in raw.get("line_items") or [] if item.get("sku") and item.get("id")]
        outcomes = do_apply_stock_movements(ctx.tenant, movements, actor=ctx.actor) if movements else []
        for movement, outcome in zip(movements, outcomes, strict=True):
            if outcome in (MovementOutcome.UNKNOWN_SKU, MovementOutcome.UNKNOWN_WAREHOUSE):
                ctx.log(f"Order {payload.channel_order_number}: {movement.sku} not decremented ({outcome}).",
                        level="warning")


def run_order_upload(ctx: RunContext) -> None:
    config = OrderUploadConfig.model_validate(ctx.config)
    shipments = list(shipments_to_upload(ctx.tenant, origin_node_id=ctx.node.pk,
                                         exclude_ids=exported_ids(ctx.connector, "shipment")))
    remote = dict(Binding.objects.for_tenant(ctx.tenant.pk).filter(
        node=ctx.node, entity_kind=ORDER, hub_id__in={s.order_id for s in shipments}).values_list("hub_id",
                                                                                                 "external_id"))
    ctx.log(f"{len(shipments)} shipment(s) to send.")
    ctx.checkpoint(done=0, total=len(shipments))
    with open_client(ctx) as client:
        for done, shipment in enumerate(shipments, start=1):
            ctx.count(read=1)
            order_id = remote.get(shipment.order_id)
            if order_id is None:
                ctx.fail_item(str(shipment.pk), "not_bound", "the order was not downloaded from this shop")
                continue
            _push(ctx, client, config, order_id, shipment)
            ctx.checkpoint(done=done)


def _push(ctx: RunContext, client: HttpClient, config: OrderUploadConfig, order_id: str, shipment: Any) -> None:
    label = " ".join(p for p in (shipment.carrier, shipment.service) if p) or "carrier"
    text = f"Shipped with {label}" + (f", tracking number {shipment.tracking_number}" if shipment.tracking_number
                                      else "") + "."
    if ctx.simulate:
        ctx.log(f"Would send to order {order_id}: {text}")
        ctx.count(updated=1)
        return
    body: dict[str, Any] = {"meta_data": [{"key": f"_bindery_tracking_{shipment.pk}", "value": {
        "carrier": shipment.carrier, "service": shipment.service, "tracking_number": shipment.tracking_number,
        "shipped_at": shipment.shipped_at.isoformat() if shipment.shipped_at else None}}]}
    if config.status:
        body["status"] = config.status
    try:
        client.put(f"/orders/{int(order_id)}", json_body=body)
        if config.customer_note:
            client.post(f"/orders/{int(order_id)}/notes", json_body={"note": text, "customer_note": True})
    except RemoteError as error:
        if error.kind in ("not_found", "validation"):
            ctx.fail_item(str(shipment.pk), error.kind, error.message)
            return
        raise
    do_record_export(ctx.connector, "shipment", shipment.pk, run=ctx.run)
    ctx.count(updated=1)
