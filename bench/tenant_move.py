"""Benchmark: move a tenant between two PostgreSQL host databases, against a plain COPY.

    .venv/bin/python bench/tenant_move.py [--products 10000] [--products 100000]

For each size: a tenant with N products (2 prices, 2 stock rows, 2 categories, 3 attributes
each, with change logs) and N/100 orders is moved from one host database to another with
``do_move_tenant`` while a writer thread keeps adding warehouses. Prints the total time, the
copy rate in rows/s, the time the tenant could not write (source fenced until the directory
pointed at the target), how many concurrent writes were kept, and the rate of a plain
``COPY ... TO STDOUT`` / ``COPY ... FROM STDIN`` of the same rows into bare tables measured in
the same run.

It creates throw-away databases (``bench_*``) with ``BINDERY_BENCH_PG`` (default
``postgres://bindery_test@127.0.0.1:5432``) and drops them after.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid

PG = os.environ.get("BINDERY_BENCH_PG", "postgres://bindery_test@127.0.0.1:5432")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def plain_copy_rate(src_url: str, dst_url: str, tables: list[str], tenant_id: uuid.UUID) -> tuple[int, float]:
    """COPY the tenant's rows of every table into bare tables on the target; return (rows, seconds)."""
    import psycopg

    rows = 0
    started = time.perf_counter()
    with psycopg.connect(src_url) as src, psycopg.connect(dst_url) as dst:
        for table in tables:
            bare = f"bare_{table}"
            dst.execute(f'CREATE TABLE "{bare}" (LIKE "{table}")')
            with src.cursor().copy(f'COPY (SELECT * FROM "{table}" WHERE tenant_id = %s) TO STDOUT',  # noqa: S608  (registry names)
                                   [tenant_id]) as out, dst.cursor().copy(f'COPY "{bare}" FROM STDIN') as into:
                for data in out:
                    into.write(data)
            rows += dst.execute(f'SELECT count(*) FROM "{bare}"').fetchone()[0]  # type: ignore[index]  # noqa: S608
        dst.commit()
    return rows, time.perf_counter() - started


def run_size(n: int, sizes_done: int) -> None:
    from bulk_upsert import chunks, product_payload  # type: ignore[import-not-found]  # sibling script
    from django.db import connections
    from tests.sales.factories import order_payload, store

    from bindery.catalog.actions import do_bulk_upsert_products, do_create_price_list, do_create_warehouse
    from bindery.control.actions import do_create_tenant
    from bindery.control.databases import alias_for_host
    from bindery.control.hosts import do_add_host, ensure_local_host
    from bindery.control.models import LocalTenant, Plan, Tenant
    from bindery.control.moves import do_move_tenant, tenant_models

    slug = f"bench-{n}"
    do_create_tenant(slug, "Bench", plan=Plan.ENTERPRISE, actor="bench")
    tenant = LocalTenant.objects.get(slug=slug)
    for key in ("main", "backup"):
        do_create_warehouse(tenant, key, actor="bench")
    do_create_price_list(tenant, "retail", "EUR", actor="bench")
    do_create_price_list(tenant, "wholesale", "EUR", actor="bench")
    t0 = time.perf_counter()
    for block in chunks(n, 5_000):
        do_bulk_upsert_products(tenant, (product_payload(i) for i in block), actor="bench")
    for i in range(max(1, n // 100)):
        store(tenant, order_payload(f"{100000 + i}"))
    print(f"\n{n:,} products loaded in {time.perf_counter() - t0:.1f} s")

    suffix = uuid.uuid4().hex[:8]
    target_url = f"{PG}/bench_target_{suffix}"
    local = ensure_local_host()
    target = do_add_host(f"target-{sizes_done}", datacenter=local.datacenter, public_url="https://t.example",
                         database_url=target_url, actor="bench")

    written: list[str] = []
    refused: list[float] = []
    stop = threading.Event()

    def writer() -> None:
        i = 0
        try:
            while not stop.is_set():
                try:
                    do_create_warehouse(tenant, f"live-{i}", actor="bench")
                    written.append(f"live-{i}")
                except Exception:
                    refused.append(time.perf_counter())
                    return
                i += 1
                time.sleep(0.01)
        finally:
            connections.close_all()

    thread = threading.Thread(target=writer)
    thread.start()
    started = time.perf_counter()
    move = do_move_tenant(Tenant.objects.get(pk=tenant.pk), target, actor="bench")
    total = time.perf_counter() - started
    stop.set()
    thread.join()
    pause = (move.unfenced_at - move.fenced_at).total_seconds()  # type: ignore[operator]
    from bindery.catalog.models import Warehouse

    kept = set(Warehouse.objects.using(alias_for_host(target)).for_tenant(tenant.pk)
               .filter(key__startswith="live-").values_list("key", flat=True))
    lost = set(written) - kept
    host_url = os.environ["BINDERY_HOST_DATABASE_URL"]
    tables = [m._meta.db_table for m in tenant_models()]
    rows, seconds = plain_copy_rate(host_url, target_url, tables, tenant.pk)
    print(f"  rows moved           : {move.rows_copied:12,}  (+ catch-up)")
    print(f"  total move time      : {total:12.2f} s")
    print(f"  move copy rate       : {move.rows_copied / total:12,.0f} rows/s (whole move)")
    print(f"  plain COPY baseline  : {rows / seconds:12,.0f} rows/s ({rows:,} rows in {seconds:.2f} s)")
    print(f"  ratio                : {(move.rows_copied / total) / (rows / seconds):12.3f}")
    print(f"  write pause          : {pause:12.2f} s  (goal < 2 s at 100k products)")
    print(f"  concurrent writes    : {len(written):12,} committed, {len(lost)} lost")
    print(f"  inside the pause     : {move.checkpoint.get('pause')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, action="append")
    args = parser.parse_args()
    sizes = args.products or [10_000]

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
    sys.path[:0] = [os.path.join(ROOT, "src"), ROOT, os.path.dirname(os.path.abspath(__file__))]
    os.environ["DJANGO_SETTINGS_MODULE"] = "bindery.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    try:
        for alias in ("control", "default"):
            call_command("migrate", database=alias, verbosity=0)
        for i, n in enumerate(sizes):
            run_size(n, i)
    finally:
        connections.close_all()
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
            rows = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                 [f"bench_%{suffix}"]).fetchall()
            leftovers = [r[0] for r in rows] + list(names.values())
            for name in dict.fromkeys(leftovers):
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
