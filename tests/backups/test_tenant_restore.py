"""Restoring one tenant from a host backup into another host, end to end in real processes.

A fresh install (on the suite's engine) gets a tenant with customers and orders; its host is
backed up; one person is erased (journaled); the tenant is restored from the backup into a
second host: the copy is verified, the directory points there, the erased person is erased
again and the order totals are what they were. Then the tenant is purged and its backups may
no longer be restored, and a whole-host restore drops its rows.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]

SETUP = """
from decimal import Decimal
from bindery.control.actions import do_create_tenant
from bindery.control.models import LocalTenant
from bindery.sales.payloads import CustomerPayload
from tests.sales.factories import order_payload, store
do_create_tenant("acme", "Acme Ltd", actor="test")
acme = LocalTenant.objects.get(slug="acme")
store(acme, order_payload("1001"))
store(acme, order_payload("1002", shipping_net="9.00"))
store(acme, order_payload("1003", customer=CustomerPayload(email="anna.bianchi@example.com", name="Anna",
                                                             surname="Bianchi", country="IT")))
"""

# Prints what the tenant looks like on the host it is placed on (through the directory).
REPORT = """
import json
from bindery.control.databases import alias_for_host
from bindery.control.models import LocalTenant, Placement, Tenant
from bindery.sales.models import Address, Customer, Order
tenant = Tenant.objects.filter(slug="acme").first()
if tenant is None:
    print("REPORT " + json.dumps({"tenant": None}))
else:
    placement = Placement.objects.select_related("host").get(tenant=tenant)
    db = alias_for_host(placement.host)
    local = LocalTenant.objects.using(db).get(pk=tenant.pk)
    print("REPORT " + json.dumps({
        "host": placement.host.name, "epoch": placement.epoch, "local_epoch": local.epoch, "fenced": local.fenced,
        "emails": sorted(Customer.objects.using(db).for_tenant(tenant.pk).values_list("email", flat=True)),
        "address_names": sorted(Address.objects.using(db).for_tenant(tenant.pk).values_list("surname", flat=True)),
        "totals": sorted(str(t) for t in Order.objects.using(db).for_tenant(tenant.pk).values_list("total", flat=True)),
        "orders": Order.objects.using(db).for_tenant(tenant.pk).count(),
    }))
"""


def _pg_base() -> str | None:
    url = os.environ.get("BINDERY_HOST_DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture
def install(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a fresh install on the suite's engine (its own databases, dropped after)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINDERY_")}
    env.update(BINDERY_VAR_DIR=str(tmp_path / "var"), BINDERY_QUEUE="immediate",
               BINDERY_BACKUP_TARGET=str(tmp_path / "offsite"), PYTHONPATH=str(ROOT))
    base = _pg_base()
    made: list[str] = []
    if base:
        import psycopg

        prefix = "bt_" + uuid.uuid4().hex[:10]
        made = [f"{prefix}_c", f"{prefix}_h", f"{prefix}_h2"]
        with psycopg.connect(_with_db(base, "postgres"), autocommit=True) as conn:
            for name in made[:2]:
                conn.execute(f'CREATE DATABASE "{name}"')
        env.update(BINDERY_CONTROL_DATABASE_URL=_with_db(base, made[0]),
                   BINDERY_HOST_DATABASE_URL=_with_db(base, made[1]))
        env["SECOND_HOST_URL"] = _with_db(base, made[2])
    else:
        env["SECOND_HOST_URL"] = f"sqlite:///{tmp_path / 'eu2.sqlite3'}"
    yield env
    if made and base:
        import psycopg

        with psycopg.connect(_with_db(base, "postgres"), autocommit=True) as conn:
            for name in made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _bindery(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "bindery", *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False, cwd=ROOT)
    if check and done.returncode != 0:
        raise AssertionError(f"bindery {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def _report(env: dict[str, str]) -> dict[str, object]:
    out = _bindery(env, "manage", "shell", "-c", REPORT).stdout
    line = next(line for line in out.splitlines() if line.startswith("REPORT "))
    return dict(json.loads(line[len("REPORT "):]))


def test_tenant_restored_into_another_host_is_verified_and_erased_again(install: dict[str, str], tmp_path: Path):
    env = install
    _bindery(env, "migrate", "--quiet")
    _bindery(env, "manage", "shell", "-c", SETUP)
    _bindery(env, "hosts", "add", "eu-2", "--url", "https://eu-2.example", "--database", env["SECOND_HOST_URL"],
             "--datacenter", "local")
    before = _report(env)
    assert before["host"] == "local"
    assert "Mario.Rossi@example.com" in before["emails"]
    assert before["orders"] == 3

    _bindery(env, "backup", "run")
    erased = _bindery(env, "privacy", "erase", "--tenant", "acme", "--email", "mario.rossi@example.com",
                      "--reason", "customer asked").stdout
    assert "Erased" in erased
    erased_state = _report(env)
    assert "Mario.Rossi@example.com" not in erased_state["emails"]

    restored = _bindery(env, "backup", "restore-tenant", "host-local", "--tenant", "acme", "--to-host", "eu-2")
    assert "rows verified" in restored.stdout, restored.stdout
    after = _report(env)
    assert (after["host"], after["epoch"], after["local_epoch"], after["fenced"]) == ("eu-2", 2, 2, False)
    assert after["orders"] == 3
    assert after["totals"] == before["totals"]  # accounting values unchanged
    # The backup held Mario; the journal replay erased him again on the new host. Anna stays.
    assert "Mario.Rossi@example.com" not in after["emails"]
    assert "anna.bianchi@example.com" in after["emails"]
    assert after["address_names"] == erased_state["address_names"]  # his order addresses blank again
    assert "erased again" in restored.stdout
    listed = _bindery(env, "backup", "list").stdout
    assert "host-local/" in listed

    # A whole-host restore of the backup taken before the erasure erases the person again too.
    whole, (marios, annas) = _restore_whole(
        env, tmp_path, "SELECT count(*) FROM sales_customer WHERE email_index = ''",
        "SELECT count(*) FROM sales_customer WHERE email_index <> ''")
    # E-mails are encrypted: count by the blind index, which erasure blanks with the e-mail.
    assert (marios, annas) == (1, 1)  # Mario's row blanked again, Anna's kept
    assert "Erasure journal replayed:" in whole
    assert "0 row(s) erased again" not in whole

    # The old host's copy is fenced at the new epoch: it takes no more writes.
    fenced = _bindery(env, "manage", "shell", "-c",
                      "from bindery.control.models import LocalTenant;"
                      "t = LocalTenant.objects.get(slug='acme'); print('FENCED', t.fenced, t.epoch)").stdout
    assert "FENCED True 2" in fenced

    # A control backup and an unknown host are refused.
    refused = _bindery(env, "backup", "restore-tenant", "control", "--tenant", "acme", "--to-host", "local",
                       check=False)
    assert refused.returncode == 1
    assert "not a host backup" in refused.stderr
    assert _bindery(env, "backup", "restore-tenant", "host-local", "--tenant", "acme", "--to-host", "nowhere",
                    check=False).returncode == 1

    # Purge: the backup catalog's index refuses to bring the tenant back from any backup ...
    assert "Pruned acme from local" in _bindery(env, "tenants", "prune-moved").stdout
    _bindery(env, "tenants", "move", "acme", "--to", "local")
    purge = _bindery(env, "privacy", "purge-tenant", "acme", "--confirm", "acme", "--reason", "contract ended").stdout
    assert "backup" in purge.lower()
    refused = _bindery(env, "backup", "restore-tenant", "host-local", "--tenant", "acme", "--to-host", "eu-2",
                       check=False)
    assert refused.returncode == 1
    assert "purged" in refused.stderr
    # ... and a whole-host restore of a backup taken before the purge removes its rows.
    whole, (left, orders) = _restore_whole(
        env, tmp_path, "SELECT count(*) FROM control_localtenant WHERE slug = 'acme'",
        "SELECT count(*) FROM sales_order")
    assert "1 purged tenant(s) removed" in whole, whole
    assert (left, orders) == (0, 0)


def _restore_whole(env: dict[str, str], tmp_path: Path, *queries: str) -> tuple[str, list[object]]:
    """``bindery backup restore host-local`` into a new database; return its output and the queries' answers."""
    if _pg_base():
        import psycopg

        name = "bt_" + uuid.uuid4().hex[:10] + "_r"
        base = env["BINDERY_HOST_DATABASE_URL"]
        with psycopg.connect(_with_db(base, "postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            out = _bindery(env, "backup", "restore", "host-local", "--to", _with_db(base, name)).stdout
            with psycopg.connect(_with_db(base, name)) as conn:
                return out, [conn.execute(q).fetchone()[0] for q in queries]  # type: ignore[index]
        finally:
            with psycopg.connect(_with_db(base, "postgres"), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    path = tmp_path / f"whole-{uuid.uuid4().hex[:6]}.sqlite3"
    out = _bindery(env, "backup", "restore", "host-local", "--to", str(path)).stdout
    conn = sqlite3.connect(path)
    try:
        return out, [conn.execute(q).fetchone()[0] for q in queries]
    finally:
        conn.close()


def test_a_requested_restore_is_carried_out_by_the_backup_sites_next_pass(install: dict[str, str]) -> None:
    """The console's path, without its pages: a host queues the request, the site restores and reports."""
    env = install
    _bindery(env, "migrate", "--quiet")
    _bindery(env, "manage", "shell", "-c", SETUP)
    _bindery(env, "hosts", "add", "eu-2", "--url", "https://eu-2.example", "--database", env["SECOND_HOST_URL"],
             "--datacenter", "local")
    before = _report(env)
    _bindery(env, "backup", "run")
    refused = _bindery(env, "backup", "request-restore", "acme", "--to-host", "nowhere", "--reason", "test",
                       check=False)
    assert refused.returncode == 1
    assert "to_host" in refused.stderr
    queued = _bindery(env, "backup", "request-restore", "acme", "--to-host", "eu-2", "--reason", "bad import").stdout
    assert "queued" in queued
    assert "host-local/" in queued
    assert "requested" in _bindery(env, "backup", "requests").stdout
    _bindery(env, "backup-site", "--once")
    listed = _bindery(env, "backup", "requests").stdout
    assert " done " in listed, listed
    assert "rows in" in listed
    assert "erased again by the journal replay" in listed
    after = _report(env)
    assert (after["host"], after["epoch"]) == ("eu-2", 2)
    assert (after["orders"], after["totals"]) == (before["orders"], before["totals"])
