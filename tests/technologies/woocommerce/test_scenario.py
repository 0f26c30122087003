"""The canonical scenario of DOMAIN.md, end to end through one procedure and real servers.

ERP CSV on SFTP → hub → WooCommerce (the fake shop) → orders → hub → order file on FTP. Run it
again and nothing is duplicated; change one product in the ERP and a differential run moves
exactly that one.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest
from defusedxml import ElementTree

from bindery.catalog.actions import do_create_price_list, do_create_warehouse
from bindery.catalog.models import StockLevel
from bindery.control.models import LocalTenant
from bindery.integration.actions import do_create_connector, do_create_node, do_create_procedure, do_enqueue_run
from bindery.integration.models import Procedure, Run, RunStatus
from bindery.integration.runner import OVERLAP, execute_run
from bindery.sales.models import Customer, Order
from tests.fakes.woocommerce import KEY, SECRET, fake_woocommerce
from tests.technologies.files.servers import PASSWORD, USER, ftp_server, sftp_server

pytestmark = pytest.mark.django_db(databases="__all__")

CSV = "sku;name;qty;price\n" + "".join(f"ERP-{n};Item {n};{10 + n};{n}9.90\n" for n in range(1, 6))
IMPORT = {"file": {"format": "csv", "csv": {"delimiter": ";"}}, "pattern": "*.csv",
          "mapping": {"fields": {"sku": {"column": "sku"}, "name": {"column": "name"}},
                      "stock": [{"column": "qty", "warehouse": "main"}],
                      "prices": [{"column": "price", "price_list": "retail", "amount": "gross", "vat_rate": "22"}]}}


def run_procedure(procedure: Procedure) -> tuple[Run, dict[str, Run]]:
    run = execute_run(do_enqueue_run(procedure=procedure, actor="test").pk, heartbeat=False)
    assert run is not None
    steps = {step.connector.name: step for step in Run.objects.for_tenant(run.tenant_id).filter(parent=run)
             .select_related("connector")}
    return run, steps


def exported_numbers(folder: Path) -> list[str]:
    numbers = []
    for path in sorted(folder.iterdir()) if folder.exists() else []:
        root = ElementTree.parse(path).getroot()
        numbers += [d.findtext("General/Number") or "" for d in root.findall("Document")]
    return numbers


def test_erp_to_shop_to_erp(tenant: LocalTenant, tmp_path: Path) -> None:
    do_create_warehouse(tenant, "main", actor="test")
    do_create_price_list(tenant, "retail", "EUR", actor="test")
    sftp_root, ftp_root = tmp_path / "sftp", tmp_path / "ftp"
    (sftp_root / "in").mkdir(parents=True)
    ftp_root.mkdir()
    (sftp_root / "in" / "products-1.csv").write_text(CSV)
    with sftp_server(sftp_root) as sftp, ftp_server(ftp_root) as ftp, fake_woocommerce() as shop:
        erp_in = do_create_node(tenant, "erp sftp", "files", settings={
            "protocol": "sftp", "host": "127.0.0.1", "port": sftp.port, "username": USER, "folder": "in",
            "host_key": sftp.host_key, "timeout": 60, "allow_private": True}, credentials={"password": PASSWORD},
            actor="test")
        erp_out = do_create_node(tenant, "erp ftp", "files", settings={
            "protocol": "ftp", "host": "127.0.0.1", "port": ftp.port, "username": USER, "folder": "orders",
            "timeout": 60, "allow_private": True}, credentials={"password": PASSWORD}, actor="test")
        woo = do_create_node(tenant, "shop", "woocommerce", settings={
            "store_url": shop.url, "allow_private": True, "rate_per_second": 100, "max_retry_after": 1},
            credentials={"consumer_key": KEY, "consumer_secret": SECRET}, actor="test")
        steps = [
            do_create_connector(tenant, "1 import", erp_in, "product_import", config=IMPORT, actor="test"),
            do_create_connector(tenant, "2 publish", woo, "product_publish", differential=True,
                                config={"price_list": "retail", "warehouse": "main"}, actor="test"),
            do_create_connector(tenant, "3 orders", woo, "order_download", differential=True,
                                config={"warehouse": "main"}, actor="test"),
            do_create_connector(tenant, "4 export", erp_out, "order_export", differential=True,
                                config={"format": "xml", "file_prefix": "Orders"}, actor="test"),
        ]
        procedure = do_create_procedure(tenant, "erp and shop", steps, actor="test")

        # Run 1: the ERP's products reach the shop; no orders yet.
        run, step = run_procedure(procedure)
        assert run.status == RunStatus.SUCCEEDED, run.error
        assert step["1 import"].created_count == 5
        assert step["2 publish"].created_count == 5
        assert sorted((p["sku"], p["regular_price"], p["stock_quantity"]) for p in shop.products.values()) == [
            (f"ERP-{n}", f"{n}9.90", 10 + n) for n in range(1, 6)]

        # Buyers order; one buyer twice with her e-mail spelt differently. The shop is busy (429, 503).
        shop.add_order(email="ada@example.com", lines=[("ERP-1", 2, "10.00"), ("ERP-2", 1, "20.00")])
        shop.add_order(email="Ada@Example.com", lines=[("ERP-1", 1, "10.00")])
        shop.add_order(email="bob@example.com", lines=[("ERP-3", 3, "30.00")])
        shop.fail(429, 2, retry_after="1")
        shop.fail(503, 1)
        run, step = run_procedure(procedure)
        assert run.status == RunStatus.SUCCEEDED, run.error
        assert step["3 orders"].created_count == 3
        assert Order.objects.for_tenant(tenant).count() == 3
        assert Customer.objects.for_tenant(tenant).count() == 2
        stock = dict(StockLevel.objects.for_tenant(tenant).values_list("product__sku", "quantity"))
        assert stock == {"ERP-1": Decimal(8), "ERP-2": Decimal(11), "ERP-3": Decimal(10), "ERP-4": Decimal(14),
                         "ERP-5": Decimal(15)}
        assert sorted(exported_numbers(ftp_root / "orders")) == sorted(str(o) for o in shop.orders)

        # Run 3 (nothing new in the ERP or the shop): the decremented stock goes to the shop, nothing
        # is duplicated anywhere. (Waiting out the engine's differential overlap first, so that the
        # next differential window starts after this test's earlier writes, as it would in real use.)
        time.sleep(OVERLAP.total_seconds() + 1)
        run, step = run_procedure(procedure)
        assert run.status == RunStatus.SUCCEEDED, run.error
        assert step["1 import"].read_count == 0
        assert step["2 publish"].created_count == 0
        assert step["3 orders"].created_count == 0
        assert sorted((p["sku"], p["stock_quantity"]) for p in shop.products.values())[:3] == [
            ("ERP-1", 8), ("ERP-2", 11), ("ERP-3", 10)]
        assert len(shop.products) == 5
        assert Order.objects.for_tenant(tenant).count() == 3
        assert Customer.objects.for_tenant(tenant).count() == 2
        assert sorted(exported_numbers(ftp_root / "orders")) == sorted(str(o) for o in shop.orders)
        assert StockLevel.objects.for_tenant(tenant).get(product__sku="ERP-1").quantity == Decimal(8)

        # The ERP read the orders (its stock now agrees with the hub) and changes one product: the
        # differential publish moves exactly that one.
        erp_stock = {1: 8, 2: 11, 3: 10, 4: 14, 5: 15}
        changed_csv = "sku;name;qty;price\n" + "".join(
            f"ERP-{n};Item {n};{erp_stock[n]};{n}9.90\n" if n != 4 else "ERP-4;Item 4 new;14;45.00\n"
            for n in range(1, 6))
        (sftp_root / "in" / "products-2.csv").write_text(changed_csv)
        requests_before = len(shop.requests)
        run, step = run_procedure(procedure)
        assert run.status == RunStatus.SUCCEEDED, run.error
        assert (step["1 import"].read_count, step["1 import"].updated_count) == (5, 1)
        assert (step["2 publish"].read_count, step["2 publish"].created_count,
                step["2 publish"].updated_count) == (1, 0, 1)
        batch = [r for r in shop.requests[requests_before:] if r == ("POST", "/wp-json/wc/v3/products/batch")]
        assert len(batch) == 1
        changed = shop.product_by_sku("ERP-4")
        assert changed is not None
        assert (changed["name"], changed["regular_price"]) == ("Item 4 new", "45.00")
        assert len(shop.products) == 5
        assert sorted(exported_numbers(ftp_root / "orders")) == sorted(str(o) for o in shop.orders)
