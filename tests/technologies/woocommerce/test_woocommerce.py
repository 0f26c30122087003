"""The WooCommerce technology through the engine, against the stateful fake shop on loopback."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bindery.catalog.actions import do_bulk_upsert_products
from bindery.catalog.models import Product, StockMovement
from bindery.catalog.payloads import AttributeValueData, PriceData, ProductData
from bindery.control.models import LocalTenant
from bindery.integration.actions import do_create_connector, do_create_node, do_enqueue_run, do_update_node
from bindery.integration.errors import IntegrationError
from bindery.integration.models import (
    Binding,
    Connector,
    ExportReference,
    Node,
    Run,
    RunItemFailure,
    RunLogLine,
    RunStatus,
)
from bindery.integration.runner import execute_run
from bindery.sales.access import access_order_by_channel_number
from bindery.sales.actions import do_add_shipment
from bindery.sales.models import Customer, Order
from tests.fakes.woocommerce import KEY, SECRET, FakeWoo, WooError

pytestmark = pytest.mark.django_db(databases="__all__")



def woo_node(tenant: LocalTenant, shop: FakeWoo, **settings: Any) -> Node:
    return do_create_node(tenant, "shop", "woocommerce",
                          settings={"store_url": shop.url, "allow_private": True, "rate_per_second": 100,
                                    "max_retry_after": 2, **settings},
                          credentials={"consumer_key": KEY, "consumer_secret": SECRET}, actor="test")


def run_now(connector: Connector) -> Run:
    run = do_enqueue_run(connector=connector, actor="test")
    finished = execute_run(run.pk, heartbeat=False)
    assert finished is not None
    return finished


def products(tenant: LocalTenant, count: int, *, start: int = 0, qty: int = 10) -> None:
    do_bulk_upsert_products(tenant, [
        ProductData(sku=f"P{n:04d}", name=f"Product {n}", quantity_available=qty,
                    prices=[PriceData("retail", net=Decimal("10.00"), gross=Decimal("12.20"), vat_rate=22)])
        for n in range(start, start + count)], actor="test")


PUBLISH = {"price_list": "retail"}


def log_of(tenant: LocalTenant, run: Run) -> list[str]:
    return list(RunLogLine.objects.for_tenant(tenant).filter(run=run).values_list("message", flat=True))


def test_publish_creates_in_batches_of_100_then_updates_without_duplicates(catalog: LocalTenant,
                                                                            shop: FakeWoo) -> None:
    products(catalog, 150)
    connector = do_create_connector(catalog, "publish", woo_node(catalog, shop), "product_publish", config=PUBLISH,
                                    actor="test")
    first = run_now(connector)
    assert first.status == RunStatus.SUCCEEDED, first.error
    assert (first.read_count, first.created_count, first.failed_count) == (150, 150, 0)
    assert len(shop.products) == 150
    assert shop.requests.count(("POST", "/wp-json/wc/v3/products/batch")) == 2
    sample = shop.product_by_sku("P0007")
    assert sample is not None
    assert (sample["regular_price"], sample["stock_quantity"], sample["manage_stock"]) == ("12.20", 10, True)
    assert Binding.objects.for_tenant(catalog).filter(entity_kind="product").count() == 150
    second = run_now(connector)
    assert (second.created_count, second.updated_count) == (0, 150)
    assert len(shop.products) == 150


def test_a_product_the_shop_already_has_is_bound_by_sku_not_duplicated(catalog: LocalTenant, shop: FakeWoo) -> None:
    products(catalog, 3)
    existing = shop._create_product({"name": "old", "sku": "P0001", "regular_price": "1.00"})
    connector = do_create_connector(catalog, "publish", woo_node(catalog, shop), "product_publish", config=PUBLISH,
                                    actor="test")
    run = run_now(connector)
    assert (run.created_count, run.updated_count) == (2, 1)
    assert len(shop.products) == 3
    assert shop.products[existing["id"]]["name"] == "Product 1"


def test_variable_products_publish_their_variations(catalog: LocalTenant, shop: FakeWoo) -> None:
    def variant(sku: str, size: str) -> ProductData:
        return ProductData(sku=sku, quantity_available=4, attributes=[AttributeValueData("Size", size)],
                           prices=[PriceData("retail", net=Decimal("20"), gross=Decimal("24.40"), vat_rate=22)])

    do_bulk_upsert_products(catalog, [ProductData(sku="SHIRT", name="Shirt",
                                                  variants=[variant("SHIRT-S", "S"), variant("SHIRT-M", "M")])],
                            actor="test")
    connector = do_create_connector(catalog, "publish", woo_node(catalog, shop), "product_publish", config=PUBLISH,
                                    actor="test")
    first = run_now(connector)
    assert first.status == RunStatus.SUCCEEDED, first.error
    parent = shop.product_by_sku("SHIRT")
    assert parent is not None
    assert parent["type"] == "variable"
    assert parent["attributes"] == [{"name": "Size", "options": ["M", "S"], "variation": True, "visible": True}]
    variations = shop.variations[parent["id"]]
    assert sorted((v["sku"], v["regular_price"], v["stock_quantity"], v["attributes"][0]["option"])
                  for v in variations.values()) == [("SHIRT-M", "24.40", 4, "M"), ("SHIRT-S", "24.40", 4, "S")]
    run_now(connector)
    assert len(shop.variations[parent["id"]]) == 2
    assert len(shop.products) == 1


def test_quantity_only_sends_stock_of_published_products_and_creates_nothing(catalog: LocalTenant,
                                                                              shop: FakeWoo) -> None:
    products(catalog, 2)
    node = woo_node(catalog, shop)
    run_now(do_create_connector(catalog, "publish", node, "product_publish", config=PUBLISH, actor="test"))
    products(catalog, 1, start=5)  # not on the shop yet
    do_bulk_upsert_products(catalog, [ProductData(sku="P0000", quantity_available=3, name="Renamed")], actor="test")
    quantity = do_create_connector(catalog, "stock", node, "product_publish", config={"mode": "quantity_only"},
                                   actor="test")
    before = len(shop.requests)
    run = run_now(quantity)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.updated_count, run.skipped_count, run.created_count) == (2, 1, 0)
    p0 = shop.product_by_sku("P0000")
    assert p0 is not None
    assert (p0["stock_quantity"], p0["name"]) == (3, "Product 0")
    assert shop.product_by_sku("P0005") is None
    assert [r for r in shop.requests[before:] if r[0] == "GET"] == []  # no lookups in quantity-only mode


def test_the_fake_refuses_batches_over_100_like_woocommerce(shop: FakeWoo) -> None:
    reply = httpx.post(f"{shop.url}/wp-json/wc/v3/products/batch", auth=(KEY, SECRET),
                       json={"create": [{"sku": f"S{n}"} for n in range(101)]})
    assert reply.status_code == 413
    assert reply.json()["code"] == "woocommerce_rest_request_entity_too_large"
    assert httpx.get(f"{shop.url}/wp-json/wc/v3/orders?per_page=101", auth=(KEY, SECRET)).status_code == 400
    assert httpx.get(f"{shop.url}/wp-json/wc/v3/orders", auth=(KEY, "cs_wrong")).status_code == 401


def test_config_and_settings_are_validated(tenant: LocalTenant, shop: FakeWoo) -> None:
    node = woo_node(tenant, shop)
    with pytest.raises(IntegrationError) as caught:
        do_create_connector(tenant, "x", node, "product_publish", config={"batch_size": 101}, actor="test")
    assert caught.value.field == "config.batch_size"
    with pytest.raises(IntegrationError) as caught:
        do_create_node(tenant, "plain", "woocommerce", settings={"store_url": "http://shop.example"},
                       credentials={"consumer_key": KEY, "consumer_secret": SECRET}, actor="test")
    assert "https" in caught.value.message
    with pytest.raises(IntegrationError) as caught:
        do_create_node(tenant, "badkey", "woocommerce", settings={"store_url": "https://shop.example"},
                       credentials={"consumer_key": "not-a-key", "consumer_secret": SECRET}, actor="test")
    assert caught.value.field == "credentials.consumer_key"
    assert "not-a-key" not in str(caught.value.errors)


def test_wrong_credentials_fail_the_run_without_showing_them(tenant: LocalTenant, shop: FakeWoo) -> None:
    node = woo_node(tenant, shop)
    wrong = "cs_" + "0" * 40
    do_update_node(node, credentials={"consumer_key": KEY, "consumer_secret": wrong}, actor="test")
    run = run_now(do_create_connector(tenant, "orders", node, "order_download", actor="test"))
    assert run.status == RunStatus.FAILED
    assert "HTTP 401 woocommerce_rest_cannot_view" in run.error
    assert wrong not in run.error
    assert KEY not in run.error


# --- orders ---------------------------------------------------------------------------------------


def test_order_download_dedupes_customers_and_decrements_stock_once(catalog: LocalTenant, shop: FakeWoo) -> None:
    products(catalog, 3)
    first = shop.add_order(email="ada@example.com", lines=[("P0000", 2, "10.00"), ("P0001", 1, "10.00")])
    shop.add_order(email="ADA@example.com", lines=[("P0000", 1, "10.00")])
    shop.add_order(email="bob@example.com", lines=[("P0002", 1, "10.00")], status="pending")
    connector = do_create_connector(catalog, "orders", woo_node(catalog, shop), "order_download", actor="test")
    run = run_now(connector)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.read_count, run.created_count, run.failed_count) == (3, 3, 0)
    assert Order.objects.for_tenant(catalog).count() == 3
    assert Customer.objects.for_tenant(catalog).count() == 2
    stock = dict(Product.objects.for_tenant(catalog).values_list("sku", "quantity_available"))
    assert stock == {"P0000": Decimal(7), "P0001": Decimal(9), "P0002": Decimal(10)}  # pending holds no stock
    order = access_order_by_channel_number(catalog, run.connector.node_id, str(first["id"]), for_write=False)
    assert (order.total, order.net_total, order.vat_total) == (Decimal("42.70"), Decimal("35.00"), Decimal("7.70"))
    # Downloaded again (full), and after the shop changed one order: nothing duplicated or decremented twice.
    shop.touch_order(first["id"], status="completed")
    again = run_now(connector)
    assert (again.created_count, again.updated_count, again.skipped_count) == (0, 1, 2)
    assert dict(Product.objects.for_tenant(catalog).values_list("sku", "quantity_available")) == stock
    assert StockMovement.objects.for_tenant(catalog).count() == 3
    assert Order.objects.for_tenant(catalog).count() == 3


def test_orders_changed_while_paging_are_not_skipped(catalog: LocalTenant, shop: FakeWoo) -> None:
    placed = [shop.add_order(email=f"c{n}@example.com", lines=[("X", 1, "1.00")]) for n in range(7)]

    def busy_shop(fake: FakeWoo, page: int) -> None:
        if page == 1:  # the buyer of the first order edits it while we read page 1
            # (stamped a minute ahead: the edit lands after this run's modified_before, whatever second it is)
            later = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
            fake.orders[placed[0]["id"]].update(customer_note="ring twice", date_modified_gmt=later)
            fake.on_orders_page = None

    shop.on_orders_page = busy_shop
    connector = do_create_connector(catalog, "orders", woo_node(catalog, shop), "order_download",
                                    config={"per_page": 2}, actor="test")
    run = run_now(connector)
    assert run.status == RunStatus.SUCCEEDED, run.error
    numbers = set(Order.objects.for_tenant(catalog).values_list("channel_order_number", flat=True))
    assert numbers == {str(o["id"]) for o in placed}
    assert any("changed while paging" in line for line in log_of(catalog, run))


def test_differential_download_asks_for_orders_modified_after_the_watermark(catalog: LocalTenant,
                                                                              shop: FakeWoo) -> None:
    shop.add_order(email="a@example.com", lines=[("X", 1, "1.00")])
    connector = do_create_connector(catalog, "orders", woo_node(catalog, shop), "order_download", differential=True,
                                    config={"overlap_seconds": 0}, actor="test")
    assert run_now(connector).created_count == 1
    second = run_now(connector)
    assert second.read_count <= 1
    assert second.created_count == 0
    assert second.differential_since is not None


def test_429_and_503_bursts_are_retried(catalog: LocalTenant, shop: FakeWoo) -> None:
    shop.add_order(email="a@example.com", lines=[("X", 1, "1.00")])
    shop.fail(429, 2, retry_after="0")
    shop.fail(503, 2)
    node = woo_node(catalog, shop)
    run = run_now(do_create_connector(catalog, "orders", node, "order_download", actor="test"))
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.created_count == 1
    retries = [m for m in log_of(catalog, run) if "retry" in m]
    assert len(retries) == 4
    assert "HTTP 429" in retries[0]
    assert "HTTP 503" in retries[2]


def test_exhausted_retries_fail_the_run_and_a_rerun_duplicates_nothing(catalog: LocalTenant, shop: FakeWoo) -> None:
    products(catalog, 120)
    node = woo_node(catalog, shop, retry_attempts=2)
    connector = do_create_connector(catalog, "publish", node, "product_publish", config=PUBLISH, actor="test")
    original = shop._batch
    state = {"broken": False}

    def second_batch_breaks(body: Any, create: Any, update: Any) -> Any:
        answer = original(body, create, update)
        if not state["broken"]:  # the first batch is in; the shop falls over for the next two requests
            state["broken"] = True
            shop.fail(503, 2)
        return answer

    shop._batch = second_batch_breaks  # type: ignore[method-assign]
    failed = run_now(connector)
    assert failed.status == RunStatus.FAILED
    assert "HTTP 503" in failed.error
    assert "after 2 attempts" in failed.error
    assert len(shop.products) == 100
    rerun = run_now(connector)
    assert rerun.status == RunStatus.SUCCEEDED, rerun.error
    assert (rerun.created_count, rerun.updated_count) == (20, 100)
    assert len(shop.products) == 120
    assert len({p["sku"] for p in shop.products.values()}) == 120


def test_a_batch_applied_but_not_acknowledged_is_not_duplicated_on_rerun(catalog: LocalTenant,
                                                                         shop: FakeWoo) -> None:
    """The shop saves the batch, then answers 500: the rerun finds the products by SKU and binds them."""
    products(catalog, 30)
    node = woo_node(catalog, shop, retry_attempts=1)
    connector = do_create_connector(catalog, "publish", node, "product_publish", config=PUBLISH, actor="test")
    original = shop._batch
    state = {"broken": True}

    def applied_then_500(body: Any, create: Any, update: Any) -> Any:
        result = original(body, create, update)
        if state["broken"]:
            state["broken"] = False
            raise WooError(500, "internal_server_error", "The shop timed out after saving.")
        return result

    shop._batch = applied_then_500  # type: ignore[method-assign]
    failed = run_now(connector)
    assert failed.status == RunStatus.FAILED
    assert "HTTP 500" in failed.error
    assert len(shop.products) == 30  # written remotely, unknown to us
    rerun = run_now(connector)
    assert rerun.status == RunStatus.SUCCEEDED, rerun.error
    assert (rerun.created_count, rerun.updated_count) == (0, 30)
    assert len(shop.products) == 30


def test_invalid_orders_are_recorded_per_item_and_the_rest_imported(catalog: LocalTenant, shop: FakeWoo) -> None:
    good = shop.add_order(email="a@example.com", lines=[("X", 1, "1.00")])
    bad = shop.add_order(email="b@example.com", lines=[("X", 1, "1.00")])
    shop.orders[bad["id"]]["total"] = "NaN"
    hostile = shop.add_order(email="c@example.com", lines=[("X", 1, "1.00")])
    shop.orders[hostile["id"]]["currency"] = "<script>"
    run = run_now(do_create_connector(catalog, "orders", woo_node(catalog, shop), "order_download", actor="test"))
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.created_count, run.failed_count) == (1, 2)
    assert set(RunItemFailure.objects.for_tenant(catalog).filter(run=run).values_list("item", flat=True)) == {
        str(bad["id"]), str(hostile["id"])}
    assert Order.objects.for_tenant(catalog).get().channel_order_number == str(good["id"])


# --- upload ---------------------------------------------------------------------------------------


def test_shipments_are_uploaded_once_with_status_and_tracking(catalog: LocalTenant, shop: FakeWoo) -> None:
    placed = shop.add_order(email="a@example.com", lines=[("X", 1, "1.00")])
    node = woo_node(catalog, shop)
    run_now(do_create_connector(catalog, "orders", node, "order_download", actor="test"))
    order = access_order_by_channel_number(catalog, node.pk, str(placed["id"]), for_write=False)
    shipment = do_add_shipment(order, carrier="BRT", tracking_number="BRT123456", actor="test")
    upload = do_create_connector(catalog, "tracking", node, "order_upload", actor="test")
    first = run_now(upload)
    assert first.status == RunStatus.SUCCEEDED, first.error
    assert first.updated_count == 1
    assert shop.orders[placed["id"]]["status"] == "completed"
    assert shop.meta(placed["id"])[f"_bindery_tracking_{shipment.pk}"]["tracking_number"] == "BRT123456"
    assert [n["note"] for n in shop.notes[placed["id"]]] == ["Shipped with BRT, tracking number BRT123456."]
    second = run_now(upload)
    assert (second.read_count, second.updated_count) == (0, 0)
    assert len(shop.notes[placed["id"]]) == 1
    assert ExportReference.objects.for_tenant(catalog).filter(connector=upload, entity_kind="shipment").count() == 1
    # A second parcel is sent on the next run, and only it.
    do_add_shipment(order, carrier="BRT", tracking_number="BRT999", actor="test")
    third = run_now(upload)
    assert third.updated_count == 1
    assert len(shop.notes[placed["id"]]) == 2
