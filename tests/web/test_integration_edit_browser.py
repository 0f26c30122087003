"""Creating and editing nodes, connectors and procedures in headless Chromium, real HTTPS server.

One person's path through the pages, no script needed: a WooCommerce node with its secrets
(masked, kept when the field is left blank), a connector first refused with a field error then
saved, a procedure with three connectors reordered and one removed, then run by the real
runner in the order the page shows. Beside it: a viewer is refused the editing pages (403),
another tenant's ids are not found (404), hostile input gets a clear error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import DemoCredentials, FirstRun, open_page, replace_password, serve_demo, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.server]

VIEWER_PASSWORD = "meadow-copper-silently-83"
SEED = """
from bindery.accounts.actions import do_create_user
from bindery.catalog.actions import do_create_warehouse
from bindery.control.models import LocalTenant
tenant = LocalTenant.objects.get(slug="{slug}")
do_create_warehouse(tenant, "main", actor="system:seed")
do_create_warehouse(tenant, "shop", actor="system:seed")
do_create_user(tenant, "viewer@demo.example", "{viewer_password}", role="viewer", actor="system:seed")
"""
OTHER = """
from bindery.control.models import LocalTenant
from bindery.integration.actions import do_create_node
other = LocalTenant.objects.get(slug="globex")
print("OTHER-NODE", do_create_node(other, "globex node", "hub", actor="system:seed").pk)
"""
CREDENTIALS = """
from bindery.control.models import LocalTenant
from bindery.integration.actions import read_node_credentials
from bindery.integration.models import Node
node = Node.objects.for_tenant(LocalTenant.objects.get(slug="{slug}")).get(name="{name}")
print("SECRET-KEPT", read_node_credentials(node) == {{"consumer_key": "ck_browserkey1", "consumer_secret": "{secret}"}})
"""
STEPS = """
from bindery.control.models import LocalTenant
from bindery.integration.models import ProcedureStep
tenant = LocalTenant.objects.get(slug="{slug}")
print("STEPS", [s.connector.name for s in ProcedureStep.objects.for_tenant(tenant).order_by("position")])
"""


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirstRun]:
    def setup(demo: DemoCredentials) -> list[tuple[str, ...]]:
        return [("manage", "shell", "-c", SEED.format(slug=demo.workspace, viewer_password=VIEWER_PASSWORD)),
                ("tenants", "create", "globex", "--name", "Globex")]

    with serve_demo(tmp_path_factory.mktemp("integration_edit_browser"), setup) as run:
        yield run


def _shell(first_run: FirstRun, code: str, marker: str) -> str:
    done = first_run.platform.bindery("manage", "shell", "-c", code)
    assert done.returncode == 0, done.stderr + done.stdout
    found = re.search(rf"^{marker} (.*)$", done.stdout, re.MULTILINE)
    assert found, done.stdout
    return found.group(1)


def _save(page: Page, name: str) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=name).click()


def _new_connector(page: Page, url: str, node_id: str, name: str) -> None:
    page.goto(f"{url}/integration/nodes/{node_id}/connectors/new/")
    page.locator("input[name=type][value=stock_copy]").check()
    _save(page, "Continue")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Source Warehouse *").fill("main")
    page.get_by_label("Target Warehouse *").fill("shop")
    _save(page, "Create connector")
    expect(page.get_by_role("status")).to_have_text(f"Connector {name} created.")


def test_create_and_edit_nodes_connectors_and_procedures(browser: Browser, first_run: FirstRun,
                                                         tmp_path: Path) -> None:
    url, demo = first_run.platform.url, first_run.demo
    errors: list[str] = []
    # Refused forms answer 400 (and the WAF 403) on purpose; Chromium logs each such answer,
    # and after the WAF's bare page (no icon link) asks for /favicon.ico.
    context, page = open_page(browser, errors, height=1000, expected=lambda where, text: bool(
        re.search(r"status of (400|403) \(\)", text) or where.endswith("/favicon.ico")))
    try:
        sign_in(page, url, demo, demo.password)
        replace_password(page, demo.password)

        # A WooCommerce node with its secrets.
        page.get_by_role("navigation", name="Sections").get_by_role("link", name="Nodes").click()
        page.get_by_role("link", name="New node").click()
        page.locator("input[name=technology][value=woocommerce]").check()
        _save(page, "Continue")
        page.get_by_label("Name", exact=True).fill("Woo shop")
        page.get_by_label("Store Url *").fill("https://shop.example")
        page.get_by_label("Consumer Key *").fill("ck_browserkey1")
        page.get_by_label("Consumer Secret *").fill("cs_browsersecret1")
        _save(page, "Create node")
        expect(page.get_by_role("status")).to_have_text("Node Woo shop created.")
        expect(page.locator("#stored-credentials")).to_contain_text("consumer_secret ••••••")
        expect(page.get_by_label("Consumer Secret")).to_have_value("")
        assert "cs_browsersecret1" not in page.content()
        page.screenshot(path=tmp_path / "node.png", full_page=True)
        # Edit without re-entering the secrets: they are kept.
        page.get_by_label("Name", exact=True).fill("Woo shop EU")
        _save(page, "Save")
        expect(page.get_by_role("status")).to_have_text("Node Woo shop EU saved.")
        assert _shell(first_run, CREDENTIALS.format(slug=demo.workspace, name="Woo shop EU",
                                                    secret="cs_browsersecret1"), "SECRET-KEPT") == "True"

        # A hub node and a connector: refused with a field error first, nothing saved; then saved.
        page.goto(url + "/integration/nodes/new/?technology=hub")
        page.get_by_label("Name", exact=True).fill("Hub")
        _save(page, "Create node")
        hub_id = page.url.rstrip("/").rsplit("/", 1)[-1]
        page.get_by_role("link", name="Add connector").first.click()
        page.locator("input[name=type][value=stock_copy]").check()
        _save(page, "Continue")
        page.get_by_label("Name", exact=True).fill("copy A")
        page.get_by_label("Source Warehouse *").fill("main")
        page.get_by_label("Batch Size").fill("99999")
        _save(page, "Create connector")
        batch = page.locator(".field.invalid", has=page.get_by_label("Batch Size"))
        expect(batch).to_contain_text("less than or equal to 5000")
        expect(page.locator(".field.invalid", has=page.get_by_label("Target Warehouse *"))).to_contain_text(
            "Field required")
        page.screenshot(path=tmp_path / "connector_refused.png", full_page=True)
        listing = context.new_page()
        listing.goto(url + "/integration/connectors/")
        expect(listing.locator("main")).to_contain_text("No connectors yet")
        listing.close()
        page.get_by_label("Batch Size").fill("100")
        page.get_by_label("Target Warehouse *").fill("shop")
        page.get_by_label("Simulate").check()
        _save(page, "Create connector")
        expect(page.get_by_role("status")).to_have_text("Connector copy A created.")
        expect(page.get_by_label("Batch Size")).to_have_value("100")
        _new_connector(page, url, hub_id, "copy B")
        _new_connector(page, url, hub_id, "copy C")

        # A procedure with three steps, reordered, one removed.
        page.get_by_role("navigation", name="Sections").get_by_role("link", name="Procedures").click()
        page.get_by_role("link", name="New procedure").click()
        page.get_by_label("Name", exact=True).fill("nightly")
        page.get_by_label("Every (minutes)").fill("30")
        page.get_by_label("Alert e-mails").fill("ops@demo.example")
        window = page.get_by_role("group", name="Window 1")
        window.get_by_label("Mon").check()
        window.get_by_label("Fri").check()
        window.get_by_label("From (UTC)").fill("22:00")
        window.get_by_label("To (UTC)").fill("04:00")
        _save(page, "Create procedure")
        expect(page.get_by_role("status")).to_contain_text("Procedure nightly created.")
        for name in ("copy A", "copy B", "copy C"):
            page.get_by_label("Add a connector").select_option(label=f"{name} (Hub)")
            _save(page, "Add step")
        steps = page.locator("#steps tbody tr td:nth-child(2)")
        expect(steps).to_have_text(["copy A", "copy B", "copy C"])
        _save(page, "Move copy C up")
        _save(page, "Move copy C up")
        expect(steps).to_have_text(["copy C", "copy A", "copy B"])
        _save(page, "Move copy A down")
        expect(steps).to_have_text(["copy C", "copy B", "copy A"])
        _save(page, "Remove copy B")
        expect(steps).to_have_text(["copy C", "copy A"])
        page.screenshot(path=tmp_path / "procedure.png", full_page=True)
        assert _shell(first_run, STEPS.format(slug=demo.workspace), "STEPS") == "['copy C', 'copy A']"

        # The runner follows that order.
        page.get_by_role("navigation", name="Sections").get_by_role("link", name="Procedures").click()
        _save(page, "Run now")
        run_id = page.url.rstrip("/").rsplit("/", 1)[-1]
        executed = first_run.platform.bindery("runs", "execute", run_id)
        assert executed.returncode == 0, executed.stderr + executed.stdout
        page.reload()
        main = page.locator("main")
        expect(main).to_contain_text("Step 1/2: connector 'copy C'.")
        expect(main).to_contain_text("Step 2/2: connector 'copy A'.")

        # Delete asks first; a connector in a procedure is refused with the reason.
        page.goto(url + "/integration/connectors/")
        page.get_by_role("link", name="copy B").click()
        page.get_by_role("link", name="Delete copy B…").click()
        expect(page.locator("h1")).to_have_text("Delete connector copy B?")
        _save(page, "Yes, delete copy B")
        expect(page.get_by_role("status")).to_have_text("Connector copy B deleted.")

        # Hostile input: a clear error, nothing saved.
        page.goto(url + "/integration/procedures/new/")
        page.get_by_label("Name", exact=True).fill("<script>alert(1)</script>")
        page.get_by_label("Every (minutes)").fill("0")
        with page.expect_navigation() as navigation:
            page.get_by_role("button", name="Create procedure").click()
        assert navigation.value is not None
        assert navigation.value.status in (400, 403)  # 403: the WAF refused it first, fine too
        if navigation.value.status == 400:
            expect(page.get_by_label("Name", exact=True)).to_have_value("<script>alert(1)</script>")
        page.goto(url + "/integration/procedures/new/")
        page.get_by_label("Name", exact=True).fill("hourly")
        page.get_by_label("Every (minutes)").fill("0")
        _save(page, "Create procedure")
        expect(page.locator(".field.invalid", has=page.get_by_label("Every (minutes)"))).to_contain_text(
            "the interval is a whole number of minutes from 1 to 44640")
        assert _shell(first_run, STEPS.format(slug=demo.workspace), "STEPS") == "['copy C', 'copy A']"
        page.goto(url + "/integration/procedures/")
        expect(page.locator("table.grid tbody tr")).to_have_count(1)
        assert not errors, "console errors:\n" + "\n".join(errors)
    finally:
        context.close()


def test_a_viewer_gets_403_and_other_tenants_ids_404(browser: Browser, first_run: FirstRun) -> None:
    url, demo = first_run.platform.url, first_run.demo
    other_node = _shell(first_run, OTHER, "OTHER-NODE")
    context = browser.new_context(ignore_https_errors=True)
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        page.goto(url + "/login/")
        page.get_by_label("Workspace").fill(demo.workspace)
        page.get_by_label("E-mail").fill("viewer@demo.example")
        page.get_by_label("Password", exact=True).fill(VIEWER_PASSWORD)
        _save(page, "Sign in")
        for path in ("/integration/nodes/new/", "/integration/procedures/new/"):
            response = page.goto(url + path)
            assert response is not None
            assert response.status == 403, path
        response = page.goto(url + "/integration/nodes/")
        assert response is not None
        assert response.status == 200
        expect(page.get_by_role("link", name="New node")).to_have_count(0)
        for path in (f"/integration/nodes/{other_node}/", f"/integration/nodes/{other_node}/connectors/new/",
                     f"/integration/nodes/{other_node}/delete/"):
            response = page.goto(url + path)
            assert response is not None
            assert response.status == 404, path
    finally:
        context.close()
