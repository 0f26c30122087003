"""Console pages that create and edit nodes, connectors and procedures (in-process client).

The forms come from the technologies' schemas; every write goes through the integration
actions. Checked here: credentials are write-only and kept when left blank, configuration
errors land on their field with nothing saved, procedure steps are added, moved and removed
in the order the runner then uses, deletes need confirmation, roles and hostile input.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from bindery.accounts.models import Role
from bindery.catalog.actions import do_create_warehouse
from bindery.control.models import LocalTenant
from bindery.integration.actions import (
    do_create_connector,
    do_create_node,
    do_create_procedure,
    do_enqueue_run,
    read_node_credentials,
)
from bindery.integration.models import Connector, Node, Procedure, ProcedureStep, RunLogLine
from bindery.integration.runner import execute_run
from tests.conftest import HttpsClient
from tests.web.console_data import signed_in

pytestmark = pytest.mark.django_db(databases="__all__")

WOO = {"name": "Shop", "enabled": "on", "settings-store_url": "https://shop.example", "settings-verify_tls": "on",
       "settings-timeout": "30", "settings-rate_per_second": "5", "settings-retry_attempts": "5",
       "settings-max_retry_after": "60", "credentials-consumer_key": "ck_originalkey1",
       "credentials-consumer_secret": "cs_originalsecret1"}
STOCK_COPY = {"name": "copy", "enabled": "on", "config-batch_size": "50", "config-throttle_ms": "0",
              "config-source_warehouse": "main", "config-target_warehouse": "shop",
              "product_filter-include_variants": "on"}


def errors(response: Any) -> list[str]:
    """The error paragraphs of a page (what a person reads), for assertion messages."""
    return re.findall(r'class="error"[^>]*>([^<]*)<', response.content.decode())


def _hub_connectors(tenant: LocalTenant, count: int) -> list[Connector]:
    node = do_create_node(tenant, "hub", "hub", actor="test")
    return [do_create_connector(tenant, f"step-{i}", node, "stock_copy",
                                config={"source_warehouse": "main", "target_warehouse": "shop"}, actor="test")
            for i in range(count)]


def test_node_credentials_are_masked_and_kept_when_left_blank(tenant: LocalTenant) -> None:
    client = signed_in(tenant)
    chooser = client.get("/integration/nodes/new/")
    assert chooser.status_code == 200
    assert b"woocommerce" in chooser.content
    form = client.get("/integration/nodes/new/?technology=woocommerce")
    assert b'name="credentials-consumer_secret"' in form.content
    assert b'type="password"' in form.content
    created = client.post("/integration/nodes/new/", {**WOO, "technology": "woocommerce"})
    assert created.status_code == 302, errors(created)
    node = Node.objects.for_tenant(tenant).get(name="Shop")
    assert read_node_credentials(node) == {"consumer_key": "ck_originalkey1", "consumer_secret": "cs_originalsecret1"}
    page = client.get(created["Location"]).content.decode()
    assert "cs_originalsecret1" not in page
    assert "ck_originalkey1" not in page
    assert "consumer_secret</code> ••••••" in page
    # Save with the secrets left blank and a new name: the credentials stay as they were.
    edited = client.post(created["Location"], {**WOO, "name": "Shop 2", "credentials-consumer_key": "",
                                               "credentials-consumer_secret": ""})
    assert edited.status_code == 302
    node.refresh_from_db()
    assert node.name == "Shop 2"
    assert read_node_credentials(node)["consumer_secret"] == "cs_originalsecret1"
    # One secret typed in: only that one changes.
    client.post(created["Location"], {**WOO, "credentials-consumer_key": "",
                                      "credentials-consumer_secret": "cs_new12345"})
    node.refresh_from_db()
    assert read_node_credentials(node) == {"consumer_key": "ck_originalkey1", "consumer_secret": "cs_new12345"}
    # A too-short secret: field error, nothing changes (not even the name given with it).
    refused = client.post(created["Location"], {**WOO, "name": "Renamed", "credentials-consumer_key": "",
                                                "credentials-consumer_secret": "short"})
    assert refused.status_code == 400
    assert any("at least 8" in e or "must start with cs_" in e for e in errors(refused)), errors(refused)
    assert "short" not in refused.content.decode().split("<main", 1)[1].replace("too short", "")
    node.refresh_from_db()
    assert node.name == "Shop"
    assert read_node_credentials(node)["consumer_secret"] == "cs_new12345"


def test_hashed_credentials_need_every_field_to_change(tenant: LocalTenant) -> None:
    client = signed_in(tenant)
    created = client.post("/integration/nodes/new/", {"technology": "legacy_erp", "name": "ERP", "enabled": "on",
                                                      "credentials-login": "erp-user",
                                                      "credentials-password": "a long password 1"})
    assert created.status_code == 302
    refused = client.post(created["Location"], {"name": "ERP", "enabled": "on",
                                                "credentials-password": "another long password"})
    assert refused.status_code == 400
    assert "enter every credential field" in refused.content.decode()
    kept = client.post(created["Location"], {"name": "ERP", "enabled": "on"})
    assert kept.status_code == 302
    assert read_node_credentials(Node.objects.for_tenant(tenant).get())["login"] == "erp-user"


def test_connector_with_an_invalid_configuration_shows_field_errors_and_saves_nothing(tenant: LocalTenant) -> None:
    client = signed_in(tenant)
    node = do_create_node(tenant, "hub", "hub", actor="test")
    url = f"/integration/nodes/{node.pk}/connectors/new/"
    assert b"stock_copy" in client.get(url).content
    form = client.get(url + "?type=stock_copy").content.decode()
    assert 'name="config-source_warehouse"' in form
    assert 'name="product_filter-skus"' in form
    assert 'name="order_filter-statuses"' in form
    assert 'name="output_node"' in form
    bad = {**STOCK_COPY, "connector_type": "stock_copy", "config-batch_size": "99999", "config-target_warehouse": ""}
    refused = client.post(url, bad)
    assert refused.status_code == 400
    body = refused.content.decode()
    assert "less than or equal to 5000" in body
    assert "Field required" in body
    assert Connector.objects.for_tenant(tenant).count() == 0
    fixed = client.post(url, {**STOCK_COPY, "connector_type": "stock_copy", "simulate": "on", "differential": "on",
                              "product_filter-skus": "A\nB\n"})
    assert fixed.status_code == 302, errors(fixed)
    connector = Connector.objects.for_tenant(tenant).get()
    assert connector.order_filter == {"statuses": None, "created_from": None, "marked": None}  # "any", not False
    assert connector.config == {"batch_size": 50, "throttle_ms": 0, "source_warehouse": "main",
                                "target_warehouse": "shop"}
    assert connector.simulate
    assert connector.differential
    assert connector.product_filter["skus"] == ["A", "B"]
    # Edit: disable, and a bad JSON-free config value lands on its field
    edit = f"/integration/connectors/{connector.pk}/"
    page = client.get(edit).content.decode()
    assert 'value="main"' in page
    assert "A\nB</textarea>" in page
    refused = client.post(edit, {**STOCK_COPY, "config-throttle_ms": "soon"})
    assert refused.status_code == 400
    assert "valid integer" in refused.content.decode()
    saved = client.post(edit, {**STOCK_COPY, "enabled": "", "order_filter-marked": "false"})
    assert saved.status_code == 302
    connector.refresh_from_db()
    assert connector.order_filter["marked"] is False
    assert not connector.enabled
    assert not connector.simulate


def test_connector_options_the_type_lacks_are_refused_on_their_field(tenant: LocalTenant) -> None:
    client = signed_in(tenant)
    node = do_create_node(tenant, "api", "bindery_api", actor="test")
    refused = client.post(f"/integration/nodes/{node.pk}/connectors/new/",
                          {"connector_type": "import_documents", "name": "docs", "differential": "on"})
    assert refused.status_code == 400
    assert "has no differential mode" in refused.content.decode()
    assert not Connector.objects.for_tenant(tenant).exists()


def test_output_node_is_a_web_server_node_of_the_tenant(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    client = signed_in(tenant)
    node = do_create_node(tenant, "hub", "hub", actor="test")
    mine = do_create_node(tenant, "feeds", "web_server", actor="test")
    theirs = do_create_node(other_tenant, "their feeds", "web_server", actor="test")
    url = f"/integration/nodes/{node.pk}/connectors/new/"
    assert "their feeds" not in client.get(url + "?type=stock_copy").content.decode()
    refused = client.post(url, {**STOCK_COPY, "connector_type": "stock_copy", "output_node": str(theirs.pk)})
    assert refused.status_code == 400
    assert not Connector.objects.for_tenant(tenant).exists()
    client.post(url, {**STOCK_COPY, "connector_type": "stock_copy", "output_node": str(mine.pk)})
    assert Connector.objects.for_tenant(tenant).get().output_node == mine


def _steps(procedure: Procedure) -> list[str]:
    return list(ProcedureStep.objects.for_tenant(procedure.tenant_id).filter(procedure=procedure)
                .order_by("position").values_list("connector__name", flat=True))


def test_procedure_steps_are_added_reordered_and_removed_in_run_order(tenant: LocalTenant) -> None:
    client = signed_in(tenant)
    do_create_warehouse(tenant, "main", actor="test")
    do_create_warehouse(tenant, "shop", actor="test")
    first, second, third = _hub_connectors(tenant, 3)
    created = client.post("/integration/procedures/new/", {
        "name": "nightly", "enabled": "on", "interval_minutes": "30", "alert_emails": "Ops@Acme.example\n",
        "delay_alert_minutes": "15", "window-TOTAL_FORMS": "2", "window-INITIAL_FORMS": "0",
        "window-0-weekdays": ["0", "2"], "window-0-start": "22:00", "window-0-end": "04:00"})
    assert created.status_code == 302, errors(created)
    procedure = Procedure.objects.for_tenant(tenant).get()
    assert procedure.windows == [{"weekdays": [0, 2], "start": "22:00", "end": "04:00"}]
    assert procedure.alert_emails == ["ops@acme.example"]
    assert procedure.interval_minutes == 30
    steps = f"/integration/procedures/{procedure.pk}/steps/"
    for connector in (first, second, third):
        assert client.post(steps, {"change": "add", "connector": str(connector.pk)}).status_code == 302
    assert _steps(procedure) == ["step-0", "step-1", "step-2"]
    client.post(steps, {"change": "up", "connector": str(third.pk)})
    client.post(steps, {"change": "up", "connector": str(third.pk)})
    client.post(steps, {"change": "down", "connector": str(first.pk)})
    assert _steps(procedure) == ["step-2", "step-1", "step-0"]
    client.post(steps, {"change": "remove", "connector": str(second.pk)})
    assert _steps(procedure) == ["step-2", "step-0"]
    twice = client.post(steps, {"change": "add", "connector": str(third.pk)}, follow=True)
    assert "appears twice" in twice.content.decode()
    assert client.post(steps, {"change": "sideways", "connector": str(third.pk)}, follow=True).status_code == 200
    assert _steps(procedure) == ["step-2", "step-0"]
    page = client.get(f"/integration/procedures/{procedure.pk}/").content.decode()
    assert page.index("step-2") < page.index("step-0")
    run = execute_run(do_enqueue_run(procedure=procedure, actor="test").pk, heartbeat=False)
    assert run is not None
    assert run.status == "succeeded"
    lines = [line for line in RunLogLine.objects.for_tenant(tenant).filter(run=run).order_by("at", "id")
             .values_list("message", flat=True) if line.startswith("Step ")]
    assert lines == ["Step 1/2: connector 'step-2'.", "Step 2/2: connector 'step-0'."]


def test_procedure_window_errors_show_on_their_row(tenant: LocalTenant) -> None:
    client = signed_in(tenant)
    refused = client.post("/integration/procedures/new/", {
        "name": "bad", "enabled": "on", "interval_minutes": "0", "window-TOTAL_FORMS": "1",
        "window-INITIAL_FORMS": "0", "window-0-start": "10:00", "window-0-end": "10:00"})
    assert refused.status_code == 400
    assert not Procedure.objects.for_tenant(tenant).exists()
    refused = client.post("/integration/procedures/new/", {
        "name": "bad", "enabled": "on", "interval_minutes": "5", "window-TOTAL_FORMS": "1",
        "window-INITIAL_FORMS": "0", "window-0-start": "10:00", "window-0-end": "12:00"})
    assert refused.status_code == 400
    assert "List should have at least 1 item" in refused.content.decode()
    assert client.post("/integration/procedures/new/", {"name": "x", "interval_minutes": "5"}).status_code == 400


def test_deletes_ask_for_confirmation_and_refuse_what_is_in_use(tenant: LocalTenant) -> None:
    client = signed_in(tenant)
    [connector] = _hub_connectors(tenant, 1)
    procedure = do_create_procedure(tenant, "p", [connector], actor="test")
    node = connector.node
    confirm = client.get(f"/integration/nodes/{node.pk}/delete/")
    assert confirm.status_code == 200
    assert b"Yes, delete hub" in confirm.content
    assert client.post(f"/integration/nodes/{node.pk}/delete/").status_code == 400  # no confirmation
    in_use = client.post(f"/integration/nodes/{node.pk}/delete/", {"confirm": "yes"}, follow=True)
    assert "connectors use this node: step-0" in in_use.content.decode()
    in_use = client.post(f"/integration/connectors/{connector.pk}/delete/", {"confirm": "yes"}, follow=True)
    assert "procedures run this connector: p" in in_use.content.decode()
    assert client.post(f"/integration/procedures/{procedure.pk}/delete/", {"confirm": "yes"}).status_code == 302
    assert client.post(f"/integration/connectors/{connector.pk}/delete/", {"confirm": "yes"}).status_code == 302
    assert client.post(f"/integration/nodes/{node.pk}/delete/", {"confirm": "yes"}).status_code == 302
    assert not Node.objects.for_tenant(tenant).exists()
    assert not Procedure.objects.for_tenant(tenant).exists()


@pytest.mark.parametrize("role", [Role.VIEWER])
def test_a_member_without_the_permission_gets_403(tenant: LocalTenant, role: Role) -> None:
    [connector] = _hub_connectors(tenant, 1)
    procedure = do_create_procedure(tenant, "p", [], actor="test")
    client = signed_in(tenant, role)
    node_url = f"/integration/nodes/{connector.node.pk}/"
    page = client.get(node_url)  # readers see the node, disabled, without its secrets
    assert page.status_code == 200
    assert b"<fieldset disabled>" in page.content
    for url in ("/integration/nodes/new/", f"/integration/nodes/{connector.node.pk}/connectors/new/",
                "/integration/procedures/new/", f"{node_url}delete/"):
        assert client.get(url).status_code == 403, url
    posts: list[tuple[str, dict[str, Any]]] = [
        ("/integration/nodes/new/", {"technology": "hub", "name": "x"}),
        (node_url, {"name": "renamed"}),
        (f"/integration/connectors/{connector.pk}/", {**STOCK_COPY, "name": "renamed"}),
        (f"/integration/procedures/{procedure.pk}/steps/", {"change": "add", "connector": str(connector.pk)}),
        (f"/integration/procedures/{procedure.pk}/delete/", {"confirm": "yes"}),
    ]
    for url, body in posts:
        assert client.post(url, body).status_code == 403, url
    assert Node.objects.for_tenant(tenant).get().name == "hub"
    assert _steps(procedure) == []
    assert Procedure.objects.for_tenant(tenant).exists()


def test_other_tenants_ids_are_not_found(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    [theirs] = _hub_connectors(other_tenant, 1)
    their_procedure = do_create_procedure(other_tenant, "theirs", [theirs], actor="test")
    mine = do_create_procedure(tenant, "mine", [], actor="test")
    client = signed_in(tenant)
    for url in (f"/integration/nodes/{theirs.node.pk}/", f"/integration/connectors/{theirs.pk}/",
                f"/integration/procedures/{their_procedure.pk}/",
                f"/integration/nodes/{theirs.node.pk}/connectors/new/"):
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"name": "x"}).status_code == 404, url
    # Their connector as a step of my procedure: not found, nothing added.
    added = client.post(f"/integration/procedures/{mine.pk}/steps/", {"change": "add", "connector": str(theirs.pk)},
                        follow=True)
    assert "no connector" in added.content.decode()
    assert _steps(mine) == []
    assert _steps(their_procedure) == ["step-0"]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("name", "x" * 101, "at most 100 characters"),
    ("name", "bad\x00name", "Null characters are not allowed"),
    ("config-source_warehouse", "a" * 30_000, "at most 20000 characters"),
    ("product_filter-skus", "\n".join("S" for _ in range(3000)), "at most 2000 lines"),
])
def test_hostile_connector_input_gets_a_clear_error(tenant: LocalTenant, field: str, value: str,
                                                    message: str) -> None:
    client = signed_in(tenant)
    node = do_create_node(tenant, "hub", "hub", actor="test")
    response = client.post(f"/integration/nodes/{node.pk}/connectors/new/",
                           {**STOCK_COPY, "connector_type": "stock_copy", field: value})
    assert response.status_code in (400, 403), response.status_code  # 403: the WAF may refuse first
    if response.status_code == 400:
        assert message in response.content.decode()
    assert not Connector.objects.for_tenant(tenant).exists()


def test_script_tags_are_shown_as_text(tenant: LocalTenant) -> None:
    client: HttpsClient = signed_in(tenant)
    response = client.post("/integration/nodes/new/", {"technology": "hub", "name": "<script>alert(1)</script>",
                                                       "enabled": "on"}, follow=True)
    assert response.status_code in (200, 403)
    if response.status_code == 200:
        body = response.content.decode()
        assert "<script>alert(1)" not in body
        assert "&lt;script&gt;alert(1)" in body
    unknown = client.get("/integration/nodes/new/?technology=<script>x</script>")
    assert unknown.status_code in (400, 403)
    assert b"<script>x" not in unknown.content
