"""Benchmark: migrating an empty platform — built from the models against replaying every migration.

    .venv/bin/python bench/migrate_fresh.py [--engine sqlite|postgres|both] [--runs 2]

Each run migrates a new, empty pair of databases (control and host) twice, in separate
``bindery`` processes: ``bindery migrate`` (decision 0008: an empty database is built from the
models in one step) and, as the baseline, Django's replay of every migration
(``bindery manage migrate --database ALIAS --replay-history`` for both databases, then
``bindery migrate`` for the queue and static files, as the platform's own command does).
Printed per run: wall seconds and CPU seconds (the child processes' user + system time) of
each path, and the ratio of the replay's CPU time to the fresh build's. PostgreSQL runs need
the ``bindery_test`` role (``make pg-role``) and create and drop their own databases.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

PG = "postgres://bindery_test@127.0.0.1:5432"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(env: dict[str, str], *commands: tuple[str, ...]) -> tuple[float, float]:
    cpu, started = _children_cpu(), time.perf_counter()
    for args in commands:
        done = subprocess.run([sys.executable, "-m", "bindery", *args], env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, check=False)
        if done.returncode != 0:
            raise SystemExit(f"bindery {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, _children_cpu() - cpu


def _environment(folder: Path, engine: str, names: list[str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINDERY_")}
    env["BINDERY_VAR_DIR"] = str(folder)
    if engine == "postgres":
        suffix = uuid.uuid4().hex[:10]
        control, host = f"bench_migrate_c_{suffix}", f"bench_migrate_h_{suffix}"
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            for name in (control, host):
                conn.execute(f'CREATE DATABASE "{name}"')
        names += [control, host]
        env["BINDERY_CONTROL_DATABASE_URL"] = f"{PG}/{control}"
        env["BINDERY_HOST_DATABASE_URL"] = f"{PG}/{host}"
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    engines = ("sqlite", "postgres") if args.engine == "both" else (args.engine,)
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    print("engine    run  fresh wall  fresh CPU  replay wall  replay CPU  CPU ratio (replay / fresh)")
    names: list[str] = []
    try:
        for engine in engines:
            for run in range(1, args.runs + 1):
                with tempfile.TemporaryDirectory(prefix="bench-migrate-") as scratch:
                    fresh_env = _environment(Path(scratch) / "fresh", engine, names)
                    replay_env = _environment(Path(scratch) / "replay", engine, names)
                    fresh = _run(fresh_env, ("migrate", "--quiet"))
                    replay = _run(replay_env, *[("manage", "migrate", "--database", alias, "--replay-history",
                                                 "-v", "0") for alias in ("control", "default")],
                                  ("migrate", "--quiet"))
                print(f"{engine:<9} {run:>3}  {fresh[0]:>9.1f}s  {fresh[1]:>8.1f}s  {replay[0]:>10.1f}s  "
                      f"{replay[1]:>9.1f}s  {replay[1] / fresh[1]:>6.1f}x")
    finally:
        if names:
            with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
                for name in names:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
