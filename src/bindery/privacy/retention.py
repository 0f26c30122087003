"""Retention rules: anonymize order contacts a number of days after shipment, per channel.

Marketplaces often require it (for example: no buyer contact data 30 days after shipment). The
daily job applies every tenant's rules; each application is reported as a :class:`RetentionRun`.
Already anonymized rows are not counted again, so a rerun reports only what it changed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from bindery.control.actors import actor_label
from bindery.control.models import LocalTenant
from bindery.control.routers import HOST
from bindery.privacy.models import RetentionRule, RetentionRun
from bindery.privacy.subjects import Located, blank_rows
from bindery.sales.models import Address, Order, Shipment

MAX_DAYS = 3650
BATCH = 500


class RetentionError(ValueError):
    """A retention rule that cannot be saved; the message says why."""


def do_set_retention_rule(tenant: LocalTenant, *, origin_node_id: uuid.UUID | None, days: int,
                          actor: Any) -> RetentionRule:
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_DAYS:
        raise RetentionError(f"days after shipment must be a whole number from 0 to {MAX_DAYS}")
    rule, _ = RetentionRule.objects.for_tenant(tenant).update_or_create(
        tenant=tenant, origin_node_id=origin_node_id,
        defaults={"days_after_shipment": days, "created_by": actor_label(actor)})
    return rule


def _rule_orders(rule: RetentionRule, cutoff: dt.datetime) -> Any:
    orders = Order.objects.for_tenant(rule.tenant_id).annotate(last_shipped=Max("shipments__shipped_at")).filter(
        last_shipped__lte=cutoff)
    if rule.origin_node_id is not None:
        orders = orders.filter(origin_node_id=rule.origin_node_id)
    else:  # a channel's own rule wins over the catch-all one
        specific = RetentionRule.objects.for_tenant(rule.tenant_id).exclude(origin_node_id=None)
        orders = orders.exclude(origin_node_id__in=specific.values("origin_node_id"))
    return orders.order_by("pk").values_list("pk", flat=True)


def apply_rule(rule: RetentionRule, now: dt.datetime | None = None) -> RetentionRun:
    cutoff = (now or timezone.now()) - dt.timedelta(days=rule.days_after_shipment)
    order_ids = list(_rule_orders(rule, cutoff))
    touched_orders = blanked = 0
    for start in range(0, len(order_ids), BATCH):
        batch = order_ids[start:start + BATCH]
        found = Located(rows={
            Address: list(Address.objects.for_tenant(rule.tenant_id).filter(order_id__in=batch)),
            Order: list(Order.objects.for_tenant(rule.tenant_id).filter(pk__in=batch)),
            Shipment: list(Shipment.objects.for_tenant(rule.tenant_id).filter(order_id__in=batch)),
        })
        with transaction.atomic(using=HOST):
            changed = blank_rows(found)
        blanked += changed
        touched_orders += len(batch) if changed else 0
    return RetentionRun.objects.create(tenant_id=rule.tenant_id, rule=rule, cutoff=cutoff,
                                       orders_anonymized=touched_orders, rows_blanked=blanked)


def apply_retention(tenant: LocalTenant, now: dt.datetime | None = None) -> list[RetentionRun]:
    return [apply_rule(rule, now) for rule in RetentionRule.objects.for_tenant(tenant).order_by("created_at")]
