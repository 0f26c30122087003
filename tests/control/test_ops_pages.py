"""Operators' host pages and API: load against capacity, recommendations, placement, moves."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from bindery.accounts.models import User
from bindery.catalog.models import Product
from bindery.control.actions import do_create_tenant
from bindery.control.databases import alias_for_host
from bindery.control.hosts import do_add_host, ensure_local_host
from bindery.control.models import LocalTenant, Tenant
from bindery.control.moves import do_move_tenant
from tests.conftest import HttpsClient

pytestmark = pytest.mark.django_db(databases="__all__")


def _setup(host_database_url: Callable[[], str]) -> None:
    local = ensure_local_host()
    hot = do_add_host("hot", datacenter=local.datacenter, public_url="https://hot.example",
                      database_url=host_database_url(), capacity=4, actor="test")
    do_add_host("cold", datacenter=local.datacenter, public_url="https://cold.example",
                database_url=host_database_url(), capacity=100, actor="test")
    alias = alias_for_host(hot)
    for slug, n in (("t1", 1_000), ("t2", 3_000)):
        tenant = do_create_tenant(slug, slug, host=hot, actor="test")
        Product.objects.using(alias).bulk_create([Product(tenant_id=tenant.pk, sku=f"S{i}") for i in range(n)])


def test_hosts_page_shows_load_chart_recommendations_and_moves(
        ops_client: HttpsClient, tenant: LocalTenant, host_database_url: Callable[[], str]) -> None:
    _setup(host_database_url)
    do_move_tenant(Tenant.objects.get(pk=tenant.pk), do_add_host_target(host_database_url), actor="test")
    page = ops_client.get("/ops/hosts/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html
    assert "style=" not in html.split("<svg", 1)[1].split("</svg>", 1)[0]  # CSP: no inline styles
    assert "hot" in html
    assert "t2 (3000 products, 0 orders, 0.0 runs/day)" in html
    assert "Queue lag" in html
    assert "bindery tenants move t1 --to cold" in html
    assert "acme" in html  # the move table
    assert "done" in html


def do_add_host_target(host_database_url: Callable[[], str]) -> Any:
    local = ensure_local_host()
    return do_add_host("target", datacenter=local.datacenter, public_url="https://target.example",
                       database_url=host_database_url(), capacity=100, actor="test")


def test_operator_api(ops_client: HttpsClient, host_database_url: Callable[[], str]) -> None:
    _setup(host_database_url)
    body = ops_client.get("/ops/api/hosts").json()
    hot = next(h for h in body["hosts"] if h["name"] == "hot")
    assert hot["units"] == 4.0
    assert hot["hot"] is True
    assert [t["slug"] for t in hot["tenants"]] == ["t1", "t2"]
    assert hot["runs_per_day"] == 0
    assert hot["queue_lag_seconds"] == 0
    assert hot["lagging"] is False
    assert hot["pressure"] == 1.0
    assert {"runs_per_day", "queue_lag_seconds"} <= set(hot["tenants"][0])
    assert body["recommendations"][0]["tenant"] == "t1"
    assert "database" not in str(body).lower()  # no database URL ever leaves the control plane
    tenants = ops_client.get("/ops/api/tenants").json()["tenants"]
    assert {t["tenant"]: t["host"] for t in tenants} == {"t1": "hot", "t2": "hot"}
    assert ops_client.get("/ops/api/moves").json() == {"moves": []}
    assert ops_client.post("/ops/api/hosts").status_code == 405


def test_runs_and_queue_lag_on_the_page_and_api(ops_client: HttpsClient, tenant: LocalTenant) -> None:
    """A host whose runs wait shows its runs per day and its lag, and counts as hot."""
    from bindery.integration.models import Run
    from tests.control.runs import connectors, finished_runs, waiting_run

    local = ensure_local_host()
    copy, waiting = connectors(tenant, 2)
    finished_runs(tenant, copy, 13, age=dt.timedelta(days=1))
    waiting_run(tenant, waiting, queued=dt.timedelta(minutes=10))
    assert Run.objects.for_tenant(tenant).count() == 14
    body = ops_client.get("/ops/api/hosts").json()
    row = next(h for h in body["hosts"] if h["name"] == local.name)
    assert row["runs_per_day"] == 2.0
    assert 600 <= row["queue_lag_seconds"] < 700
    assert row["lagging"] is True
    assert row["hot"] is True
    assert row["tenants"][0]["runs_per_day"] == 2.0
    html = ops_client.get("/ops/hosts/").content.decode()
    assert "(behind)" in html
    assert "acme (0 products, 0 orders, 2.0 runs/day, oldest waiting run 6" in html


def test_tenant_users_and_strangers_are_kept_out(client: HttpsClient, owner: User) -> None:
    for path in ("/ops/api/hosts", "/ops/api/tenants", "/ops/api/moves"):
        assert client.get(path).status_code == 403
    page = client.get("/ops/hosts/")
    assert page.status_code == 302
    assert "/ops/login/" in page["Location"]
    client.force_login(owner, backend="bindery.accounts.backends.TenantUserBackend")
    assert client.get("/ops/api/hosts").status_code == 403
    assert client.get("/ops/hosts/").status_code == 302
