"""Benchmark: the integration engine's overhead and its differential runs, on PostgreSQL.

    .venv/bin/python bench/integration_delta.py [--products N] [--batch 500]

1. Engine: a full ``hub.price_rule`` run over N products (delta read by keyset pages, rule
   evaluation, writes through the catalog's bulk upsert, one binding per product, checkpoints
   and log lines). Baseline in the same run: the very same derived prices written with
   ``do_bulk_upsert_products`` fed from memory, no engine. Prints products/s and the ratio.
2. Delta: change 1% of the products' source prices, run again differentially; prints the
   seconds and how many products the run read (it must be exactly the changed ones).
3. Keyset paging: read the whole product table in pages of ``--batch`` over (modified_at, id),
   compared with OFFSET paging in the same run.

Creates two throw-away databases (``bench_*``) with ``BINDERY_BENCH_PG`` (default
``postgres://bindery_test@127.0.0.1:5432``) and drops them after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import tempfile
import time
import uuid
from decimal import ROUND_HALF_UP, Decimal

PG = os.environ.get("BINDERY_BENCH_PG", "postgres://bindery_test@127.0.0.1:5432")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
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
        return run(args.products, args.batch)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
            for name in names.values():
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(n: int, batch: int) -> int:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "bindery.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from bindery.catalog.actions import do_bulk_upsert_products, do_create_price_list
    from bindery.catalog.models import Price, Product
    from bindery.catalog.payloads import PriceData, ProductData
    from bindery.control.actions import do_create_tenant
    from bindery.control.models import LocalTenant, Plan
    from bindery.integration.actions import do_create_connector, do_create_node, do_enqueue_run
    from bindery.integration.delta import keyset_pages
    from bindery.integration.models import Run, Watermark
    from bindery.integration.runner import execute_run

    def run_once(connector: object) -> Run | None:
        """Queue and execute one run (the immediate queue may already have executed it inline)."""
        queued = do_enqueue_run(connector=connector, actor="bench")  # type: ignore[arg-type]
        execute_run(queued.pk, heartbeat=False)
        return Run.objects.for_tenant(queued.tenant_id).filter(pk=queued.pk).first()

    for alias in ("control", "default"):
        call_command("migrate", database=alias, verbosity=0)
    do_create_tenant("bench", "Bench", plan=Plan.ENTERPRISE, actor="bench")
    tenant = LocalTenant.objects.get(slug="bench")
    for name in ("cost", "retail", "retail-baseline"):
        do_create_price_list(tenant, name, "EUR", actor="bench")
    print(f"{n:,} products with a cost price; batches of {batch}")
    for start in range(0, n, 5000):
        do_bulk_upsert_products(tenant, [ProductData(sku=f"SKU-{i:08d}", name=f"Product {i}",
                                                     prices=[PriceData("cost", net=Decimal(5 + i % 400) / 4)])
                                         for i in range(start, min(n, start + 5000))], actor="bench")
    node = do_create_node(tenant, "hub", "hub", actor="bench")
    config = {"source_price_list": "cost", "target_price_list": "retail", "multiplier": "1.3", "constant": "0.5",
              "rounding": "0.05", "batch_size": batch}
    connector = do_create_connector(tenant, "retail", node, "price_rule", config=config, differential=True,
                                    actor="bench")

    started = time.perf_counter()
    first = run_once(connector)
    engine_s = time.perf_counter() - started
    if first is None or first.status != "succeeded":
        raise SystemExit(f"the full run did not succeed: {first and first.error}")
    print(f"engine   full run: {engine_s:7.2f} s  {n / engine_s:9,.0f} products/s  "
          f"(read {first.read_count:,}, updated {first.updated_count:,})")

    # Baseline: the same rule, computed and written straight from memory, no engine.
    costs = list(Price.objects.for_tenant(tenant).filter(price_list__name="cost")
                 .values_list("product__sku", "net", "vat_rate"))
    step, multiplier, constant = Decimal("0.05"), Decimal("1.3"), Decimal("0.5")
    started = time.perf_counter()
    for start in range(0, len(costs), batch):
        items = []
        for sku, net, vat in costs[start:start + batch]:
            derived = ((net * multiplier + constant) / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step
            items.append(ProductData(sku=sku, prices=[PriceData("retail-baseline", net=derived, vat_rate=vat)]))
        do_bulk_upsert_products(tenant, items, actor="bench")
    baseline_s = time.perf_counter() - started
    print(f"baseline (bulk upsert from memory): {baseline_s:7.2f} s  {n / baseline_s:9,.0f} products/s")
    print(f"ratio engine / baseline throughput: {baseline_s / engine_s:.2f}")

    # Differential after 1% of the source prices change.
    changed = max(1, n // 100)
    Watermark.objects.for_tenant(tenant).update(since=timezone.now() - dt.timedelta(seconds=30))
    Product.objects.for_tenant(tenant).update(modified_at=timezone.now() - dt.timedelta(minutes=10))
    do_bulk_upsert_products(tenant, [ProductData(sku=f"SKU-{i:08d}", prices=[PriceData("cost", net=Decimal(999))])
                                     for i in range(0, n, n // changed)][:changed], actor="bench")
    started = time.perf_counter()
    second = run_once(connector)
    delta_s = time.perf_counter() - started
    if second is None or second.status != "succeeded":
        raise SystemExit(f"the differential run did not succeed: {second and second.error}")
    print(f"differential run after changing {changed:,} products: {delta_s:.2f} s, read {second.read_count:,}, "
          f"updated {second.updated_count:,}")

    # Keyset vs OFFSET paging over the whole table.
    queryset = Product.objects.for_tenant(tenant).all()
    started = time.perf_counter()
    keyset_rows = sum(len(page) for page in keyset_pages(queryset, page_size=batch))
    keyset_s = time.perf_counter() - started
    started = time.perf_counter()
    offset_rows = 0
    for offset in range(0, n, batch):
        offset_rows += len(list(queryset.order_by("modified_at", "id")[offset:offset + batch]))
    offset_s = time.perf_counter() - started
    print(f"paging {keyset_rows:,} rows: keyset {keyset_s:.2f} s, OFFSET {offset_s:.2f} s ({offset_rows:,} rows), "
          f"ratio {offset_s / keyset_s:.2f}")
    print(f"peak RSS {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
