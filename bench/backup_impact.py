"""Benchmark: does a backup slow the database down, and how fast is it against a plain copy?

    .venv/bin/python bench/backup_impact.py [--engine sqlite|postgres|both] [--mb 100] [--seconds 8]
                                            [--rate-limit 25]

For each engine, on a fresh install (SQLite files) or throw-away PostgreSQL databases
(``BINDERY_BENCH_PG``, default ``postgres://bindery_test@127.0.0.1:5432``):

1. grow the host database to about ``--mb`` MB (a filler table of JSON-like text, compressible
   about as well as real catalog rows) plus a tenant;
2. backup throughput: one ``create_backup`` (consistent snapshot, zstd, AES-256-GCM, local
   target, fsync) in MB/s of database, against a plain copy of the same database — the file
   copied with ``shutil.copyfile`` (SQLite) or ``pg_dump --format=custom`` to a file
   (PostgreSQL; there is no file to copy) — and the ratio; for SQLite also the backup pulled
   through the host's snapshot endpoint, and the host's own share: the one-step copy alone;
3. write throughput: orders per second through the service layer (``do_upsert_order``), one
   thread, ``--seconds`` per phase, the ratio against the mean of a quiet phase before and one
   after (goal >= 0.9). The phases with a backup run ``bindery backup run`` back to back in
   another process, as the backup site would:

   - **site on "another machine"** (the design): SQLite hosts are pulled through the real
     snapshot endpoint — ``bindery web`` over TLS with a token and an IP allow-list, serving
     the host database, its copy step at the host's default lowest priority — and the writer
     and the web server are pinned to one CPU, the backup site (normal priority: it has its
     own machine) to the other (``taskset`` / ``os.sched_setaffinity``), its folder and stored
     backups in ``/dev/shm`` (standing for the other machine's disk). This stands for a second
     machine only as far as CPU and the site's disk go: memory bandwidth, the control plane's
     catalog and the host's disk (the endpoint's scratch copy) are shared, other sessions'
     processes still run on both CPUs, and the PostgreSQL server (a shared system service; its
     backends serve both the writer and pg_dump) is not pinned;
   - the same, with ``BINDERY_BACKUP_RATE_LIMIT=--rate-limit`` MB/s;
   - **site on the same machine** (the earlier measurement): the site reads the SQLite file
     directly, nothing pinned, lowest priority (the default).
"""

from __future__ import annotations

import argparse
import os
import resource
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


def _pin(cpus: set[int] | None) -> list[str]:
    """A ``taskset`` prefix that runs a command on ``cpus`` (all CPUs when None)."""
    allowed = cpus if cpus is not None else set(range(os.cpu_count() or 1))
    return ["taskset", "-c", ",".join(str(c) for c in sorted(allowed))]


def _orders_per_second(tenant: object, seconds: float, prefix: str,
                       background: list[str] | None, env: dict[str, str] | None = None) -> tuple[float, int, float]:
    """Orders/s through do_upsert_order for ``seconds``; with ``background`` run that command in a loop meanwhile.

    Returns (orders/s, backups finished during the phase, mean seconds per backup).
    """
    from django.db import connections
    from tests.sales.factories import order_payload

    from bindery.sales.actions import do_upsert_order

    stop = threading.Event()
    durations: list[float] = []
    failures: list[str] = []

    def back_to_back() -> None:
        assert background is not None
        while not stop.is_set():
            started = time.perf_counter()
            done = subprocess.run(background, capture_output=True, text=True, timeout=600, env=env, check=False)
            if done.returncode != 0:
                failures.append((done.stdout + done.stderr)[-2000:])
                return
            durations.append(time.perf_counter() - started)

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
    if failures:
        raise SystemExit(f"backup failed during {prefix}:\n{failures[0]}")
    return n / elapsed, len(durations), (sum(durations) / len(durations) if durations else 0.0)


def _database_bytes() -> int:
    from django.conf import settings
    from django.db import connection

    if connection.vendor == "sqlite":
        path = Path(settings.CONFIG.host_db.path)
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return int(cursor.fetchone()[0])


def _bindery(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "bindery", *args], capture_output=True, text=True, timeout=600,
                          env=env or dict(os.environ), check=False)
    if done.returncode != 0:
        raise SystemExit(f"bindery {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def _start_host_web(cpus: set[int]) -> tuple[subprocess.Popen[bytes], str, Path]:
    """``bindery web`` (TLS) for this install, pinned to ``cpus``: the host's snapshot endpoint."""
    import ssl

    import httpx

    var = Path(os.environ["BINDERY_VAR_DIR"])
    log = open(var / "web.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([*_pin(cpus), sys.executable, "-m", "bindery", "web"], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    url, cert = f"https://localhost:{os.environ['BINDERY_HTTPS_PORT']}", var / "tls" / "localhost.crt"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bindery web exited:\n{(var / 'web.log').read_text()[-3000:]}")
        try:
            if cert.exists():
                with httpx.Client(verify=ssl.create_default_context(cafile=str(cert)), timeout=5) as client:
                    if client.get(url + "/healthz").status_code in (200, 503):
                        return proc, url, cert
        except (httpx.HTTPError, ssl.SSLError, OSError):
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("bindery web did not come up")


def _group_cpu_seconds(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of process group ``pgid``."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after "pid (comm)": state ppid pgrp ... utime(12) stime(13)
            total += int(fields[11]) + int(fields[12])
    return total / tick


def _stop(proc: subprocess.Popen[bytes]) -> None:
    import signal

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def child(engine: str, mb: int, seconds: float, rate_limit: int) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bindery.settings"
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
    _bindery("migrate", "--quiet")
    import django

    django.setup()
    from django.conf import settings

    from bindery.backups.repository import Source, create_backup
    from bindery.backups.site import site_from_config
    from bindery.backups.sqlite_snapshot import copy_online
    from bindery.backups.targets import LocalTarget
    from bindery.control.actions import do_create_tenant
    from bindery.control.models import LocalTenant, Plan

    do_create_tenant("bench", "Bench", plan=Plan.ENTERPRISE, actor="bench")
    tenant = LocalTenant.objects.get(slug="bench")
    _fill(mb)
    # Warm up the write path (first-use caches, statuses, methods) before measuring.
    _orders_per_second(tenant, 1.0, "warm", None)
    size = _database_bytes()
    config = settings.CONFIG
    host = settings.BINDERY_HOST_NAME
    site = site_from_config(config)
    host_cpus, site_cpus = {0}, {1}
    web = None
    # The site on "another machine" keeps its own folder (scratch files, pulled copies, dumps,
    # its key, the stored backups) off this machine's disk: in memory (/dev/shm) when there is
    # one, standing for the other machine's disk. It shares only the control plane's catalog.
    shm = Path("/dev/shm")  # noqa: S108 - mkdtemp makes a private, unpredictable folder in it
    site_var = Path(tempfile.mkdtemp(prefix="bench-site-", dir=shm if shm.is_dir() else None))
    # A site on its own machine has no host to yield to: normal priority (at nice 19 on a CPU that
    # other sessions' processes share, it would starve). The host keeps the default, lowest.
    site_env = dict(os.environ, BINDERY_VAR_DIR=str(site_var), BINDERY_BACKUP_TARGET=str(site_var / "offsite"),
                    BINDERY_CONTROL_DATABASE_URL=config.control_db.url, BINDERY_BACKUP_PRIORITY="normal")
    if engine == "sqlite":
        token = _bindery("hosts", "snapshot-access", host, "--allow", "127.0.0.1/32").strip().splitlines()[-1]
        web, url, cert = _start_host_web(host_cpus)
        elsewhere = Path(tempfile.mkdtemp(prefix="bench-site-"))
        # The site has the token and the pinned certificate, and no path to the host's file: it must pull.
        site_env.update(BINDERY_BACKUP_SNAPSHOT_TOKENS=f"{host}={token}", BINDERY_BACKUP_SNAPSHOT_CA=str(cert),
                        BINDERY_HOST_DATABASE_URL=f"sqlite:///{elsewhere / 'host.sqlite3'}")
    scratch = Path(tempfile.mkdtemp(prefix="bench-copy-"))
    pulled_s = copy_step_s = 0.0
    try:
        location = str(config.host_db.path) if engine == "sqlite" else config.host_db.url
        source = Source("host-bench", config.host_db.engine, location, host="bench")
        started = time.perf_counter()
        manifest = create_backup(LocalTarget(scratch / "repo"), site.ring, source, work_dir=scratch / "site")
        backup_s = time.perf_counter() - started
        if engine == "sqlite":
            pulled = Source("host-bench", "sqlite", f"{url}/_snapshot/", host="bench", token=token, ca_file=str(cert))
            started = time.perf_counter()
            create_backup(LocalTarget(scratch / "repo"), site.ring, pulled, work_dir=scratch / "site")
            pulled_s = time.perf_counter() - started
            started = time.perf_counter()
            copy_online(Path(location), scratch / "step.sqlite3")
            copy_step_s = time.perf_counter() - started
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

    # The writer (this process) runs on the host's CPU from here on; subprocesses say where they run.
    os.sched_setaffinity(0, host_cpus)
    command = [sys.executable, "-m", "bindery", "backup", "run", "--database", f"host-{host}"]
    rate_env = {**site_env, "BINDERY_BACKUP_RATE_LIMIT": str(rate_limit)}
    busy: dict[str, tuple[float, int, float]] = {}
    cpu: dict[str, tuple[float, float]] = {}  # (host's web server, backup site) CPU seconds per phase
    quiets: list[float] = []
    try:
        # Quiet phases between the busy ones: each busy phase is compared with its neighbours,
        # so a change in the other sessions' load during the run shifts both sides alike.
        quiets.append(_orders_per_second(tenant, seconds, "quiet-0", None)[0])
        for key, background, env in (("remote", [*_pin(site_cpus), *command], site_env),
                                     ("limited", [*_pin(site_cpus), *command], rate_env),
                                     ("same", [*_pin(None), *command], dict(os.environ))):
            host_cpu = _group_cpu_seconds(web.pid) if web is not None else 0.0
            site_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
            busy[key] = _orders_per_second(tenant, seconds, key, background, env)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[key] = ((_group_cpu_seconds(web.pid) - host_cpu) if web is not None else 0.0,
                        after.ru_utime + after.ru_stime - site_cpu.ru_utime - site_cpu.ru_stime)
            quiets.append(_orders_per_second(tenant, seconds, f"quiet-{len(quiets)}", None)[0])
    finally:
        if web is not None:
            _stop(web)
        shutil.rmtree(site_var, ignore_errors=True)
    mbs = size / 1e6
    with open("/proc/loadavg") as handle:
        load = " ".join(handle.read().split()[:3])
    how = ("pulled through the snapshot endpoint (bindery web, TLS, token, allow-list), site at normal priority"
           if engine == "sqlite" else "pg_dump from the site at normal priority (the PostgreSQL server is not pinned)")
    print(f"\n== {engine}: host database {mbs:.0f} MB ({manifest.stored_size / 1e6:.1f} MB stored, "
          f"{manifest.snapshot_size / max(manifest.stored_size, 1):.1f}x smaller); load average {load}")
    print(f"  backup                 : {backup_s:8.2f} s  {mbs / backup_s:8.1f} MB/s"
          + ("  (site reads the file)" if engine == "sqlite" else ""))
    if engine == "sqlite":
        print(f"  backup, pulled         : {pulled_s:8.2f} s  {mbs / pulled_s:8.1f} MB/s  (through the endpoint)")
        print(f"  host's one-step copy   : {copy_step_s:8.2f} s  {mbs / copy_step_s:8.1f} MB/s  "
              "(all the host does per backup, besides serving the bytes)")
    print(f"  plain {baseline:16} : {copy_s:8.2f} s  {mbs / copy_s:8.1f} MB/s")
    print(f"  backup / plain ratio   : {copy_s / backup_s:8.2f}")
    print(f"  orders/s without backup: {' '.join(f'{q:.1f}' for q in quiets)}  (quiet phases between the busy ones)")
    print(f"  CPUs: writer{' and bindery web' if engine == 'sqlite' else ''} on {sorted(host_cpus)}, "
          f"backup site on {sorted(site_cpus)} of {os.cpu_count()}, its folder in {site_var.parent}. Pinning stands "
          "for another machine's CPU only: the control catalog, memory bandwidth and other sessions' load are shared")
    notes = {"remote": how, "limited": f"BINDERY_BACKUP_RATE_LIMIT={rate_limit}",
             "same": "site reads the file / runs pg_dump, its folder on this disk, nothing pinned, lowest priority"}
    for i, (key, label) in enumerate((("remote", "site elsewhere, pinned"), ("limited", f"  + {rate_limit} MB/s limit"),
                                      ("same", "site on the same machine"))):
        ops, runs, per = busy[key]
        baseline_ops = (quiets[i] + quiets[i + 1]) / 2
        print(f"  {label:23}: {ops:8.1f} orders/s  ratio {ops / baseline_ops:5.2f}  ({runs} backups, "
              f"{per:.1f} s each)  {notes[key]}")
        host_cpu, site_cpu = cpu[key]
        if runs:
            print(f"  {'':23}  CPU per backup: site {site_cpu / runs:5.2f} s"
                  + (f", host's bindery web {host_cpu / runs:5.2f} s" if web is not None and key != "same" else ""))
    print("  goal: ratio >= 0.9")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--engine", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--mb", type=int, default=100, help="approximate host database size")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each write phase")
    parser.add_argument("--rate-limit", type=int, default=25, help="BINDERY_BACKUP_RATE_LIMIT (MB/s) of one phase")
    parser.add_argument("--child", choices=("sqlite", "postgres"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.mb, args.seconds, args.rate_limit)
        return 0
    if (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        raise SystemExit("needs two CPUs and taskset to stand the backup site on another CPU")
    engines = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]
    for engine in engines:
        var = Path(tempfile.mkdtemp(prefix=f"bindery-bench-backup-{engine}-"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("BINDERY_")}
        env.update(BINDERY_VAR_DIR=str(var), BINDERY_QUEUE="immediate", BINDERY_LOG_LEVEL="WARNING",
                   BINDERY_BACKUP_TARGET=str(var / "offsite"), PYTHONPATH=f"{ROOT / 'src'}:{ROOT}",
                   BINDERY_HTTPS_PORT=str(_free_port()), BINDERY_HTTP_PORT=str(_free_port()))
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
                            "--seconds", str(args.seconds), "--rate-limit", str(args.rate_limit)], env=env, check=True)
        finally:
            shutil.rmtree(var, ignore_errors=True)
            if names:
                import psycopg

                with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
                    for name in names:
                        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    raise SystemExit(main())
