"""Runs end to end through the hub technology and the catalog's service layer."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from bindery.catalog.actions import do_bulk_upsert_products, do_create_price_list
from bindery.catalog.models import Price, Product, StockLevel
from bindery.catalog.payloads import PriceData, ProductData, StockData
from bindery.control.models import LocalTenant
from bindery.integration.actions import (
    do_cancel_run,
    do_create_connector,
    do_enqueue_run,
    do_update_connector,
)
from bindery.integration.errors import IntegrationError
from bindery.integration.models import Binding, Connector, Node, Run, RunLogLine, RunStatus, Watermark
from bindery.integration.runner import execute_run
from tests.integration.conftest import make_products

pytestmark = pytest.mark.django_db(databases="__all__")


def run_now(connector: Connector) -> Run:
    run = do_enqueue_run(connector=connector, actor="test")
    finished = execute_run(run.pk, heartbeat=False)
    assert finished is not None
    return finished


def shop_stock(tenant: LocalTenant) -> dict[str, Decimal]:
    return dict(StockLevel.objects.for_tenant(tenant).filter(warehouse__key="shop")
                .values_list("product__sku", "quantity"))


def test_full_then_differential_run_moves_exactly_the_changed_product(tenant: LocalTenant,
                                                                      stock_copy: Connector) -> None:
    """First run is full (20 read, 20 written, bound); after one change the differential run reads only it."""
    make_products(tenant, 20)
    first = run_now(stock_copy)
    assert (first.status, first.read_count, first.updated_count, first.progress_done, first.progress_total) == (
        RunStatus.SUCCEEDED, 20, 20, 20, 20)
    assert first.differential_since is None
    assert set(shop_stock(tenant).values()) == {Decimal(5)}
    assert Binding.objects.for_tenant(tenant).count() == 20
    watermark = Watermark.objects.for_tenant(tenant).get(connector=stock_copy)
    assert watermark.since == first.started_at

    # Later than the watermark's overlap window: only this product is "changed".
    Product.objects.for_tenant(tenant).update(modified_at=timezone.now() - dt.timedelta(minutes=5))
    Watermark.objects.for_tenant(tenant).update(since=timezone.now() - dt.timedelta(minutes=1))
    do_bulk_upsert_products(tenant, [ProductData(sku="SKU-0007", stock=[StockData("main", 9)])], actor="test")
    second = run_now(stock_copy)
    assert (second.status, second.read_count, second.updated_count) == (RunStatus.SUCCEEDED, 1, 1)
    assert second.differential_since is not None
    assert shop_stock(tenant)["SKU-0007"] == Decimal(9)
    assert Binding.objects.for_tenant(tenant).count() == 20  # re-binding is idempotent


def test_running_twice_duplicates_nothing(tenant: LocalTenant, stock_copy: Connector) -> None:
    """A second full run finds everything up to date: no new rows, no new bindings, all skipped."""
    make_products(tenant, 10)
    do_update_connector(stock_copy, differential=False, actor="test")
    run_now(stock_copy)
    again = run_now(stock_copy)
    assert (again.read_count, again.updated_count, again.skipped_count) == (10, 0, 10)
    assert StockLevel.objects.for_tenant(tenant).count() == 20
    assert Binding.objects.for_tenant(tenant).count() == 10


def test_config_change_resets_the_watermark_and_failures_never_move_it(tenant: LocalTenant,
                                                                       stock_copy: Connector) -> None:
    """Changing the filter deletes the watermark; a failing run (unknown warehouse) leaves it unset."""
    make_products(tenant, 3)
    run_now(stock_copy)
    assert Watermark.objects.for_tenant(tenant).filter(connector=stock_copy).exists()
    do_update_connector(stock_copy, product_filter={"sku_prefix": "SKU-000"}, actor="test")
    assert not Watermark.objects.for_tenant(tenant).filter(connector=stock_copy).exists()
    do_update_connector(stock_copy, config={"source_warehouse": "main", "target_warehouse": "nowhere"},
                        actor="test")
    failed = run_now(stock_copy)
    assert failed.status == RunStatus.FAILED
    assert "target warehouse 'nowhere' does not exist" in failed.error
    assert not Watermark.objects.for_tenant(tenant).filter(connector=stock_copy).exists()
    lines = list(RunLogLine.objects.for_tenant(tenant).filter(run=failed).values_list("message", flat=True))
    assert any(line.startswith("Failed:") for line in lines)


def test_simulate_writes_nothing_and_keeps_the_watermark(tenant: LocalTenant, stock_copy: Connector) -> None:
    make_products(tenant, 4)
    do_update_connector(stock_copy, simulate=True, actor="test")
    run = run_now(stock_copy)
    assert (run.status, run.simulate, run.updated_count) == (RunStatus.SUCCEEDED, True, 4)
    assert shop_stock(tenant) == {}
    assert not Binding.objects.for_tenant(tenant).exists()
    assert not Watermark.objects.for_tenant(tenant).exists()


def test_price_rule_derives_a_list_and_records_per_item_failures(tenant: LocalTenant, hub_node: Node) -> None:
    """Target net = source net x 1.2 + 0.5 rounded to 0.10; a refused item is recorded, the rest written."""
    do_create_price_list(tenant, "cost", "EUR", actor="test")
    do_create_price_list(tenant, "retail", "EUR", actor="test")
    do_bulk_upsert_products(tenant, [ProductData(sku=f"P{i}", prices=[PriceData("cost", net=Decimal("10.00") * i)])
                                     for i in range(1, 4)], actor="test")
    connector = do_create_connector(tenant, "retail", hub_node, "price_rule",
                                    config={"source_price_list": "cost", "target_price_list": "retail",
                                            "multiplier": "1.2", "constant": "0.5", "rounding": "0.1"},
                                    actor="test")
    run = run_now(connector)
    assert run.status == RunStatus.SUCCEEDED
    retail = dict(Price.objects.for_tenant(tenant).filter(price_list__name="retail")
                  .values_list("product__sku", "net"))
    assert retail == {"P1": Decimal("12.5"), "P2": Decimal("24.5"), "P3": Decimal("36.5")}


def test_cancel_a_queued_run_and_refuse_to_cancel_a_finished_one(tenant: LocalTenant, stock_copy: Connector) -> None:
    run = do_enqueue_run(connector=stock_copy, actor="test")
    cancelled = do_cancel_run(run, actor="test")
    assert cancelled.status == RunStatus.CANCELLED
    assert execute_run(run.pk, heartbeat=False) is None  # nothing left to claim
    with pytest.raises(IntegrationError) as again:
        do_cancel_run(cancelled, actor="test")
    assert again.value.code == "not_cancellable"


def test_cancel_a_running_run_stops_it_at_the_next_checkpoint(tenant: LocalTenant, stock_copy: Connector) -> None:
    """Cancellation requested mid-run ends it cancelled, with what was done counted and no watermark."""
    make_products(tenant, 30)
    run = do_enqueue_run(connector=stock_copy, actor="test")
    from bindery.integration import runner

    original = runner.RunContext.checkpoint
    calls = {"n": 0}

    def cancel_on_second(self: runner.RunContext, **kwargs: int | None) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            do_cancel_run(Run.objects.for_tenant(tenant).get(pk=run.pk), actor="test")
        original(self, **kwargs)

    runner.RunContext.checkpoint = cancel_on_second  # type: ignore[method-assign]
    try:
        finished = execute_run(run.pk, heartbeat=False)
    finally:
        runner.RunContext.checkpoint = original  # type: ignore[method-assign]
    assert finished is not None
    assert finished.status == RunStatus.CANCELLED
    assert 0 < finished.progress_done < 30
    assert not Watermark.objects.for_tenant(tenant).exists()


def test_one_active_run_per_connector_and_procedure_is_a_database_rule(tenant: LocalTenant,
                                                                       stock_copy: Connector) -> None:
    """A second queued run is refused by the action and, bypassing it, by the database itself."""
    do_enqueue_run(connector=stock_copy, actor="test")
    with pytest.raises(IntegrationError) as busy:
        do_enqueue_run(connector=stock_copy, actor="test")
    assert busy.value.code == "already_running"
    with pytest.raises(IntegrityError), transaction.atomic():
        Run.objects.create(tenant=tenant, connector=stock_copy, status=RunStatus.RUNNING)
