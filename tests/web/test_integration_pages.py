"""Console pages of the integration engine: connectors, procedures, runs with progress, a run's log."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bindery.accounts.models import Role
from bindery.catalog.actions import do_create_warehouse
from bindery.control.models import LocalTenant
from bindery.integration.actions import do_create_connector, do_create_node, do_create_procedure, do_enqueue_run
from bindery.integration.models import Connector, Run, RunStatus
from bindery.integration.runner import execute_run
from tests.integration.conftest import make_products
from tests.web.console_data import signed_in

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def connector(tenant: LocalTenant) -> Connector:
    do_create_warehouse(tenant, "main", actor="test")
    do_create_warehouse(tenant, "shop", actor="test")
    make_products(tenant, 3)
    node = do_create_node(tenant, "hub", "hub", actor="test")
    made = do_create_connector(tenant, "main to shop", node, "stock_copy", differential=True,
                               config={"source_warehouse": "main", "target_warehouse": "shop"}, actor="test")
    do_create_procedure(tenant, "every hour", [made], actor="test")
    return made


def test_run_now_then_read_the_run_and_its_log(tenant: LocalTenant, connector: Connector) -> None:
    """An owner runs a connector from the console, lands on the run page, and reads counters and log."""
    client = signed_in(tenant)
    assert "main to shop" in client.get("/integration/connectors/").content.decode()
    response = client.post(f"/integration/connectors/{connector.pk}/run/")
    assert response.status_code == 302
    run = Run.objects.for_tenant(tenant).get()
    assert response["Location"] == f"/integration/runs/{run.pk}/"
    queued_page = client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' in queued_page  # a live page while the run is active
    execute_run(run.pk, heartbeat=False)
    page = client.get(f"/integration/runs/{run.pk}/").content.decode()
    assert "succeeded" in page
    assert "3 products to consider." in page
    assert '<progress value="3" max="3">' in page
    assert 'http-equiv="refresh"' not in page
    listing = client.get("/integration/runs/").content.decode()
    assert "<svg" in listing
    assert "main to shop: " in listing  # a chart bar's title
    assert "every hour" in client.get("/integration/procedures/").content.decode()


def test_list_pages_run_a_fixed_number_of_queries(tenant: LocalTenant, connector: Connector) -> None:
    """The runs and procedures pages cost the same with 1 or 12 runs."""
    client = signed_in(tenant)

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    execute_run(do_enqueue_run(connector=connector, actor="test").pk, heartbeat=False)
    few = {url: queries(url) for url in ("/integration/runs/", "/integration/procedures/")}
    for _ in range(11):
        execute_run(do_enqueue_run(connector=connector, actor="test").pk, heartbeat=False)
    assert {url: queries(url) for url in few} == few


def test_viewers_read_but_cannot_run_or_cancel(tenant: LocalTenant, connector: Connector) -> None:
    run = do_enqueue_run(connector=connector, actor="test")
    viewer = signed_in(tenant, Role.VIEWER)
    assert viewer.get("/integration/procedures/").status_code == 200
    assert "Run now" not in viewer.get("/integration/connectors/").content.decode()
    assert viewer.post(f"/integration/connectors/{connector.pk}/run/").status_code == 403
    assert viewer.post(f"/integration/runs/{run.pk}/cancel/").status_code == 403
    owner = signed_in(tenant)
    assert owner.post(f"/integration/runs/{run.pk}/cancel/").status_code == 302
    assert Run.objects.for_tenant(tenant).get(pk=run.pk).status == RunStatus.CANCELLED
    assert "already" in owner.post(f"/integration/runs/{run.pk}/cancel/", follow=True).content.decode()
