"""The files technology through the engine: a local-folder node, a product import connector, real runs."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bindery.catalog.models import Product, StockLevel
from bindery.control.models import LocalTenant
from bindery.integration.actions import do_create_connector, do_create_node, do_enqueue_run, do_update_connector
from bindery.integration.errors import IntegrationError
from bindery.integration.models import Connector, Node, Run, RunItemFailure, RunStatus
from bindery.integration.runner import execute_run
from bindery.technologies.files.transports import tenant_root

pytestmark = pytest.mark.django_db(databases="__all__")

CONFIG: dict[str, Any] = {
    "file": {"format": "csv", "csv": {"delimiter": ";"}, "limits": {"min_bytes": 40}},
    "mapping": {"fields": {"sku": {"column": "Code"}, "name": {"column": "Title"}},
                "stock": [{"column": "Qty", "warehouse": "main"}]},
    "pattern": "*.csv",
}
CSV = "Code;Title;Qty\nTEE-1;Organic tee;5\nTEE-2;Linen tee;7\nMUG-1;Enamel mug;0\n"


@pytest.fixture
def folder(tenant: LocalTenant) -> Path:
    path = tenant_root(tenant.pk) / "in"
    path.mkdir(parents=True, exist_ok=True)
    for old in path.rglob("*.csv"):
        old.unlink()
    return path


@pytest.fixture
def importer(tenant: LocalTenant, warehouses: None, folder: Path) -> Connector:
    node = do_create_node(tenant, "erp folder", "files", settings={"transport": "local", "folder": "in"},
                          actor="test")
    return do_create_connector(tenant, "erp products", node, "product_import", config=CONFIG, actor="test")


def run_now(connector: Connector) -> Run:
    run = execute_run(do_enqueue_run(connector=connector, actor="test").pk, heartbeat=False)
    assert run is not None
    return run


def test_a_file_is_imported_once_and_filed(tenant: LocalTenant, importer: Connector, folder: Path) -> None:
    """The CSV's products and stock arrive; the file moves to processed/; a second run finds nothing new."""
    (folder / "products.csv").write_text(CSV, encoding="utf-8")
    first = run_now(importer)
    assert first.status == RunStatus.SUCCEEDED, first.error
    assert (first.read_count, first.created_count) == (3, 3)
    stock = dict(StockLevel.objects.for_tenant(tenant).values_list("product__sku", "quantity"))
    assert stock == {"TEE-1": Decimal(5), "TEE-2": Decimal(7), "MUG-1": Decimal(0)}
    assert not (folder / "products.csv").exists()
    assert [p.name.endswith("products.csv") for p in (folder / "processed").iterdir()] == [True]
    second = run_now(importer)
    assert (second.status, second.read_count) == (RunStatus.SUCCEEDED, 0)
    assert Product.objects.for_tenant(tenant).count() == 3


def test_truncated_file_fails_the_run_and_applies_nothing(tenant: LocalTenant, importer: Connector,
                                                          folder: Path) -> None:
    (folder / "cut.csv").write_text("Code;Title;Qty\nTEE", encoding="utf-8")
    run = run_now(importer)
    assert run.status == RunStatus.FAILED
    assert "cut.csv" in run.error
    assert not Product.objects.for_tenant(tenant).exists()
    assert len(list((folder / "failed").iterdir())) == 1


def test_bad_rows_are_recorded_and_the_rest_imported(tenant: LocalTenant, importer: Connector,
                                                     folder: Path) -> None:
    (folder / "rows.csv").write_text(CSV + f"BAD-1;{'x' * 300};1\n", encoding="utf-8")
    run = run_now(importer)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.created_count, run.failed_count) == (3, 1)
    failure = RunItemFailure.objects.for_tenant(tenant).get(run=run)
    assert failure.item == "BAD-1"
    assert "rows.csv" in failure.message


def test_simulation_moves_no_file_and_writes_nothing(tenant: LocalTenant, importer: Connector, folder: Path) -> None:
    (folder / "products.csv").write_text(CSV, encoding="utf-8")
    do_update_connector(importer, simulate=True, actor="test")
    run = run_now(importer)
    assert (run.status, run.simulate, run.created_count) == (RunStatus.SUCCEEDED, True, 3)
    assert not Product.objects.for_tenant(tenant).exists()
    assert (folder / "products.csv").exists()


def test_node_and_config_errors_name_their_fields(tenant: LocalTenant, warehouses: None) -> None:
    with pytest.raises(IntegrationError) as sftp:
        do_create_node(tenant, "sftp", "files", settings={"transport": "sftp", "host": "example.com"},
                       credentials={"password": "hunter2-hunter2"}, actor="test")
    assert "host key" in sftp.value.message
    node = do_create_node(tenant, "local", "files", settings={"folder": "in"}, actor="test")
    with pytest.raises(IntegrationError) as bad:
        do_create_connector(tenant, "x", node, "product_import",
                            config={**CONFIG, "pattern": "../*", "batch_size": 0}, actor="test")
    assert {e.field for e in bad.value.errors} == {"config.pattern", "config.batch_size"}
    with pytest.raises(IntegrationError) as differential:
        do_create_connector(tenant, "x", node, "product_import", config=CONFIG, differential=True, actor="test")
    assert differential.value.field == "differential"
    assert isinstance(node, Node)


def test_import_from_a_real_sftp_server_with_sealed_credentials(tenant: LocalTenant, warehouses: None,
                                                                tmp_path: Path) -> None:
    """An SFTP node (pinned host key, password sealed) imports the CSV the loopback server holds; a wrong
    password fails the run with a clear error that never quotes the password."""
    from tests.technologies.files.servers import PASSWORD, USER, sftp_server

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "products.csv").write_text(CSV, encoding="utf-8")
    with sftp_server(tmp_path) as server:
        settings = {"transport": "sftp", "host": "127.0.0.1", "port": server.port, "username": USER,
                    "host_key": server.host_key, "folder": "in"}
        wrong = do_create_node(tenant, "sftp wrong", "files", settings=settings,
                               credentials={"password": "not-the-password-123"}, actor="test")
        failed = run_now(do_create_connector(tenant, "wrong", wrong, "product_import", config=CONFIG, actor="test"))
        assert failed.status == RunStatus.FAILED
        assert "not-the-password-123" not in failed.error
        node = do_create_node(tenant, "sftp", "files", settings=settings, credentials={"password": PASSWORD},
                              actor="test")
        run = run_now(do_create_connector(tenant, "sftp products", node, "product_import", config=CONFIG,
                                          actor="test"))
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.created_count == 3
    assert Product.objects.for_tenant(tenant).count() == 3
    assert len(list((tmp_path / "in" / "processed").iterdir())) == 1
