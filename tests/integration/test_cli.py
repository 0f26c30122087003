"""`bindery nodes|connectors|procedures|runs|keys` on a real migrated var folder."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from tests.test_cli import run


@pytest.fixture(scope="module")
def var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("integration-cli")
    for args in (("migrate", "--quiet"), ("demo",)):
        result = run(path, *args)
        assert result.returncode == 0, result.stderr
    return path


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def one_clear_line(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode == 1, result
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert text in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_build_and_run_a_procedure_from_the_shell(var: Path) -> None:
    """Create a node, a connector (bad config refused with its field), a procedure; run it; read the log."""
    ok(run(var, "nodes", "create", "--tenant", "demo", "--name", "hub", "--technology", "hub"))
    assert "hub" in ok(run(var, "nodes", "list", "--tenant", "demo"))
    one_clear_line(run(var, "connectors", "create", "--tenant", "demo", "--name", "copy", "--node", "hub",
                       "--type", "stock_copy", "--config", '{"source_warehouse": "a", "target_warehouse": "a"}'),
                   "source and target warehouse must differ")
    one_clear_line(run(var, "connectors", "create", "--tenant", "demo", "--name", "copy", "--node", "hub",
                       "--type", "stock_copy", "--config", "{oops"), "--config is not valid JSON")
    ok(run(var, "connectors", "create", "--tenant", "demo", "--name", "copy", "--node", "hub", "--type",
           "stock_copy", "--differential", "--config", '{"source_warehouse": "a", "target_warehouse": "b"}'))
    ok(run(var, "procedures", "create", "--tenant", "demo", "--name", "nightly", "--connectors", "copy",
           "--every", "30"))
    assert "copy" in ok(run(var, "procedures", "list", "--tenant", "demo"))
    failed = run(var, "procedures", "run", "--tenant", "demo", "nightly", "--wait")
    assert failed.returncode == 1
    assert "source warehouse 'a' does not exist" in failed.stdout
    listed = ok(run(var, "runs", "list", "--tenant", "demo"))
    run_id = listed.strip().splitlines()[1].split()[-1]
    shown = ok(run(var, "runs", "show", "--tenant", "demo", run_id))
    assert "Step 1/1: connector 'copy'" in shown
    one_clear_line(run(var, "runs", "cancel", "--tenant", "demo", run_id), "the run has already failed")
    assert "Enqueued 1 procedures" in ok(run(var, "runs", "tick"))  # first due at creation
    assert "Enqueued 0 procedures" in ok(run(var, "runs", "tick"))  # next time is in 30 minutes
    assert "Deleted 0 finished runs older than 30 days." in ok(run(var, "runs", "prune"))
    one_clear_line(run(var, "nodes", "delete", "--tenant", "demo", "hub"), "connectors use this node: copy")
    one_clear_line(run(var, "connectors", "delete", "--tenant", "demo", "copy"), "procedures run this connector")
    one_clear_line(run(var, "procedures", "delete", "--tenant", "demo", "nightly"), "is queued or running")


def test_keys_rotate_generates_a_private_key_file(var: Path) -> None:
    out = ok(run(var, "keys", "rotate", "--generate"))
    assert "added to" in out
    assert "re-wrapped" in out
    key_file = var / "var" / "master_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_text().split()) == 2
    one_clear_line(run(var, "keys", "rotate", "--generate", BINDERY_MASTER_KEY="A" * 43), "BINDERY_MASTER_KEY is set")


def test_developer_api_node_token_url_and_webhook_inbox_from_the_shell(var: Path) -> None:
    """An API node, a node token, a connector URL and a webhook inbox, each printed once and usable."""
    ok(run(var, "nodes", "create", "--tenant", "demo", "--name", "erp-api", "--technology", "bindery_api"))
    ok(run(var, "connectors", "create", "--tenant", "demo", "--name", "erp-orders", "--node", "erp-api",
           "--type", "export_orders"))
    url = ok(run(var, "connectors", "url", "--tenant", "demo", "erp-orders"))
    assert url.startswith("GET https://")
    assert url.strip().endswith("/orders")
    created = ok(run(var, "tokens", "create", "--tenant", "demo", "--name", "erp", "--scopes", "sales:read",
                     "--node", "erp-api"))
    assert "bnd_" in created
    one_clear_line(run(var, "tokens", "create", "--tenant", "demo", "--name", "x", "--scopes", "sales:read",
                       "--node", "hub"), "tokens belong to bindery_api, logistics nodes")
    one_clear_line(run(var, "connectors", "url", "--tenant", "demo", "copy"), "it has no URL to call")
    inbox = ok(run(var, "nodes", "webhook-secret", "--tenant", "demo", "erp-api", "--scheme", "standard"))
    assert "/api/webhooks/" in inbox
    assert "whsec_" in inbox
