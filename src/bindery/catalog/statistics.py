"""Planner statistics of the catalog tables after bulk writes.

Right after a bulk load the tables' statistics describe what they held before it (or nothing,
for a table never analysed): autovacuum analyses them only on its next round (up to a minute
later, and only once 10% of a table changed). Meanwhile PostgreSQL planned a publish's
per-chunk child queries (``product_id IN (500 ids)`` with the tenant and the price list or
warehouse) with the ``(tenant, modified_at)`` index, which matches every row of the tenant:
each chunk read the whole tenant (docs/benchmarks.md, "Product import from a file over SFTP").

:func:`refresh_statistics` closes that window synchronously: after a bulk upsert it analyses
the catalog tables that changed a lot since their last ``ANALYZE`` (PostgreSQL's own counter,
``pg_stat_user_tables.n_mod_since_analyze``), and after a large file import every catalog
table the import changed. On SQLite it runs ``PRAGMA optimize``, which analyses what SQLite
itself judges worth it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.db import OperationalError, connections, transaction
from django.db.models import Model

from bindery.catalog.models import (
    Category,
    Price,
    PriceChangeLog,
    Product,
    ProductAttributeValue,
    ProductCategory,
    ProductImage,
    StockChangeLog,
    StockLevel,
)
from bindery.control.routers import HOST

logger = logging.getLogger(__name__)

#: The tables a bulk product upsert writes.
BULK_MODELS: tuple[type[Model], ...] = (Product, Price, StockLevel, ProductCategory, Category,
                                        ProductAttributeValue, ProductImage, PriceChangeLog, StockChangeLog)
#: A table is analysed once at least this many rows changed since its last ANALYZE ...
STALE_MIN_ROWS = 5_000
#: ... and at least this fraction of the rows it held then (so its size estimate is off by 2x or less;
#: a larger fraction than autovacuum's 0.1, since here the caller waits for the ANALYZE).
STALE_FRACTION = 1.0
#: A single import that wrote this many products analyses every table it changed, whatever its size:
#: a new tenant's rows in a large shared table are otherwise unknown to the planner.
LARGE_IMPORT_ROWS = 10_000
#: An ANALYZE already running elsewhere (another worker, autovacuum) holds the lock: wait this long, then skip.
LOCK_TIMEOUT = "2s"


def refresh_statistics(*, using: str = HOST, models: Sequence[type[Model]] = BULK_MODELS,
                       min_rows: int | None = None, fraction: float | None = None) -> list[str]:
    """ANALYZE the tables among ``models`` whose statistics are stale; return the tables analysed.

    Stale: at least ``min_rows`` (default :data:`STALE_MIN_ROWS`) rows changed since the table's
    last ANALYZE and at least ``fraction`` (default :data:`STALE_FRACTION`) times the rows it held
    then. Does nothing inside a transaction on PostgreSQL (its changes are not counted before the
    commit; the caller analyses after it).
    """
    connection = connections[using]
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA optimize")
        return []
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return []
    min_rows = STALE_MIN_ROWS if min_rows is None else min_rows
    fraction = STALE_FRACTION if fraction is None else fraction
    tables = [model._meta.db_table for model in models]
    with connection.cursor() as cursor:
        # This backend's counters reach pg_stat_user_tables at most once a second; flush them now.
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute(
            "SELECT s.relname, s.n_mod_since_analyze, greatest(c.reltuples, 0) FROM pg_stat_user_tables s "
            "JOIN pg_class c ON c.oid = s.relid WHERE s.schemaname = current_schema() AND s.relname = ANY(%s)",
            [tables])
        stale = sorted(name for name, changed, rows in cursor.fetchall()
                       if changed >= min_rows and changed >= fraction * rows)
    analysed = []
    for table in stale:
        try:
            with transaction.atomic(using=using), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
        except OperationalError:  # lock_timeout: someone else is analysing it right now
            logger.info("catalog statistics: skipped a table being analysed elsewhere",
                        extra={"event": "catalog.analyze_skipped", "table": table})
            continue
        analysed.append(table)
    if analysed:
        logger.info("catalog statistics refreshed", extra={"event": "catalog.analyzed", "tables": analysed})
    return analysed


def refresh_after_import(written: int, *, using: str = HOST) -> list[str]:
    """After an import that wrote ``written`` products: refresh what it left stale (all it changed if large)."""
    if written >= LARGE_IMPORT_ROWS:
        return refresh_statistics(using=using, min_rows=1, fraction=0.0)
    return refresh_statistics(using=using)
