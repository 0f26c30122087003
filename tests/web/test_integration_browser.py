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
from playwright.sync_api import Browser, ConsoleMessage, expect

from tests.support.server import platform
from tests.web.test_console_browser import CSP_REPORTER, NEW_PASSWORD, FirstRun, _sign_in, browser, parse_demo_output

pytestmark = [pytest.mark.browser, pytest.mark.server]
__all__ = ["browser"]  # the shared Chromium fixture

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
    with platform(tmp_path_factory.mktemp("integration_browser")) as plat:
        for args in (("migrate", "--quiet"),):
            done = plat.bindery(*args, timeout=300)
            assert done.returncode == 0, done.stderr + done.stdout
        demo = plat.bindery("demo")
        assert demo.returncode == 0, demo.stderr + demo.stdout
        credentials = parse_demo_output(demo.stdout)
        slug = credentials.workspace
        steps = [("manage", "shell", "-c", SEED.format(slug=slug)),
                 ("nodes", "create", "--tenant", slug, "--name", "hub", "--technology", "hub"),
                 ("connectors", "create", "--tenant", slug, "--name", "main to shop", "--node", "hub", "--type",
                  "stock_copy", "--differential", "--config",
                  '{"source_warehouse": "main", "target_warehouse": "shop", "batch_size": 10}'),
                 ("procedures", "create", "--tenant", slug, "--name", "stock sync", "--connectors", "main to shop",
                  "--every", "60")]
        for args in steps:
            done = plat.bindery(*args)
            assert done.returncode == 0, done.stderr + done.stdout
        plat.start("web")
        plat.wait_until_up()
        yield FirstRun(plat, credentials)


def test_run_a_procedure_from_the_console(browser: Browser, first_run: FirstRun, tmp_path: Path) -> None:
    url, demo = first_run.platform.url, first_run.demo
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    context.add_init_script(CSP_REPORTER)
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"{message.location.get('url') or page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: uncaught {exc}"))
    try:
        _sign_in(page, url, demo, demo.password)
        page.get_by_label("Old password").fill(demo.password)
        page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
        with page.expect_navigation():
            page.get_by_role("button", name="Change password").click()

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
