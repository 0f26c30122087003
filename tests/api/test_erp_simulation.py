"""An ERP in another process, over TLS, against the real server: push 10,000 products, pull orders twice, ship."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
    with platform(tmp_path) as plat:
        migrated = plat.bindery("migrate", "--quiet", timeout=300)
        assert migrated.returncode == 0, migrated.stderr
        setup = _module(plat, "tests.api.erp_scenario", "setup", str(ORDERS))
        plat.start("web")
        plat.wait_until_up()
        seen = _module(plat, "tests.api.erp_client", plat.url, str(plat.cert), json.dumps(setup), str(PRODUCTS))
        assert seen["push"] == [200, "success", PRODUCTS], (seen, plat.logs())
        assert seen["pulls"] == [ORDERS, 0]  # export once: the second pull is empty
        assert seen["content_type"] == "text/xml; charset=UTF-8"
        assert seen["shipping"] == [200, "success"]
        state = _module(plat, "tests.api.erp_scenario", "state")
        assert state["products"] == PRODUCTS
        assert state["with_stock"] == PRODUCTS
        assert state["shipments"] == ORDERS
        assert state["references"] == ORDERS
        assert state["runs"] == ["succeeded"] * 4
