"""``bindery datacenters|hosts|tenants``: provisioning and placement from the shell (real processes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BINDERY = [sys.executable, "-m", "bindery"]


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINDERY_")}
    env.update({"BINDERY_VAR_DIR": str(tmp_path / "var"), "BINDERY_QUEUE": "immediate"})
    return subprocess.run([*BINDERY, *args], env=env, capture_output=True, text=True, timeout=240,
                          stdin=subprocess.DEVNULL, check=False)


def ok(tmp_path: Path, *args: str) -> str:
    result = run(tmp_path, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def refused(tmp_path: Path, *args: str) -> str:
    result = run(tmp_path, *args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("bindery: ")
    return result.stderr


def test_provision_place_and_retire(tmp_path: Path) -> None:
    """Hosts are added with fresh databases, tenants go where the load is lowest, retire waits."""
    ok(tmp_path, "migrate", "--quiet")
    ok(tmp_path, "datacenters", "add", "fra1", "--country", "DE", "--latitude", "50.1", "--longitude", "8.7")
    assert "fra1" in ok(tmp_path, "datacenters", "list")
    db_a, db_b = tmp_path / "var" / "a.sqlite3", tmp_path / "var" / "b.sqlite3"
    out = ok(tmp_path, "hosts", "add", "eu-a", "--url", "https://a.example", "--database", f"sqlite:///{db_a}",
             "--datacenter", "fra1", "--capacity", "10")
    assert "migrated" in out
    assert db_a.exists()
    ok(tmp_path, "hosts", "add", "eu-b", "--url", "https://b.example", "--database", f"sqlite:///{db_b}",
       "--datacenter", "fra1", "--capacity", "10")
    assert "on host eu-a" in ok(tmp_path, "tenants", "create", "first", "--country", "de", "--host", "eu-a")
    # eu-a now has a tenant with no load yet: ties go by name, so load products to break it.
    import sqlite3
    import uuid

    with sqlite3.connect(db_a) as conn:
        tenant_id = conn.execute("SELECT id FROM control_localtenant WHERE slug = 'first'").fetchone()[0]
        conn.executemany(
            "INSERT INTO catalog_product (id, tenant_id, sku, name, language, barcode, barcode_type, manufacturer,"
            " mpn, supplier, supplier_code, description_html, short_description, notes, weight_unit,"
            " dimension_unit, quantity_available, quantity_arriving, featured, deleted, tags, created_at,"
            " modified_at) VALUES (?, ?, ?, '', '', '', '', '', '', '', '', '', '', '', 'kg', 'cm', 0, 0, 0, 0,"
            " '[]', '2026-01-01', '2026-01-01')",
            [(uuid.uuid4().hex, tenant_id, f"S{i}") for i in range(1500)])
    assert "on host eu-b" in ok(tmp_path, "tenants", "create", "second")
    listing = ok(tmp_path, "hosts", "list")
    assert "first(1500p/0o/0r)" in listing
    assert "second(0p/0o/0r)" in listing
    assert "RUNS/D" in listing
    assert "LAG" in listing
    assert "sqlite" not in listing  # database URLs are never printed
    assert "eu-a" in ok(tmp_path, "tenants", "list")
    assert "still serves 1 tenants (first)" in refused(tmp_path, "hosts", "retire", "eu-a")
    moved = ok(tmp_path, "tenants", "move", "first", "--to", "eu-b")
    assert "every table verified" in moved
    assert "already on eu-b" in refused(tmp_path, "tenants", "move", "first", "--to", "eu-b")
    assert "1 old copies pruned" in ok(tmp_path, "tenants", "prune-moved")
    with sqlite3.connect(db_a) as conn:
        assert conn.execute("SELECT count(*) FROM catalog_product").fetchone()[0] == 0
    with sqlite3.connect(db_b) as conn:
        assert conn.execute("SELECT count(*) FROM catalog_product").fetchone()[0] == 1500
    assert "0 tenants moved" in ok(tmp_path, "hosts", "drain", "eu-a")
    assert "retired" in ok(tmp_path, "hosts", "retire", "eu-a")
    assert "no active shared host in FR" in refused(tmp_path, "tenants", "create", "french", "--country", "FR")
    assert "no empty dedicated host" in refused(tmp_path, "tenants", "create", "solo", "--dedicated")
    assert "no host 'nope'" in refused(tmp_path, "tenants", "create", "x", "--host", "nope")
    assert "--plan" in refused(tmp_path, "tenants", "create", "x", "--plan", "gold")
    assert "does not exist" in refused(tmp_path, "hosts", "add", "bad", "--url", "https://c.example",
                                       "--database", f"sqlite:///{tmp_path}/no/dir/c.sqlite3", "--datacenter", "fra1")
    assert "not a number" in refused(tmp_path, "datacenters", "add", "x", "--country", "DE", "--latitude", "north")
