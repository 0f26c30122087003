"""Benchmark: bulk upsert of products through the catalog's set-based path, on PostgreSQL.

    .venv/bin/python bench/bulk_upsert.py [--products N] [--chunk 5000]

Each product carries 2 prices, stock in 2 warehouses, 2 categories and 3 attribute values.
Prints products/s, peak RSS, and the ratio against a raw ``COPY`` of the same rows into bare
tables measured in the same run; then the p95 latency of a cursor-paginated page of 100 deep
into the table, and a "modified since" delta query returning 1% of the products.

It creates two throw-away databases (``bench_*``) with the admin role of
``BINDERY_BENCH_PG`` (default ``postgres://bindery_test@127.0.0.1:5432``) and drops them after.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal

PG = os.environ.get("BINDERY_BENCH_PG", "postgres://bindery_test@127.0.0.1:5432")


def product_payload(i: int) -> object:
    # Imported here because Django is set up only after the databases exist; Python caches the module.
    from bindery.catalog.payloads import AttributeValueData, PriceData, ProductData, StockData

    return ProductData(
        sku=f"SKU-{i:08d}",
        name=f"Product {i}",
        barcode=f"{400000000000 + i}",
        manufacturer=f"Maker {i % 50}",
        prices=[PriceData(price_list="retail", gross=Decimal(10 + i % 90) + Decimal("0.99"), vat_rate=22),
                PriceData(price_list="wholesale", net=Decimal(5 + i % 40) + Decimal("0.50"), vat_rate=22)],
        stock=[StockData(warehouse="main", quantity=i % 17), StockData(warehouse="backup", quantity=i % 5)],
        categories=[f"Dept {i % 10}|Shelf {i % 7}", f"Brand {i % 20}"],
        attributes=[AttributeValueData(attribute="color", value=f"c{i % 8}"),
                    AttributeValueData(attribute="size", value=f"s{i % 5}"),
                    AttributeValueData(attribute="material", value=f"m{i % 3}")],
    )


def chunks(n: int, size: int) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(n, start + size))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class CpuClock:
    """CPU seconds spent by this process and by its PostgreSQL backend (read from /proc: same machine).

    On a shared machine wall-clock throughput follows the load of other work; CPU time per product
    of both sides is the steadier comparison. ``None`` when the backend's /proc entry is unreadable
    or the connection changed during the measurement.
    """

    def __init__(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.pid = cursor.fetchone()[0]
        self.client, self.server = time.process_time(), self._server()

    def _server(self) -> float | None:
        try:
            with open(f"/proc/{self.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def elapsed(self) -> tuple[float, float | None]:
        """(client, server) CPU seconds since this clock was made."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            same = cursor.fetchone()[0] == self.pid
        server = self._server()
        server_delta = server - self.server if same and server is not None and self.server is not None else None
        return time.process_time() - self.client, server_delta


def cpu_line(label: str, n: int, cpu: tuple[float, float | None]) -> str:
    client, server = cpu
    server_text = "n/a" if server is None else f"{server / n * 1e6:6.0f}"
    return f"  {label:<18}: client {client / n * 1e6:6.0f} us + server {server_text} us CPU per product"


def raw_copy_baseline(n: int) -> float:
    """COPY the same logical rows into bare tables (no constraints beyond primary keys); return rows/s."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("""
            CREATE TEMP TABLE bare_product (id uuid primary key, sku text, name text, barcode text, maker text);
            CREATE TEMP TABLE bare_price (product uuid, list text, net numeric, gross numeric, vat numeric);
            CREATE TEMP TABLE bare_stock (product uuid, warehouse text, qty numeric);
            CREATE TEMP TABLE bare_category (product uuid, path text);
            CREATE TEMP TABLE bare_attribute (product uuid, name text, value text);
        """)
    raw = connection.connection
    started = time.perf_counter()
    for block in chunks(n, 20_000):
        buffers = {name: io.StringIO() for name in ("product", "price", "stock", "category", "attribute")}
        for i in block:
            pid = uuid.uuid4()
            buffers["product"].write(f"{pid}\tSKU-{i:08d}\tProduct {i}\t{400000000000 + i}\tMaker {i % 50}\n")
            buffers["price"].write(f"{pid}\tretail\t{10 + i % 90}.99\t{10 + i % 90}.99\t22\n"
                                   f"{pid}\twholesale\t{5 + i % 40}.50\t{5 + i % 40}.50\t22\n")
            buffers["stock"].write(f"{pid}\tmain\t{i % 17}\n{pid}\tbackup\t{i % 5}\n")
            buffers["category"].write(f"{pid}\tDept {i % 10}|Shelf {i % 7}\n{pid}\tBrand {i % 20}\n")
            buffers["attribute"].write(f"{pid}\tcolor\tc{i % 8}\n{pid}\tsize\ts{i % 5}\n{pid}\tmaterial\tm{i % 3}\n")
        with raw.cursor() as cursor:
            for name, buffer in buffers.items():
                with cursor.copy(f"COPY bare_{name} FROM STDIN") as copy:
                    copy.write(buffer.getvalue())
        raw.commit()
    return n / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=5_000)
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
        return run(args.products, args.chunk)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
            for name in names.values():
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(n: int, chunk: int) -> int:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "bindery.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from bindery.api.pagination import encode_cursor, paginate
    from bindery.catalog.access import products_modified_since
    from bindery.catalog.actions import do_bulk_upsert_products, do_create_price_list, do_create_warehouse
    from bindery.catalog.models import Product
    from bindery.catalog.payloads import ProductData, StockData
    from bindery.control.actions import do_create_tenant
    from bindery.control.models import LocalTenant, Plan

    for alias in ("control", "default"):
        call_command("migrate", database=alias, verbosity=0)
    do_create_tenant("bench", "Bench", plan=Plan.ENTERPRISE, actor="bench")
    tenant = LocalTenant.objects.get(slug="bench")
    for key in ("main", "backup"):
        do_create_warehouse(tenant, key, actor="bench")
    do_create_price_list(tenant, "retail", "EUR", actor="bench")
    do_create_price_list(tenant, "wholesale", "EUR", actor="bench")

    print(f"bulk upsert of {n:,} products (2 prices, 2 stock rows, 2 categories, 3 attributes each)")
    load = os.getloadavg()[0]
    clock = CpuClock()
    started = time.perf_counter()
    errors = 0
    for block in chunks(n, chunk):
        results = do_bulk_upsert_products(tenant, (product_payload(i) for i in block), actor="bench")
        errors += sum(1 for r in results if r.outcome == "error")
    ours = n / (time.perf_counter() - started)
    ours_cpu = clock.elapsed()
    assert errors == 0, f"{errors} items failed"
    rss = peak_rss_mb()
    clock = CpuClock()
    baseline = raw_copy_baseline(n)
    baseline_cpu = clock.elapsed()
    print(f"  bindery bulk path : {ours:10,.0f} products/s   (goal >= 20,000)")
    print(f"  raw COPY baseline : {baseline:10,.0f} products/s")
    print(f"  ratio             : {ours / baseline:10.3f}           (goal >= 0.4)")
    print(f"  peak RSS          : {rss:10,.0f} MB          (goal < 500)")
    print(f"  load average      : {load:10.1f} -> {os.getloadavg()[0]:.1f} (machine shared: compare CPU below)")
    print(cpu_line("bindery CPU", n, ours_cpu))
    print(cpu_line("raw COPY CPU", n, baseline_cpu))
    if ours_cpu[1] is not None and baseline_cpu[1] is not None:
        cpu_ratio = (baseline_cpu[0] + baseline_cpu[1]) / (ours_cpu[0] + ours_cpu[1])
        print(f"  CPU ratio         : {cpu_ratio:10.3f}           (raw COPY CPU / bindery CPU, client + server)")

    # p95 of a 100-item page deep into the table (90% of the way in).
    deep = int(n * 0.9)
    ids = list(Product.objects.for_tenant(tenant).order_by("id").values_list("id", flat=True)[deep:deep + 1])
    cursor = encode_cursor(ids[0])
    timings = []
    for _ in range(50):
        t0 = time.perf_counter()
        page, _next = paginate(Product.objects.for_tenant(tenant), cursor=cursor, limit=100)
        timings.append((time.perf_counter() - t0) * 1000)
        assert len(page) == 100
    p95 = statistics.quantiles(timings, n=20)[18]
    print(f"  deep page p95     : {p95:10.2f} ms          (goal < 50)")

    # Delta: change stock of 1% of the products, then ask what changed since just before.
    since = timezone.now()
    changed = max(1, n // 100)
    do_bulk_upsert_products(tenant, (ProductData(sku=f"SKU-{i:08d}", stock=[StockData(warehouse="main", quantity=999)])
                                     for i in range(0, n, 100)), actor="bench")
    t0 = time.perf_counter()
    delta = list(products_modified_since(tenant, since).values_list("id", flat=True))
    delta_ms = (time.perf_counter() - t0) * 1000
    assert len(delta) == changed, (len(delta), changed)
    print(f"  delta 1% query    : {delta_ms:10.2f} ms          (goal < 1000; {len(delta):,} rows)")
    print(f"  engine            : PostgreSQL {connection.pg_version // 10000}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
