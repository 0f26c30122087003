"""Retention rules anonymize order contacts N days after the last shipment, per channel, and report it."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from bindery.control.models import LocalTenant
from bindery.privacy.models import RetentionRule
from bindery.privacy.retention import RetentionError, apply_retention, do_set_retention_rule
from bindery.sales.actions import do_add_shipment
from bindery.sales.models import Address, Order, Shipment
from tests.privacy.test_privacy_cli import bindery
from tests.sales.factories import ERP_NODE, SHOP_NODE, order_payload, store

pytestmark = pytest.mark.django_db(databases="__all__")
NOW = timezone.now()


def shipped(tenant: LocalTenant, number: str, days_ago: int, node: uuid.UUID = SHOP_NODE) -> Order:
    order = store(tenant, order_payload(number, origin_node_id=node, notes="ring twice")).order
    do_add_shipment(order, carrier="UPS", tracking_number=f"T-{number}", shipped_at=NOW - dt.timedelta(days=days_ago),
                    actor="test")
    return order


def test_contacts_are_anonymized_only_after_the_period(tenant: LocalTenant) -> None:
    old, recent = shipped(tenant, "1", 40), shipped(tenant, "2", 10)
    unshipped = store(tenant, order_payload("3")).order
    do_set_retention_rule(tenant, origin_node_id=SHOP_NODE, days=30, actor="test")
    [run] = apply_retention(tenant, NOW)
    assert (run.orders_anonymized, run.rows_blanked) == (1, 4)  # 2 addresses, the order's notes, the shipment
    assert set(Address.objects.for_tenant(tenant).filter(order=old).values_list("surname", flat=True)) == {""}
    assert Shipment.objects.for_tenant(tenant).get(order=old).tracking_number == ""
    kept = Order.objects.for_tenant(tenant).get(pk=old.pk)
    assert kept.total == old.total
    for other in (recent, unshipped):
        assert set(Address.objects.for_tenant(tenant).filter(order=other).values_list("surname", flat=True)) == {
            "Rossi"}
    [again] = apply_retention(tenant, NOW)
    assert (again.orders_anonymized, again.rows_blanked) == (0, 0)  # reports only what it changed


def test_a_channel_rule_wins_over_the_catch_all(tenant: LocalTenant) -> None:
    shop, erp = shipped(tenant, "1", 20), shipped(tenant, "2", 20, node=ERP_NODE)
    do_set_retention_rule(tenant, origin_node_id=SHOP_NODE, days=30, actor="test")
    do_set_retention_rule(tenant, origin_node_id=None, days=7, actor="test")
    apply_retention(tenant, NOW)
    assert Shipment.objects.for_tenant(tenant).get(order=shop).tracking_number == "T-1"
    assert Shipment.objects.for_tenant(tenant).get(order=erp).tracking_number == ""


def test_rules_are_validated_and_unique(tenant: LocalTenant) -> None:
    for days in (-1, 100_000, True):
        with pytest.raises(RetentionError):
            do_set_retention_rule(tenant, origin_node_id=None, days=days, actor="test")  # type: ignore[arg-type]
    do_set_retention_rule(tenant, origin_node_id=None, days=5, actor="test")
    do_set_retention_rule(tenant, origin_node_id=None, days=9, actor="test")  # updates, not a second rule
    assert list(RetentionRule.objects.for_tenant(tenant).values_list("days_after_shipment", flat=True)) == [9]
    with pytest.raises(IntegrityError), transaction.atomic():
        RetentionRule.objects.create(tenant=tenant, origin_node_id=None, days_after_shipment=1, created_by="x")


def test_retention_from_the_cli(tenant: LocalTenant, capsys: pytest.CaptureFixture[str]) -> None:
    shipped(tenant, "1", 40)
    assert bindery("privacy", "retention", "set", "--tenant", "acme", "--channel", str(SHOP_NODE), "--days", "30") == 0
    assert bindery("privacy", "retention", "run", "--tenant", "acme") == 0
    assert "1 order(s) anonymized" in capsys.readouterr().out
