"""Benchmark: does a backup slow the database down, and how fast is it against a plain copy?

    .venv/bin/python bench/backup_impact.py [--engine sqlite|postgres|both] [--mb 100] [--seconds 8]

For each engine, on a fresh embedded install (SQLite files) or throw-away PostgreSQL databases
(``BINDERY_BENCH_PG``, default ``postgres://bindery_test@127.0.0.1:5432``):

1. grow the host database to about ``--mb`` MB (a filler table of JSON-like text, compressible
   about as well as real catalog rows) plus a tenant;
2. backup throughput: one ``create_backup`` (consistent snapshot, zstd, AES-256-GCM, local
   target, fsync) in MB/s of database, against a plain copy of the same database — the file
   copied with ``shutil.copyfile`` (SQLite) or ``pg_dump --format=custom`` to a file
   (PostgreSQL; there is no file to copy) — and the ratio;
3. write throughput: orders per second through the service layer (``do_upsert_order``) for
   ``--seconds`` without a backup, then for as long again while ``bindery backup run`` runs
   back to back in another process (as the backup site would), and the ratio (goal >= 0.9);
   then again with that process at ``nice 19`` (a backup site sharing the host's CPUs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

PG = os.environ.get("BINDERY_BENCH_PG", "postgres://bindery_test@127.0.0.1:5432")
ROOT = Path(__file__).resolve().parent.parent


def _fill(mb: int) -> None:
    from django.db import connection

    rows = mb * 1024 * 1024 // 400
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_filler (id integer PRIMARY KEY, doc text)")
        step = 20_000
        for start in range(0, rows, step):
            stop = min(rows, start + step)
            if connection.vendor == "sqlite":
                cursor.execute(
                    "WITH RECURSIVE g(i) AS (SELECT %s UNION ALL SELECT i + 1 FROM g WHERE i + 1 < %s) "
                    "INSERT INTO bench_filler SELECT i, '{\"sku\":\"SKU-' || i || '\",\"name\":\"Product ' || i || "
                    "'\",\"price\":' || (i % 997) || '.50,\"note\":\"' || hex(randomblob(64)) || '\",\"text\":\"' "
                    "|| substr('Lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
                    "incididunt ut labore et dolore magna aliqua ', 1, 150) || '\"}' FROM g", [start, stop])
            else:
                cursor.execute(
                    "INSERT INTO bench_filler SELECT i, '{\"sku\":\"SKU-' || i || '\",\"name\":\"Product ' || i || "
                    "'\",\"price\":' || mod(i, 997) || '.50,\"note\":\"' || md5(random()::text) || md5(random()::text) "
                    "|| md5(random()::text) || md5(random()::text) || '\",\"text\":\"' || repeat('Lorem ipsum dolor "
                    "sit amet consectetur adipiscing elit sed do eiusmod tempor ', 3) || '\"}' "
                    "FROM generate_series(%s, %s - 1) i", [start, stop])


def _orders_per_second(tenant: object, seconds: float, prefix: str, background: list[str] | None) -> tuple[float, int]:
    """Orders/s through do_upsert_order for ``seconds``; with ``background`` run that command in a loop meanwhile."""
    from django.db import connections
    from tests.sales.factories import order_payload

    from bindery.sales.actions import do_upsert_order

    stop = threading.Event()
    backups = [0]

    def back_to_back() -> None:
        assert background is not None
        while not stop.is_set():
            subprocess.run(background, check=True, capture_output=True, timeout=600)
            backups[0] += 1

    thread = threading.Thread(target=back_to_back, daemon=True) if background else None
    if thread:
        thread.start()
        time.sleep(1.0)  # let the first backup get going (interpreter start-up)
    n = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        do_upsert_order(tenant, order_payload(f"{prefix}-{n}"), actor="bench")  # type: ignore[arg-type]
        n += 1
    elapsed = time.perf_counter() - started
    stop.set()
    if thread:
        thread.join()
    connections.close_all()
    return n / elapsed, backups[0]


def _database_bytes() -> int:
    from django.conf import settings
    from django.db import connection

    if connection.vendor == "sqlite":
        path = Path(settings.CONFIG.host_db.path)
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return int(cursor.fetchone()[0])


def child(engine: str, mb: int, seconds: float) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bindery.settings"
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from bindery.backups.repository import Source, create_backup
    from bindery.backups.site import site_from_config
    from bindery.backups.targets import LocalTarget
    from bindery.control.actions import do_create_tenant
    from bindery.control.models import LocalTenant, Plan

    for alias in ("control", "default"):
        call_command("migrate", database=alias, verbosity=0)
    do_create_tenant("bench", "Bench", plan=Plan.ENTERPRISE, actor="bench")
    tenant = LocalTenant.objects.get(slug="bench")
    _fill(mb)
    # Warm up the write path (first-use caches, statuses, methods) before measuring.
    _orders_per_second(tenant, 1.0, "warm", None)
    size = _database_bytes()
    config = settings.CONFIG
    site = site_from_config(config)
    scratch = Path(tempfile.mkdtemp(prefix="bench-copy-"))
    try:
        location = str(config.host_db.path) if engine == "sqlite" else config.host_db.url
        source = Source("host-bench", config.host_db.engine, location, host="bench")
        started = time.perf_counter()
        manifest = create_backup(LocalTarget(scratch / "repo"), site.ring, source, work_dir=scratch / "site")
        backup_s = time.perf_counter() - started
        started = time.perf_counter()
        if engine == "sqlite":
            shutil.copyfile(location, scratch / "plain.sqlite3")
            with open(scratch / "plain.sqlite3", "rb+") as handle:
                os.fsync(handle.fileno())
            baseline = "file copy"
        else:
            subprocess.run(["pg_dump", "--format=custom", "--enable-row-security", f"--file={scratch / 'plain.dump'}",
                            location], check=True, capture_output=True, timeout=3600)
            baseline = "pg_dump -Fc"
        copy_s = time.perf_counter() - started
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    quiet, _ = _orders_per_second(tenant, seconds, "quiet", None)
    command = [sys.executable, "-m", "bindery", "backup", "run", "--database", f"host-{settings.BINDERY_HOST_NAME}"]
    busy, runs = _orders_per_second(tenant, seconds, "busy", command)
    normal, normal_runs = _orders_per_second(tenant, seconds, "normal",
                                             ["env", "BINDERY_BACKUP_PRIORITY=normal", *command])
    mbs = size / 1e6
    print(f"\n== {engine}: host database {mbs:.0f} MB ({manifest.stored_size / 1e6:.1f} MB stored, "
          f"{manifest.snapshot_size / max(manifest.stored_size, 1):.1f}x smaller)")
    print(f"  backup                 : {backup_s:8.2f} s  {mbs / backup_s:8.1f} MB/s")
    print(f"  plain {baseline:16} : {copy_s:8.2f} s  {mbs / copy_s:8.1f} MB/s")
    print(f"  backup / plain ratio   : {copy_s / backup_s:8.2f}")
    print(f"  orders/s without backup: {quiet:8.1f}")
    print(f"  orders/s during backups: {busy:8.1f}  ({runs} back-to-back backups in another process, "
          "lowest priority: the default)")
    print(f"  write ratio            : {busy / quiet:8.2f}  (goal >= 0.9)")
    print(f"  orders/s, normal prio  : {normal:8.1f}  ({normal_runs} backups at BINDERY_BACKUP_PRIORITY=normal)")
    print(f"  write ratio, normal    : {normal / quiet:8.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--engine", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--mb", type=int, default=100, help="approximate host database size")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each write phase")
    parser.add_argument("--child", choices=("sqlite", "postgres"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.mb, args.seconds)
        return 0
    engines = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]
    for engine in engines:
        var = Path(tempfile.mkdtemp(prefix=f"bindery-bench-backup-{engine}-"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("BINDERY_")}
        env.update(BINDERY_VAR_DIR=str(var), BINDERY_QUEUE="immediate", BINDERY_LOG_LEVEL="WARNING",
                   BINDERY_BACKUP_TARGET=str(var / "offsite"), PYTHONPATH=f"{ROOT / 'src'}:{ROOT}")
        names: list[str] = []
        if engine == "postgres":
            import psycopg

            suffix = uuid.uuid4().hex[:8]
            names = [f"bench_bk_control_{suffix}", f"bench_bk_host_{suffix}"]
            with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
                for name in names:
                    admin.execute(f'CREATE DATABASE "{name}"')
            env.update(BINDERY_CONTROL_DATABASE_URL=f"{PG}/{names[0]}", BINDERY_HOST_DATABASE_URL=f"{PG}/{names[1]}")
        try:
            subprocess.run([sys.executable, __file__, "--child", engine, "--mb", str(args.mb),
                            "--seconds", str(args.seconds)], env=env, check=True)
        finally:
            shutil.rmtree(var, ignore_errors=True)
            if names:
                import psycopg

                with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
                    for name in names:
                        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
