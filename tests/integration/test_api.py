"""Integration API: nodes, connectors, procedures and runs over HTTPS with scoped tokens."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bindery.control.models import LocalTenant
from bindery.integration.models import Node, Run, RunStatus
from bindery.integration.registry import Technology
from bindery.integration.runner import execute_run
from bindery.security.actions import do_create_api_token
from tests.conftest import HttpsClient
from tests.integration.conftest import SECRET, make_products

pytestmark = pytest.mark.django_db(databases="__all__")
API = "/api/v1"


@pytest.fixture
def headers(tenant: LocalTenant) -> dict[str, str]:
    return {"token": do_create_api_token(tenant, "ops", ["integration:write"], actor="test")[1]}


def call(client: HttpsClient, method: str, path: str, headers: dict[str, str], body: Any = None) -> Any:
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(client, method)(API + path, **kwargs)


def test_nodes_take_credentials_in_and_never_give_them_out(client: HttpsClient, headers: dict[str, str],
                                                           vault_technology: Technology) -> None:
    """POST stores credentials sealed; responses (create, read, list, patch) show masked field names only."""
    created = call(client, "post", "/nodes", headers, {
        "name": "vault", "technology": "vault_test", "settings": {"base_url": "https://v.example"},
        "credentials": {"api_key": "key-1234567890", "api_secret": SECRET}})
    assert created.status_code == 201, created.content
    node_id = created.json()["id"]
    assert created.json()["credentials"] == {"api_key": "••••••", "api_secret": "••••••"}
    for response in (call(client, "get", f"/nodes/{node_id}", headers), call(client, "get", "/nodes", headers),
                     call(client, "patch", f"/nodes/{node_id}", headers,
                          {"credentials": {"api_key": "key-0000000000", "api_secret": SECRET}})):
        assert response.status_code == 200, response.content
        assert SECRET.encode() not in response.content
        assert b"key-" not in response.content
    technologies = call(client, "get", "/technologies", headers).json()
    hub = next(t for t in technologies if t["key"] == "hub")
    assert {c["key"] for c in hub["connector_types"]} == {"stock_copy", "price_rule"}


def test_malformed_input_is_a_422_with_every_field_and_saves_nothing(client: HttpsClient, headers: dict[str, str],
                                                                     tenant: LocalTenant, hub_node: Node) -> None:
    bad = call(client, "post", "/connectors", headers, {
        "name": "x", "node_id": str(hub_node.pk), "connector_type": "stock_copy",
        "config": {"source_warehouse": "", "batch_size": 0, "typo": 1}})
    assert bad.status_code == 422, bad.content
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields == {"config.source_warehouse", "config.target_warehouse", "config.batch_size", "config.typo"}
    unknown_key = call(client, "post", "/nodes", headers, {"name": "n", "technology": "hub", "colour": "red"})
    assert unknown_key.status_code == 422
    assert unknown_key.json()["errors"][0]["field"] == "colour"
    wrong_type = call(client, "post", "/connectors", headers, {
        "name": "x", "node_id": str(hub_node.pk), "connector_type": "nope"})
    assert (wrong_type.status_code, wrong_type.json()["field"]) == (422, "connector_type")
    diff = call(client, "post", "/connectors", headers, {
        "name": "x", "node_id": str(hub_node.pk), "connector_type": "stock_copy", "simulate": "maybe"})
    assert diff.status_code == 422
    assert call(client, "get", "/connectors", headers).json()["items"] == []


def test_run_a_connector_read_progress_and_log(client: HttpsClient, headers: dict[str, str], tenant: LocalTenant,
                                               hub_node: Node, warehouses: None) -> None:
    """Run now answers 202 with the queued run; a second run now is 409; the finished run shows counters and log."""
    make_products(tenant, 3)
    created = call(client, "post", "/connectors", headers, {
        "name": "copy", "node_id": str(hub_node.pk), "connector_type": "stock_copy", "differential": True,
        "config": {"source_warehouse": "main", "target_warehouse": "shop"}})
    assert created.status_code == 201, created.content
    connector_id = created.json()["id"]
    queued = call(client, "post", f"/connectors/{connector_id}/run", headers)
    assert (queued.status_code, queued.json()["status"]) == (202, "queued")
    busy = call(client, "post", f"/connectors/{connector_id}/run", headers)
    assert (busy.status_code, busy.json()["code"]) == (409, "already_running")
    execute_run(queued.json()["id"], heartbeat=False)
    run = call(client, "get", f"/runs/{queued.json()['id']}", headers).json()
    assert (run["status"], run["counters"]["updated"], run["progress_done"], run["progress_total"]) == (
        "succeeded", 3, 3, 3)
    log = call(client, "get", f"/runs/{run['id']}/log", headers).json()
    assert any("3 products to consider" in line["message"] for line in log["lines"])
    assert call(client, "get", f"/connectors/{connector_id}", headers).json()["watermark"] is not None
    listed = call(client, "get", "/runs?status=succeeded", headers).json()["items"]
    assert [r["id"] for r in listed] == [run["id"]]
    finished = call(client, "post", f"/runs/{run['id']}/cancel", headers)
    assert (finished.status_code, finished.json()["code"]) == (409, "not_cancellable")


def test_procedures_create_reorder_run_and_cancel(client: HttpsClient, headers: dict[str, str], tenant: LocalTenant,
                                                  stock_copy: Any, hub_node: Node) -> None:
    other = call(client, "post", "/connectors", headers, {
        "name": "prices", "node_id": str(hub_node.pk), "connector_type": "price_rule",
        "config": {"source_price_list": "a", "target_price_list": "b"}}).json()
    created = call(client, "post", "/procedures", headers, {
        "name": "sync", "connector_ids": [str(stock_copy.pk), other["id"]], "interval_minutes": 5,
        "windows": [{"weekdays": [0, 1], "start": "08:00", "end": "12:00"}]})
    assert created.status_code == 201, created.content
    procedure_id = created.json()["id"]
    reordered = call(client, "patch", f"/procedures/{procedure_id}", headers,
                     {"connector_ids": [other["id"], str(stock_copy.pk)]})
    assert reordered.json()["connector_ids"] == [other["id"], str(stock_copy.pk)]
    bad_window = call(client, "patch", f"/procedures/{procedure_id}", headers,
                      {"windows": [{"weekdays": [1], "start": "9", "end": "10:00"}]})
    assert (bad_window.status_code, bad_window.json()["field"]) == (422, "procedure.windows.0.start")
    queued = call(client, "post", f"/procedures/{procedure_id}/run", headers).json()
    cancelled = call(client, "post", f"/runs/{queued['id']}/cancel", headers)
    assert cancelled.json()["status"] == "cancelled"
    assert Run.objects.for_tenant(tenant).get(pk=queued["id"]).status == RunStatus.CANCELLED


def test_deletes_refuse_what_is_in_use_then_remove(client: HttpsClient, headers: dict[str, str],
                                                   tenant: LocalTenant, stock_copy: Any, hub_node: Node) -> None:
    procedure = call(client, "post", "/procedures", headers, {"name": "p", "connector_ids": [str(stock_copy.pk)]})
    procedure_id = procedure.json()["id"]
    node_in_use = call(client, "delete", f"/nodes/{hub_node.pk}", headers)
    assert (node_in_use.status_code, node_in_use.json()["code"]) == (409, "in_use")
    connector_in_use = call(client, "delete", f"/connectors/{stock_copy.pk}", headers)
    assert (connector_in_use.status_code, connector_in_use.json()["code"]) == (409, "in_use")
    queued = call(client, "post", f"/procedures/{procedure_id}/run", headers).json()
    running = call(client, "delete", f"/procedures/{procedure_id}", headers)
    assert (running.status_code, running.json()["code"]) == (409, "already_running")
    call(client, "post", f"/runs/{queued['id']}/cancel", headers)
    for path in (f"/procedures/{procedure_id}", f"/connectors/{stock_copy.pk}", f"/nodes/{hub_node.pk}"):
        assert call(client, "delete", path, headers).status_code == 204, path
        assert call(client, "get", path, headers).status_code == 404, path
    assert not Node.objects.for_tenant(tenant).exists()


def test_other_tenants_and_narrow_tokens_see_nothing(client: HttpsClient, tenant: LocalTenant,
                                                     other_tenant: LocalTenant, stock_copy: Any) -> None:
    """Another tenant's token gets 404 for our ids and empty lists; a catalog-only token gets 403."""
    theirs = {"token": do_create_api_token(other_tenant, "x", ["integration:write"], actor="test")[1]}
    node_id = stock_copy.node_id
    for path in (f"/nodes/{node_id}", f"/connectors/{stock_copy.pk}"):
        assert call(client, "get", path, theirs).status_code == 404
    assert call(client, "post", f"/connectors/{stock_copy.pk}/run", theirs).status_code == 404
    assert call(client, "patch", f"/nodes/{node_id}", theirs, {"name": "stolen"}).status_code == 404
    assert call(client, "get", "/connectors", theirs).json()["items"] == []
    narrow = {"token": do_create_api_token(tenant, "cat", ["catalog:write"], actor="test")[1]}
    assert call(client, "get", "/nodes", narrow).status_code == 403
    reader = {"token": do_create_api_token(tenant, "r", ["integration:read"], actor="test")[1]}
    assert call(client, "get", "/nodes", reader).status_code == 200
    assert call(client, "post", f"/connectors/{stock_copy.pk}/run", reader).status_code == 403


def test_hostile_configs_get_a_bounded_answer_and_save_nothing(client: HttpsClient, headers: dict[str, str],
                                                               hub_node: Node) -> None:
    """500 unknown keys: a 422 listing the first 50 problems and a count, not an echo of them all;
    100,000 keys: more values than the firewall inspects on this route, refused 413 before any
    parsing (decision 0006); deep nesting: 400."""
    big = {"name": "x", "node_id": str(hub_node.pk), "connector_type": "stock_copy",
           "config": {f"k{i}": i for i in range(500)}}
    response = call(client, "post", "/connectors", headers, big)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert len(errors) == 51
    assert errors[-1] == {"field": "config", "message": "and 452 more errors"}
    assert len(response.content) < 10_000
    huge = {**big, "config": {f"k{i}": i for i in range(100_000)}}
    refused = call(client, "post", "/connectors", headers, huge)
    assert refused.status_code == 413
    assert refused.json()["code"] == "not_inspected"
    assert len(refused.content) < 10_000
    nesting = "[" * 50_000 + "]" * 50_000
    deep = f'{{"name": "x", "node_id": "{hub_node.pk}", "connector_type": "stock_copy", "config": {nesting}}}'
    nested = client.post(API + "/connectors", deep, content_type="application/json", headers=headers)
    assert nested.status_code == 400
    assert call(client, "get", "/connectors", headers).json()["items"] == []


def test_passive_connectors_show_their_url_and_nodes_open_a_webhook_inbox(client: HttpsClient,
                                                                          headers: dict[str, str]) -> None:
    node = call(client, "post", "/nodes", headers, {"name": "erp-api", "technology": "bindery_api"}).json()
    connector = call(client, "post", "/connectors", headers,
                     {"name": "erp-orders", "node_id": node["id"], "connector_type": "export_orders"}).json()
    assert connector["url"].startswith("GET https://")
    assert connector["url"].endswith(f"/api/connectors/{connector['id']}/orders")
    inbox = call(client, "post", f"/nodes/{node['id']}/webhook-secret", headers, {"scheme": "standard"})
    assert inbox.status_code == 201
    assert inbox.json()["secret"].startswith("whsec_")
    assert inbox.json()["url"].endswith(f"/api/webhooks/{node['id']}")
    given = call(client, "post", f"/nodes/{node['id']}/webhook-secret", headers,
                 {"scheme": "woocommerce", "secret": "the-shop-secret-value"})
    assert given.status_code == 201
    assert given.json()["secret"] is None
    bad = call(client, "post", f"/nodes/{node['id']}/webhook-secret", headers, {"scheme": "ftp"})
    assert bad.status_code == 422
