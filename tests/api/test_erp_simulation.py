"""An ERP in another process, over TLS, against the real server: push 10,000 products, pull orders twice, ship.

The orders come from a (fake, stateful) WooCommerce shop, and the shipping update reaches that
shop through its order-upload connector, run by a real worker process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes.woocommerce import KEY, SECRET, fake_woocommerce
from tests.support.server import Platform, platform

ROOT = Path(__file__).resolve().parents[2]
PRODUCTS = 10_000
ORDERS = 40
pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def _module(plat: Platform, module: str, *args: str, timeout: float = 600) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-m", module, *args], env=plat.env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_an_erp_process_pushes_products_pulls_orders_twice_and_ships(tmp_path: Path) -> None:
    with fake_woocommerce() as shop, platform(tmp_path) as plat:
        placed = [shop.add_order(email=f"buyer{n % 7}@example.com", lines=[(f"ERP-{n:06d}", 1 + n % 3, "12.50")])
                  for n in range(ORDERS)]
        migrated = plat.bindery("migrate", "--quiet", timeout=300)
        assert migrated.returncode == 0, migrated.stderr
        setup = _module(plat, "tests.api.erp_scenario", "setup", shop.url, KEY, SECRET)
        plat.start("web")
        plat.start("worker", "--threads", "1")
        plat.wait_until_up()
        seen = _module(plat, "tests.api.erp_client", plat.url, str(plat.cert), json.dumps(setup), str(PRODUCTS))
        assert seen["push"] == [200, "success", PRODUCTS], (seen, plat.logs())
        assert seen["pulls"] == [ORDERS, 0]  # export once: the second pull is empty
        assert seen["content_type"] == "text/xml; charset=UTF-8"
        assert seen["shipping"] == [200, "success"], plat.logs()
        deadline = time.monotonic() + 180
        tracked: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            tracked = [shop.meta(order["id"]) for order in placed]
            if all(tracked):
                break
            time.sleep(1)
        assert all(tracked), plat.logs()
        numbers = sorted(str(value["tracking_number"]) for meta in tracked for value in meta.values())
        assert numbers == sorted(f"BRT{i:08d}" for i in range(ORDERS))
        assert {order["status"] for order in shop.orders.values()} == {"completed"}
        state = _module(plat, "tests.api.erp_scenario", "state")
        assert state["products"] == PRODUCTS
        assert state["with_stock"] == PRODUCTS
        assert state["shipments"] == ORDERS
        assert state["references"] >= ORDERS  # orders exported once, and each shipment uploaded once
        assert state["call_runs"] == ["succeeded"] * 4
        assert "succeeded" in state["upload_runs"]
