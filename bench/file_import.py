"""Benchmark: product import from a CSV file fetched over SFTP, against the hub's bulk path fed from memory.

    .venv/bin/python bench/file_import.py [--rows 100000] [--no-sftp]

Writes a CSV of N products (name, barcode, maker, one gross price, stock in one warehouse, a
two-level category), serves it from an asyncssh SFTP server on loopback, then in the same run:

- baseline: ``do_bulk_upsert_products`` fed the same products, built in memory, into tenant A,
  and again into tenant C after the file import (the mean of both is the baseline, so the
  tables' growth favours neither side);
- files: ``pick_up`` over SFTP + ``import_products`` (checking pass, mapping, batched bulk upsert)
  into tenant B;
- then a ``product_export`` connector publishes tenant B's catalogue to a web-server node over the
  same SFTP server (full), 1% of the products change, and a differential run publishes again
  (issue 5's goal: under 10 s).

Prints rows/s of each, the ratio files / baseline, and peak RSS. Runs on PostgreSQL in two
throw-away databases (``bench_*``), created with ``BINDERY_BENCH_PG`` (default
``postgres://bindery_test@127.0.0.1:5432``) and dropped after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

PG = os.environ.get("BINDERY_BENCH_PG", "postgres://bindery_test@127.0.0.1:5432")
BATCH = 5000


T0 = time.perf_counter()


def note(message: str) -> None:
    """A progress line, flushed at once (long runs are sampled from a file while they go)."""
    print(f"  [{time.perf_counter() - T0:7.0f} s, {time.strftime('%H:%M:%S')}, load {os.getloadavg()[0]:.1f}] "
          f"{message}", flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_csv(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("Code;Title;Barcode;Brand;Price;Qty;Categories\n")
        for i in range(n):
            out.write(f"SKU-{i:08d};Product {i};{400000000000 + i};Maker {i % 50};{10 + i % 90},99;{i % 17};"
                      f"Dept {i % 10}|Shelf {i % 7}\n")


def payload(i: int) -> Any:
    from bindery.catalog.payloads import PriceData, ProductData, StockData

    return ProductData(sku=f"SKU-{i:08d}", name=f"Product {i}", barcode=f"{400000000000 + i}",
                       manufacturer=f"Maker {i % 50}",
                       prices=[PriceData(price_list="retail", gross=Decimal(f"{10 + i % 90}.99"), vat_rate=22)],
                       stock=[StockData(warehouse="main", quantity=i % 17)],
                       categories=[f"Dept {i % 10}|Shelf {i % 7}"])


MAPPING = {
    "fields": {"sku": {"column": "Code"}, "name": {"column": "Title"}, "barcode": {"column": "Barcode"},
               "manufacturer": {"column": "Brand"}, "categories": {"column": "Categories"}},
    "prices": [{"column": "Price", "price_list": "retail", "vat_rate": "22",
                "transforms": [{"kind": "number", "decimal": ","}]}],
    "stock": [{"column": "Qty", "warehouse": "main"}],
}


class SftpServer:
    """An asyncssh SFTP server on loopback in a thread, chrooted to ``root``, password auth."""

    def __init__(self, root: Path) -> None:
        import asyncssh

        self.key = asyncssh.generate_private_key("ssh-ed25519")
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        class Auth(asyncssh.SSHServer):
            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                return username == "bench" and password == "bench"  # noqa: S105 - a loopback test server

        def run() -> None:
            asyncio.set_event_loop(self.loop)

            async def start() -> None:
                self.server = await asyncssh.listen(
                    "127.0.0.1", 0, server_host_keys=[self.key], server_factory=Auth,
                    sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(root).encode()))
                ready.set()

            self.loop.run_until_complete(start())
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(30)
        self.port = self.server.sockets[0].getsockname()[1]
        self.host_key = self.key.export_public_key().decode()

    def stop(self) -> None:
        async def shutdown() -> None:
            self.server.close()
            await self.server.wait_closed()
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


def differential_publish(tenant: Any, n: int, root: Path, server: SftpServer | None) -> tuple[float, float, int, int]:
    """Publish every product to a web-server node, change 1%, publish again through the engine's delta.

    Returns (full seconds, differential seconds, products changed, products the delta read).
    """
    from bindery.catalog.actions import do_bulk_upsert_products
    from bindery.catalog.payloads import PriceData, ProductData
    from bindery.integration.actions import do_create_connector, do_create_node, do_enqueue_run
    from bindery.integration.models import Run, RunStatus
    from bindery.integration.runner import execute_run

    (root / "feeds").mkdir(exist_ok=True)
    hub = do_create_node(tenant, "hub files", "files", settings={"protocol": "local", "folder": "x"}, actor="bench")
    if server is not None:
        web = do_create_node(tenant, "feeds", "web_server", settings={
            "protocol": "sftp", "host": "127.0.0.1", "allow_private": True, "port": server.port, "username": "bench",
            "folder": "feeds", "host_key": server.host_key, "timeout": 600}, credentials={"password": "bench"},
            actor="bench")
    else:
        web = do_create_node(tenant, "feeds", "web_server", settings={"protocol": "local", "folder": "feeds"},
                             actor="bench")
    connector = do_create_connector(tenant, "feed", hub, "product_export", output_node=web, differential=True,
                                    config={"format": "csv", "file_prefix": "Feed", "price_lists": ["retail"],
                                            "warehouses": ["main"]}, actor="bench")

    def run() -> tuple[float, int]:
        started = time.perf_counter()
        queued = do_enqueue_run(connector=connector, actor="bench")  # the inline queue may run it right away
        finished = execute_run(queued.pk, heartbeat=False) or Run.objects.for_tenant(tenant).get(pk=queued.pk)
        seconds = time.perf_counter() - started
        assert finished.status == RunStatus.SUCCEEDED, finished.error
        return seconds, finished.read_count

    time.sleep(6)  # the delta overlap (5 s) would otherwise re-take the import's last batch next time
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, n_live_tup, n_mod_since_analyze, coalesce(last_analyze, last_autoanalyze) "
                       "FROM pg_stat_user_tables WHERE relname IN ('catalog_product', 'catalog_price', "
                       "'catalog_stocklevel', 'catalog_productcategory') ORDER BY relname")
        for table, live, stale, analysed in cursor.fetchall():
            note(f"statistics of {table}: {live:,} live rows, {stale:,} changed since ANALYZE at "
                 f"{analysed and analysed.strftime('%H:%M:%S')}")
    note("full publish starts")
    full_s, full_read = run()
    note(f"full publish: {full_s:.1f} s for {full_read:,} products")
    assert full_read == n, full_read
    time.sleep(6)  # past the engine's delta overlap (5 s), so the delta reads only what changes next
    changed = list(range(0, n, 100))
    for start in range(0, len(changed), BATCH):
        do_bulk_upsert_products(tenant, [ProductData(
            sku=f"SKU-{i:08d}", name=f"Product {i}", prices=[PriceData(price_list="retail", gross=Decimal("5.55"),
                                                                         vat_rate=22)])
            for i in changed[start:start + BATCH]], actor="bench")
    note(f"{len(changed):,} products changed; differential publish starts")
    delta_s, delta_read = run()
    note(f"differential publish: {delta_s:.1f} s, {delta_read:,} read")
    assert len(changed) <= delta_read <= len(changed) + 10, (delta_read, len(changed))
    return full_s, delta_s, len(changed), delta_read


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--no-sftp", action="store_true", help="read the CSV from a local folder instead")
    args = parser.parse_args()

    import psycopg

    suffix = uuid.uuid4().hex[:8]
    names = {"control": f"bench_control_{suffix}", "host": f"bench_host_{suffix}"}
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
        for name in names.values():
            admin.execute(f'CREATE DATABASE "{name}"')
    os.environ.update({
        "BINDERY_CONTROL_DATABASE_URL": f"{PG}/{names['control']}",
        "BINDERY_HOST_DATABASE_URL": f"{PG}/{names['host']}",
        "BINDERY_QUEUE": "immediate",
        "BINDERY_LOG_LEVEL": "WARNING",
        "BINDERY_VAR_DIR": os.environ.get("BINDERY_VAR_DIR", os.path.join(tempfile.gettempdir(), "bindery-bench")),
    })
    try:
        return run(args.rows, sftp=not args.no_sftp)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
            for name in names.values():
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(n: int, *, sftp: bool) -> int:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "bindery.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bindery.catalog.actions import do_bulk_upsert_products, do_create_price_list, do_create_warehouse
    from bindery.control.actions import do_create_tenant
    from bindery.control.models import LocalTenant, Plan
    from bindery.technologies.files.product_import import import_products
    from bindery.technologies.files.transports import LocalTransport, SftpTransport, pick_up

    for alias in ("control", "default"):
        call_command("migrate", database=alias, verbosity=0)
    tenants = []
    for slug in ("baseline", "files", "baseline2"):
        do_create_tenant(slug, slug.title(), plan=Plan.ENTERPRISE, actor="bench")
        tenant = LocalTenant.objects.get(slug=slug)
        do_create_warehouse(tenant, "main", actor="bench")
        do_create_price_list(tenant, "retail", "EUR", actor="bench")
        tenants.append(tenant)

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "in").mkdir()
        (root / "spool").mkdir()
        write_csv(root / "in" / "products.csv", n)
        size_mb = (root / "in" / "products.csv").stat().st_size / 1024 / 1024
        print(f"product import of {n:,} rows ({size_mb:.1f} MB CSV; 1 price, 1 stock row, 1 category each)")

        def bulk_from_memory(tenant: Any) -> float:
            started = time.perf_counter()
            for start in range(0, n, BATCH):
                results = do_bulk_upsert_products(tenant, [payload(i) for i in range(start, min(n, start + BATCH))],
                                                  actor="bench")
                assert all(r.outcome == "created" for r in results)
                if (start + BATCH) % 100_000 == 0:
                    note(f"bulk path from memory, {tenant.slug}: {start + BATCH:,} rows in "
                         f"{time.perf_counter() - started:.0f} s")
            rate = n / (time.perf_counter() - started)
            note(f"bulk path from memory, {tenant.slug}: {rate:,.0f} rows/s")
            return rate

        # The tables grow with each path; measuring the baseline before and after the file import
        # and averaging keeps that growth from favouring either side.
        baseline_before = bulk_from_memory(tenants[0])

        server = SftpServer(root) if sftp else None
        try:
            started = time.perf_counter()
            transport: Any
            if server is not None:
                transport = SftpTransport("127.0.0.1", port=server.port, username="bench", password="bench",  # noqa: S106
                                          host_key=server.host_key, folder="in", timeout=600, allow_private=True)
            else:
                transport = LocalTransport(root, "in")
            config = {"file": {"format": "csv", "limits": {"max_rows": n}}, "mapping": MAPPING, "batch_size": BATCH}

            def progress(done: int, total: int | None) -> None:
                if done and done % 100_000 == 0:
                    note(f"file import: {done:,} of {total or 0:,} rows in {time.perf_counter() - started:.0f} s")

            [picked] = pick_up(transport, lambda path, name: import_products(
                tenants[1], path, config, actor="bench", name=name, progress=progress), spool=root / "spool",
                max_bytes=2**31)
            transport.close()
            ours = n / (time.perf_counter() - started)
            note(f"file import: {ours:,.0f} rows/s (ratio against the first baseline {ours / baseline_before:.3f})")
            published = differential_publish(tenants[1], n, root, server)
        finally:
            if server is not None:
                server.stop()
        baseline_after = bulk_from_memory(tenants[2])
        baseline = (baseline_before + baseline_after) / 2
    assert picked.error is None, picked.error
    assert picked.result.created == n, picked.result
    print(f"  bulk path from memory : {baseline:10,.0f} rows/s   (before {baseline_before:,.0f}, "
          f"after {baseline_after:,.0f})")
    label = f"file import ({'SFTP' if sftp else 'local'})"
    print(f"  {label:<22}: {ours:10,.0f} rows/s")
    print(f"  ratio                 : {ours / baseline:10.3f}        (goal >= 0.8)")
    print(f"  peak RSS              : {peak_rss_mb():10,.0f} MB     (goal < 500)")
    full_s, delta_s, changed, read = published
    print(f"  full publish          : {full_s:10.1f} s      ({n:,} products to a web-server node)")
    print(f"  differential publish  : {delta_s:10.1f} s      ({changed:,} changed, {read:,} read; goal < 10 s)")
    print(f"  engine                : PostgreSQL {connection.pg_version // 10000}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
