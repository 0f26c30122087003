"""The integration pages in headless Chromium against the real HTTPS server and a real worker.

The demo tenant gets warehouses, products, a hub node, a connector and a procedure (through
``bindery`` commands); the browser runs the procedure from the console, watches the run page
refresh itself until the real worker finishes it, reads the log and sees the duration chart.
No page may log a console error or a CSP violation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import DemoCredentials, FirstRun, open_page, replace_password, serve_demo, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.server]

SEED = """
from bindery.catalog.actions import do_bulk_upsert_products, do_create_warehouse
from bindery.catalog.payloads import ProductData, StockData
from bindery.control.models import LocalTenant
tenant = LocalTenant.objects.get(slug="{slug}")
do_create_warehouse(tenant, "main", actor="system:seed")
do_create_warehouse(tenant, "shop", actor="system:seed")
do_bulk_upsert_products(tenant, [ProductData(sku=f"TEE-{{i}}", stock=[StockData("main", i)]) for i in range(25)],
                        actor="system:seed")
"""


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirstRun]:
    def setup(demo: DemoCredentials) -> list[tuple[str, ...]]:
        slug = demo.workspace
        return [("manage", "shell", "-c", SEED.format(slug=slug)),
                ("nodes", "create", "--tenant", slug, "--name", "hub", "--technology", "hub"),
                ("connectors", "create", "--tenant", slug, "--name", "main to shop", "--node", "hub", "--type",
                 "stock_copy", "--differential", "--config",
                 '{"source_warehouse": "main", "target_warehouse": "shop", "batch_size": 10}'),
                ("procedures", "create", "--tenant", slug, "--name", "stock sync", "--connectors", "main to shop",
                 "--every", "60")]

    with serve_demo(tmp_path_factory.mktemp("integration_browser"), setup) as run:
        yield run


def test_run_a_procedure_from_the_console(browser: Browser, first_run: FirstRun, tmp_path: Path) -> None:
    url, demo = first_run.platform.url, first_run.demo
    errors: list[str] = []
    context, page = open_page(browser, errors)
    try:
        sign_in(page, url, demo, demo.password)
        replace_password(page, demo.password)

        page.get_by_role("navigation", name="Sections").get_by_role("link", name="Procedures").click()
        expect(page.locator("table.grid")).to_contain_text("main to shop")
        with page.expect_navigation():
            page.get_by_role("button", name="Run now").click()
        expect(page.get_by_role("status")).to_have_text("Run of stock sync queued.")
        expect(page.locator("h1")).to_contain_text("queued")
        page.screenshot(path=tmp_path / "run_queued.png", full_page=True)

        first_run.platform.start("worker", "--threads", "1")
        # The page refreshes itself every 5 s while the run is active.
        expect(page.locator("h1")).to_contain_text("succeeded", timeout=150_000)
        expect(page.locator("main")).to_contain_text("25 products to consider.")
        expect(page.locator("main")).to_contain_text("Step 1/1: connector 'main to shop'.")
        page.screenshot(path=tmp_path / "run_succeeded.png", full_page=True)

        page.get_by_role("navigation", name="Sections").get_by_role("link", name="Runs").click()
        expect(page.locator("figure.chart svg rect.bar")).to_have_count(1)
        expect(page.locator("table.grid")).to_contain_text("stock sync")
        page.screenshot(path=tmp_path / "runs.png", full_page=True)
        assert not errors, "console errors:\n" + "\n".join(errors)
    finally:
        context.close()
