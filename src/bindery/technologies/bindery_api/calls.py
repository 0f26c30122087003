"""What each connector endpoint does, given an authenticated call (HTTP lives in bindery.api.connectors).

Every function here works on one connector of the caller's node, inside the tenant's scope,
and reports into the call's run (:mod:`bindery.integration.calls`).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from bindery.catalog.models import Product
from bindery.control.models import LocalTenant
from bindery.control.routers import HOST
from bindery.integration.actions import do_enqueue_run
from bindery.integration.calls import Call
from bindery.integration.errors import IntegrationError
from bindery.integration.models import Connector, ExportReference, LogLevel, RunTrigger
from bindery.integration.registry import Direction
from bindery.integration.schemas import OrderFilter, ProductFilter
from bindery.sales.models import Order
from bindery.technologies.bindery_api.connectors import (
    ExportOrdersConfig,
    ExportProductsConfig,
    ImportProductsConfig,
    OrderFormat,
    ShippingUpdateConfig,
)
from bindery.technologies.bindery_api.export_orders import iter_orders_csv, iter_orders_json, iter_orders_xml
from bindery.technologies.bindery_api.import_documents import import_documents
from bindery.technologies.bindery_api.import_products import ImportOptions, NotSent, import_products
from bindery.technologies.bindery_api.shipping_update import handle_shipping_update
from bindery.technologies.files.exports import ExportFormat, export_products

ORDER = "order"
CONTENT_TYPES = {
    OrderFormat.XML: "text/xml; charset=UTF-8",
    OrderFormat.CSV: "text/csv; charset=UTF-8",
    OrderFormat.JSON: "application/json; charset=UTF-8",
}


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # text, bytes or a JSON-able object
    content_type: str


def selected_orders(connector: Connector, config: ExportOrdersConfig) -> QuerySet[Order]:
    """The connector's orders: its order filter, its product filter (orders with such a row), not yet exported."""
    tenant_id = connector.tenant_id
    orders = OrderFilter.model_validate(connector.order_filter or {}).apply(Order.objects.for_tenant(tenant_id))
    product_filter = ProductFilter.model_validate(connector.product_filter or {})
    if product_filter != ProductFilter():
        skus = product_filter.apply(Product.objects.for_tenant(tenant_id)).values("sku")
        orders = orders.filter(rows__sku__in=skus).distinct()
    if config.export_once:
        done = ExportReference.objects.for_tenant(tenant_id).filter(connector=connector, entity_kind=ORDER)
        orders = orders.exclude(pk__in=done.values("hub_id"))
    return orders.order_by("modified_at", "id")


def export_orders_call(call: Call, config: ExportOrdersConfig, fmt: OrderFormat) -> Answer:
    """Up to ``max_orders`` orders in the chosen format; with export-once, remembered as exported."""
    connector = call.connector
    with transaction.atomic(using=HOST):
        orders = list(selected_orders(connector, config).select_related("customer", "status", "payment_method")
                      [: config.max_orders])
        if fmt is OrderFormat.XML:
            body = "".join(iter_orders_xml(orders, len(orders)))
        elif fmt is OrderFormat.CSV:
            body = "".join(iter_orders_csv(orders, delimiter=config.delimiter))
        else:
            body = "".join(iter_orders_json(orders, len(orders)))
        if config.export_once and orders:
            ExportReference.objects.bulk_create(
                [ExportReference(tenant_id=connector.tenant_id, connector=connector, entity_kind=ORDER,
                                 hub_id=order.pk, run=call.run) for order in orders],
                ignore_conflicts=True)
    call.count(read=len(orders))
    call.log(f"Returned {len(orders)} orders as {fmt.value.upper()}"
             + (" and marked them exported." if config.export_once and orders else "."))
    return Answer(200, body, CONTENT_TYPES[fmt])


def import_products_call(call: Call, tenant: LocalTenant, config: ImportProductsConfig, body: bytes,
                         *, actor: str) -> Answer:
    options = ImportOptions(mode=config.mode, groups=frozenset(config.groups),
                            delete_not_sent=frozenset(NotSent(name) for name in config.delete_not_sent),
                            parent_quantity_sum=config.parent_quantity_sum, parent_price_min=config.parent_price_min,
                            origin_node_id=call.connector.node_id)
    status, answer = import_products(tenant, body, options, actor=actor)
    _report(call, status, answer, item_key="sku", ok=lambda r: r["outcome"] != "error",
            counts={"created": "created", "updated": "updated", "skipped": "skipped", "unchanged": "skipped"},
            outcome="outcome")
    return Answer(status, answer, "application/json")


def import_documents_call(call: Call, tenant: LocalTenant, body: bytes, *, actor: str) -> Answer:
    status, answer = import_documents(tenant, body, actor=actor)
    answer["id_exec"] = str(call.run.pk)
    _report(call, status, answer, item_key="number", ok=lambda r: bool(r["ok"]))
    return Answer(status, answer, "application/json")


def shipping_update_call(call: Call, tenant: LocalTenant, config: ShippingUpdateConfig, body: bytes,
                         *, actor: str) -> Answer:
    status, answer = handle_shipping_update(tenant, body, actor=actor)
    _report(call, status, answer, item_key="OrderID", ok=lambda r: bool(r["ok"]))
    if config.upload_now and status < 400:
        started = _start_order_uploads(call, tenant, [r["OrderID"] for r in answer["results"] if r["ok"]])
        answer["uploads_started"] = started
    return Answer(status, answer, "application/json")


def _start_order_uploads(call: Call, tenant: LocalTenant, hub_keys: list[str]) -> list[str]:
    """Queue the order-upload connectors of the channels these orders came from."""
    from bindery.integration import registry

    if not hub_keys:
        return []
    nodes = set(Order.objects.for_tenant(tenant).filter(hub_order_key__in=hub_keys, origin_node_id__isnull=False)
                .values_list("origin_node_id", flat=True))
    started: list[str] = []
    connectors = Connector.objects.for_tenant(tenant).select_related("node").filter(node_id__in=nodes, enabled=True)
    for connector in connectors:
        try:
            ctype = registry.get(connector.node.technology).connector_type(connector.connector_type)
        except IntegrationError:
            continue
        if ctype.direction is not Direction.ORDER_UPLOAD:
            continue
        try:
            do_enqueue_run(connector=connector, trigger=RunTrigger.MANUAL, actor=f"call:{call.run.pk}")
        except IntegrationError as error:  # already running (it will see the shipment) or disabled
            call.log(f"Upload connector {connector.name!r} not started: {error}", level=LogLevel.WARNING)
            continue
        started.append(str(connector.pk))
        call.log(f"Started upload connector {connector.name!r}.")
    return started


def export_products_call(call: Call, tenant: LocalTenant, config: ExportProductsConfig,
                         fmt: ExportFormat) -> Path:
    """Write the selected sections to a temporary file; the caller streams it and removes it."""
    connector = call.connector
    products = ProductFilter.model_validate(connector.product_filter or {}).apply(
        Product.objects.for_tenant(tenant))
    spool = Path(tempfile.mkdtemp(prefix="bindery-api-"))
    result = export_products(tenant, spool / f"products.{fmt.value}", fmt, products=products,
                             price_lists=config.price_lists, warehouses=config.warehouses,
                             delimiter=config.delimiter)
    call.count(read=result.count)
    call.log(f"Returned {result.count} products as {fmt.value.upper()}.")
    return result.path


def _report(call: Call, status: int, answer: dict[str, Any], *, item_key: str, ok: Any,
            counts: dict[str, str] | None = None, outcome: str = "") -> None:
    if status >= 400:
        call.refuse(f"Refused: {answer.get('message', '')}")
        return
    results = answer.get("results", [])
    failures = [(str(r.get(item_key) or f"#{r.get('index')}"), "invalid", str(r.get("message", "")),
                 str(r.get("field") or "")) for r in results if not ok(r)]
    call.count(read=len(results))
    if counts and outcome:
        tally: dict[str, int] = {}
        for result in results:
            name = counts.get(str(result.get(outcome)))
            if name:
                tally[name] = tally.get(name, 0) + 1
        call.count(**tally)
    else:
        call.count(updated=len(results) - len(failures))
    if failures:
        call.fail_items(failures)
    call.log(str(answer.get("message", "")))
