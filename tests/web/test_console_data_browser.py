"""The data pages in headless Chromium against the real HTTPS server, under the strict CSP.

A fresh demo tenant signs in, changes the demo password, creates a warehouse and a price list,
sees the helpful empty product list, then (after seeding a product and an order through the
actions with ``bindery manage shell``) the product list and an order's page. No page may log a
console error or a CSP violation. Screenshots land in the test's temporary folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import FirstRun, open_page, replace_password, serve_demo, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.server]

SEED = """
from decimal import Decimal
from bindery.control.models import LocalTenant
from bindery.catalog.actions import do_upsert_product
from bindery.catalog.payloads import PriceData, ProductData, StockData
from bindery.sales.actions import do_add_shipment, do_upsert_order
from bindery.sales.payloads import AddressPayload, CodePayload, CustomerPayload, OrderPayload, OrderRowPayload
from django.utils import timezone
tenant = LocalTenant.objects.get(slug="{slug}")
do_upsert_product(tenant, ProductData(sku="TEE-001", name="Organic cotton tee", barcode="8001234567890",
    quantity_available=12, stock=[StockData(warehouse="north", quantity=12)],
    prices=[PriceData(price_list="Retail EUR", net="16.39", gross="20.00", vat_rate="22")],
    variants=[ProductData(sku="TEE-001-M", name="Organic cotton tee M", quantity_available=5)]), actor="system:seed")
do_upsert_product(tenant, ProductData(sku="MUG-002", name="Enamel mug", quantity_available=0), actor="system:seed")
row = OrderRowPayload(sku="TEE-001", description="Organic cotton tee", quantity=Decimal(2),
    unit_price_net=Decimal("16.39"), unit_price_gross=Decimal("20.00"), vat_rate=Decimal(22),
    total_net=Decimal("32.78"), total_vat=Decimal("7.22"), total_gross=Decimal("40.00"))
result = do_upsert_order(tenant, OrderPayload(origin_node_id=None, channel_order_number="WEB-1001",
    created_on_channel=timezone.now(), currency="EUR", rows=(row,), net_total=Decimal("32.78"),
    vat_total=Decimal("7.22"), total=Decimal("40.00"), payment_total=Decimal("40.00"),
    customer=CustomerPayload(email="ada@example.com", name="Ada", surname="Lovelace"),
    billing_address=AddressPayload(name="Ada", surname="Lovelace", address_line1="1 Analytical Way",
        city="London", postal_code="N1 9GU", country="GB"),
    delivery_address=AddressPayload(name="Ada", surname="Lovelace", address_line1="1 Analytical Way",
        city="London", postal_code="N1 9GU", country="GB"),
    payment_method=CodePayload(code="card", name="Card")), actor="system:seed")
do_add_shipment(result.order, carrier="DHL", tracking_number="JD014600006", actor="system:seed")
print("ORDER", result.order.pk)
"""


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirstRun]:
    """A migrated platform with the demo tenant, served by ``bindery web``."""
    with serve_demo(tmp_path_factory.mktemp("console_data_browser")) as run:
        yield run


def test_data_pages_in_the_browser(browser: Browser, first_run: FirstRun, tmp_path: Path) -> None:
    """Create a warehouse and a price list, see the empty products hint, then seeded lists and an order."""
    url, demo = first_run.platform.url, first_run.demo
    errors: list[str] = []
    context, page = open_page(browser, errors, timeout=15_000)
    try:
        sign_in(page, url, demo, demo.password)
        replace_password(page, demo.password)

        page.get_by_role("navigation", name="Sections").get_by_role("link", name="Warehouses").click()
        expect(page.get_by_role("heading", name="Warehouses")).to_be_visible()
        page.get_by_label("Key").fill("north")
        page.get_by_label("Name").fill("North depot")
        with page.expect_navigation():
            page.get_by_role("button", name="Create warehouse").click()
        expect(page.get_by_role("status")).to_have_text("Warehouse north created.")
        expect(page.locator("table.grid")).to_contain_text("North depot")

        page.get_by_role("navigation", name="Sections").get_by_role("link", name="Price lists").click()
        page.get_by_label("Name").fill("Retail EUR")
        page.get_by_label("Currency").fill("eur")
        with page.expect_navigation():
            page.get_by_role("button", name="Create price list").click()
        expect(page.locator("table.grid")).to_contain_text("Retail EUR")

        page.get_by_role("navigation", name="Sections").get_by_role("link", name="Products").click()
        expect(page.locator("main")).to_contain_text("No products yet.")
        page.screenshot(path=tmp_path / "products_empty.png", full_page=True)

        seeded = first_run.platform.bindery("manage", "shell", "-c", SEED.format(slug=demo.workspace))
        assert seeded.returncode == 0, seeded.stderr + seeded.stdout
        order_id = seeded.stdout.split("ORDER", 1)[1].split()[0]

        page.reload()
        expect(page.locator("table.grid")).to_contain_text("TEE-001")
        page.screenshot(path=tmp_path / "products.png", full_page=True)
        page.get_by_role("link", name="TEE-001").click()
        expect(page.locator("main")).to_contain_text("Retail EUR")
        page.get_by_label("Quantity", exact=True).fill("9")
        with page.expect_navigation():
            page.get_by_role("button", name="Set stock").click()
        expect(page.get_by_role("status")).to_have_text("Stock of TEE-001 in north set.")
        page.screenshot(path=tmp_path / "product_detail.png", full_page=True)

        page.goto(f"{url}/sales/orders/{order_id}/")
        expect(page.locator("main")).to_contain_text("JD014600006")
        with page.expect_navigation():
            page.get_by_role("button", name="Mark").click()
        expect(page.locator("h1")).to_contain_text("marked")
        page.screenshot(path=tmp_path / "order_detail.png", full_page=True)

        # The order page showed Ada's address: the access log says so. Then Ada asks to be erased.
        page.get_by_role("link", name="Privacy", exact=True).click()
        expect(page.locator("#access-log")).to_contain_text(f"/sales/orders/{order_id}/")
        erase = page.locator("#erase-form")
        erase.get_by_label("The person's e-mail address").fill("ADA@example.com")
        erase.get_by_label("Reason").fill("request #77 by e-mail")
        erase.get_by_label("I understand this cannot be undone").check()
        with page.expect_navigation():
            erase.get_by_role("button", name="Erase").click()
        expect(page.get_by_role("status")).to_contain_text("Erased: 4 row(s)")
        expect(page.locator("#access-log")).to_contain_text("request #77 by e-mail")
        page.screenshot(path=tmp_path / "privacy.png", full_page=True)
        page.goto(f"{url}/sales/orders/{order_id}/")
        expect(page.locator("main")).to_contain_text("40.00")
        expect(page.locator("main")).not_to_contain_text("Lovelace")

        assert not errors, "console errors:\n" + "\n".join(errors)
    finally:
        context.close()
