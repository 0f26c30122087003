"""WooCommerce nodes and connectors through the generic API and CLI (schemas, validation, runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bindery.control.models import LocalTenant
from bindery.integration.runner import execute_run
from bindery.security.actions import do_create_api_token
from tests.conftest import HttpsClient
from tests.fakes.woocommerce import KEY, SECRET, FakeWoo
from tests.integration.test_cli import ok, one_clear_line
from tests.test_cli import run

API = "/api/v1"


def call(client: HttpsClient, method: str, path: str, token: str, body: Any = None) -> Any:
    kwargs: dict[str, Any] = {"headers": {"token": token}}
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(client, method)(API + path, **kwargs)


@pytest.mark.django_db(databases="__all__")
def test_the_api_creates_validates_and_runs_woocommerce_connectors(client: HttpsClient, tenant: LocalTenant,
                                                                    shop: FakeWoo) -> None:
    token = do_create_api_token(tenant, "ops", ["integration:write"], actor="test")[1]
    technologies = call(client, "get", "/technologies", token).json()
    woo = next(t for t in technologies if t["key"] == "woocommerce")
    assert {c["key"] for c in woo["connector_types"]} == {"product_publish", "order_download", "order_upload"}
    assert set(woo["credentials_schema"]["properties"]) == {"consumer_key", "consumer_secret"}
    assert "store_url" in woo["settings_schema"]["required"]

    # By name: the application firewall refuses URLs with an IP literal in request bodies (rfi-ip-url).
    url = shop.url.replace("127.0.0.1", "localhost")
    refused = call(client, "post", "/nodes", token, {
        "name": "shop", "technology": "woocommerce", "settings": {"store_url": url},
        "credentials": {"consumer_key": KEY, "consumer_secret": SECRET}})
    assert refused.status_code == 422  # plain http without allow_private
    assert refused.json()["errors"][0]["field"] == "settings"
    assert SECRET.encode() not in refused.content
    created = call(client, "post", "/nodes", token, {
        "name": "shop", "technology": "woocommerce",
        "settings": {"store_url": url, "allow_private": True, "rate_per_second": 100},
        "credentials": {"consumer_key": KEY, "consumer_secret": SECRET}})
    assert created.status_code == 201, created.content
    assert created.json()["credentials"] == {"consumer_key": "••••••", "consumer_secret": "••••••"}
    assert SECRET.encode() not in created.content
    node_id = created.json()["id"]

    bad = call(client, "post", "/connectors", token, {"name": "orders", "node_id": node_id,
                                                      "connector_type": "order_download",
                                                      "config": {"per_page": 500, "colour": "red"}})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"config.per_page", "config.colour"}
    connector = call(client, "post", "/connectors", token, {"name": "orders", "node_id": node_id,
                                                            "connector_type": "order_download",
                                                            "differential": True})
    assert connector.status_code == 201, connector.content
    shop.add_order(email="a@example.com", lines=[("X", 1, "1.00")])
    queued = call(client, "post", f"/connectors/{connector.json()['id']}/run", token)
    assert queued.status_code == 202
    execute_run(queued.json()["id"], heartbeat=False)
    finished = call(client, "get", f"/runs/{queued.json()['id']}", token).json()
    assert (finished["status"], finished["counters"]["created"]) == ("succeeded", 1)


@pytest.fixture(scope="module")
def var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("woo-cli")
    for args in (("migrate", "--quiet"), ("demo",)):
        result = run(path, *args)
        assert result.returncode == 0, result.stderr
    return path


def test_the_cli_creates_a_node_from_a_credentials_file_and_runs_a_download(var: Path, tmp_path: Path,
                                                                            shop: FakeWoo) -> None:
    secrets = tmp_path / "woo.json"
    secrets.write_text(json.dumps({"consumer_key": KEY, "consumer_secret": SECRET}))
    settings = json.dumps({"store_url": shop.url, "allow_private": True, "rate_per_second": 100})
    one_clear_line(run(var, "nodes", "create", "--tenant", "demo", "--name", "shop", "--technology", "woocommerce",
                       "--settings", json.dumps({"store_url": shop.url}), "--credentials-file", str(secrets)),
                   "https")
    ok(run(var, "nodes", "create", "--tenant", "demo", "--name", "shop", "--technology", "woocommerce",
           "--settings", settings, "--credentials-file", str(secrets)))
    listed = ok(run(var, "nodes", "list", "--tenant", "demo"))
    assert "woocommerce" in listed
    assert SECRET not in listed
    ok(run(var, "connectors", "create", "--tenant", "demo", "--name", "orders", "--node", "shop",
           "--type", "order_download", "--config", '{"decrement_stock": false}'))
    shop.add_order(email="a@example.com", lines=[("X", 1, "1.00")])
    shop.add_order(email="b@example.com", lines=[("X", 1, "1.00")])
    done = ok(run(var, "connectors", "run", "--tenant", "demo", "orders", "--wait"))
    assert "succeeded" in done
    assert SECRET not in done
    assert any(path == "/wp-json/wc/v3/orders" for _, path in shop.requests)
