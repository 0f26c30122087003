"""The files technology through the engine: nodes, connectors and runs against real SFTP/FTP servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from defusedxml import ElementTree

from bindery.catalog.actions import do_create_price_list, do_create_warehouse
from bindery.catalog.models import Product
from bindery.control.models import LocalTenant
from bindery.integration.actions import do_create_connector, do_create_node, do_enqueue_run
from bindery.integration.models import Connector, Run, RunItemFailure, RunStatus
from bindery.integration.runner import execute_run
from bindery.security import envelope
from bindery.technologies.files.transports import tenant_root
from tests.sales.factories import order_payload, store
from tests.technologies.files.servers import PASSWORD, USER, ftp_server, sftp_server

pytestmark = pytest.mark.django_db(databases="__all__")

IMPORT = {"file": {"format": "csv"}, "pattern": "*.csv",
          "mapping": {"fields": {"sku": {"column": "sku"}, "name": {"column": "name"}},
                      "stock": [{"column": "qty", "warehouse": "main"}]}}


@pytest.fixture(autouse=True)
def _fresh_keyring() -> Iterator[None]:
    envelope.reset_keyring()
    yield
    envelope.reset_keyring()


@pytest.fixture
def catalog(tenant: LocalTenant) -> LocalTenant:
    do_create_warehouse(tenant, "main", actor="test")
    do_create_price_list(tenant, "retail", "EUR", actor="test")
    return tenant


def run_now(connector: Connector) -> Run:
    run = do_enqueue_run(connector=connector, actor="test")
    finished = execute_run(run.pk, heartbeat=False)
    assert finished is not None
    return finished


def test_sftp_product_import_connector(catalog: LocalTenant, tmp_path: Path) -> None:
    """A run imports each CSV once (counters and per-row failures recorded); the next run finds nothing."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("sku,name,qty\nA1,Pen,3\nA2,Pad,x\n")
    with sftp_server(tmp_path) as sftp:
        node = do_create_node(catalog, "erp sftp", "files", settings={
            "protocol": "sftp", "host": "127.0.0.1", "allow_private": True,
            "port": sftp.port, "username": USER, "folder": "in",
            "host_key": sftp.host_key, "timeout": 60}, credentials={"password": PASSWORD}, actor="test")
        connector = do_create_connector(catalog, "products from erp", node, "product_import", config=IMPORT,
                                        actor="test")
        first = run_now(connector)
        second = run_now(connector)
    assert first.status == RunStatus.SUCCEEDED, first.error
    assert (first.read_count, first.created_count, first.failed_count) == (2, 1, 1)
    failure = RunItemFailure.objects.for_tenant(catalog).get(run=first)
    assert (failure.item, failure.code, failure.field) == ("line 3", "mapping", "stock[0]")
    assert second.status == RunStatus.SUCCEEDED
    assert second.read_count == 0
    assert Product.objects.for_tenant(catalog).get(sku="A1").name == "Pen"
    assert len(list((tmp_path / "in" / "processed").iterdir())) == 1


def test_local_import_refuses_a_bad_file_and_fails_the_run(catalog: LocalTenant) -> None:
    folder = tenant_root(catalog.pk) / "drop"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bad.csv").write_bytes("sku,name\nA1,Caffè\n".encode("latin-1"))
    node = do_create_node(catalog, "drop", "files", settings={"protocol": "local", "folder": "drop"}, actor="test")
    config = {**IMPORT, "file": {"format": "csv", "csv": {"encoding": "utf-8"}}}
    run = run_now(do_create_connector(catalog, "drop import", node, "product_import", config=config, actor="test"))
    assert run.status == RunStatus.FAILED
    assert "bad.csv" in run.error
    assert not Product.objects.for_tenant(catalog).exists()
    assert len(list((folder / "failed").iterdir())) == 1


def test_order_export_connector_publishes_to_ftp(tenant: LocalTenant, tmp_path: Path) -> None:
    store(tenant, order_payload("1001"))
    with ftp_server(tmp_path) as ftp:
        node = do_create_node(tenant, "erp ftp", "files", settings={
            "protocol": "ftp", "host": "127.0.0.1", "allow_private": True,
            "port": ftp.port, "username": USER, "folder": "orders",
            "timeout": 60}, credentials={"password": PASSWORD}, actor="test")
        connector = do_create_connector(tenant, "orders to erp", node, "order_export",
                                        config={"format": "xml", "file_prefix": "ExportOrders"}, actor="test")
        run = run_now(connector)
    assert run.status == RunStatus.SUCCEEDED, run.error
    [published] = list((tmp_path / "orders").iterdir())
    assert published.name.startswith("ExportOrders-")
    root = ElementTree.parse(published).getroot()
    assert [d.findtext("General/Number") for d in root.findall("Document")] == ["1001"]


def test_node_settings_are_validated(tenant: LocalTenant) -> None:
    from bindery.integration.errors import IntegrationError

    with pytest.raises(IntegrationError) as caught:
        do_create_node(tenant, "bad", "files", settings={"protocol": "sftp", "host": "example.com"}, actor="test")
    assert "host key" in caught.value.message


def test_product_export_to_a_web_server_output_node_over_sftp(catalog: LocalTenant, tmp_path: Path) -> None:
    """A files connector with a web-server output node publishes there over SFTP, atomically, run after run."""
    from bindery.catalog.actions import do_bulk_upsert_products
    from bindery.catalog.payloads import ProductData

    do_bulk_upsert_products(catalog, [ProductData(sku=f"S{i}", name=f"N{i}") for i in range(5)], actor="test")
    hub_files = do_create_node(catalog, "local", "files", settings={"protocol": "local", "folder": "x"},
                               actor="test")
    with sftp_server(tmp_path) as sftp:
        web = do_create_node(catalog, "feeds", "web_server", settings={
            "protocol": "sftp", "host": "127.0.0.1", "allow_private": True,
            "port": sftp.port, "username": USER, "folder": "feeds",
            "host_key": sftp.host_key, "timeout": 60}, credentials={"password": PASSWORD}, actor="test")
        connector = do_create_connector(catalog, "feed", hub_files, "product_export", output_node=web,
                                        differential=True, config={"format": "json", "file_prefix": "Feed"},
                                        actor="test")
        first = run_now(connector)
        do_bulk_upsert_products(catalog, [ProductData(sku="S3", name="changed")], actor="test")
        second = run_now(connector)
    assert first.status == RunStatus.SUCCEEDED, first.error
    assert second.status == RunStatus.SUCCEEDED, second.error
    # The engine's delta overlap re-takes recently changed products; duplicates are harmless.
    assert first.read_count == 5
    assert 1 <= second.read_count <= 5
    files = sorted((tmp_path / "feeds").iterdir())
    assert len(files) in (1, 2)  # two runs in the same second share a name and the second replaces the first
    import json

    latest = {p["Code"]: p["Title"] for p in json.loads(files[-1].read_text())}
    assert latest["S3"] == "changed"


def test_simulated_import_moves_and_writes_nothing(catalog: LocalTenant) -> None:
    folder = tenant_root(catalog.pk) / "sim"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.csv").write_text("sku,name,qty\nA1,Pen,3\n")
    node = do_create_node(catalog, "sim", "files", settings={"protocol": "local", "folder": "sim"}, actor="test")
    run = run_now(do_create_connector(catalog, "sim import", node, "product_import", config=IMPORT, simulate=True,
                                      actor="test"))
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.created_count == 1
    assert not Product.objects.for_tenant(catalog).exists()
    assert sorted(p.name for p in folder.iterdir()) == ["a.csv"]
