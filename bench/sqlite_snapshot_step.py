"""Benchmark: the host's one-step SQLite snapshot — online backup against VACUUM INTO, under a writer.

    .venv/bin/python bench/sqlite_snapshot_step.py [--mb 100] [--runs 3]

A WAL-mode database of about ``--mb`` MB (JSON-like filler) and a writer thread committing small
transactions (``synchronous=NORMAL``, as the platform) all along. Each method copies it ``--runs``
times into a scratch file; printed per method: the copy's seconds and MB/s, the CPU seconds the
copy used (the copying thread's CPU time: SQLite copies in the calling thread), the writer's commits per
second and its worst commit while the copy ran, and the ratio of each method's time to the
baseline, ``Connection.backup(dst, pages=-1)`` with the destination at ``synchronous=OFF``
(what :func:`bindery.backups.sqlite_snapshot.copy_online` does):

- ``backup, synchronous=FULL``: the same with the destination's default flushes;
- ``VACUUM INTO``: SQLite's other one-step consistent copy (a read transaction, so it does not
  block a WAL writer either), which rebuilds every table and index into the new file.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import threading
import time
from pathlib import Path


def _fill(path: Path, mb: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, doc TEXT)")
    conn.execute("CREATE INDEX filler_doc ON filler (substr(doc, 1, 20))")
    conn.execute("CREATE TABLE writes (id INTEGER PRIMARY KEY, note TEXT)")
    rows = mb * 1024 * 1024 // 480
    conn.execute(
        "WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i + 1 < ?) "
        "INSERT INTO filler SELECT i, '{\"sku\":\"SKU-' || i || '\",\"note\":\"' || hex(randomblob(64)) "
        "|| '\",\"text\":\"' || substr('Lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod "
        "tempor incididunt ut labore et dolore magna aliqua ', 1, 150) || '\"}' FROM g", [rows])
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


class Writer(threading.Thread):
    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path, self.stop = path, threading.Event()
        self.marks: list[tuple[float, float]] = []

    def run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA synchronous=NORMAL")
        while not self.stop.is_set():
            started = time.perf_counter()
            with conn:
                conn.execute("INSERT INTO writes (note) VALUES (?)", ("x" * 300,))
            self.marks.append((started, time.perf_counter() - started))
            time.sleep(0.02)  # about 50 commits/s
        conn.close()


def _backup(source: Path, dest: Path, synchronous: str) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(dest)
    dst.execute(f"PRAGMA synchronous={synchronous}")
    src.backup(dst, pages=-1)
    dst.execute("PRAGMA journal_mode=DELETE")
    dst.close()
    src.close()


def _vacuum_into(source: Path, dest: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    src.execute("VACUUM INTO ?", (str(dest),))
    src.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-snapstep-"))
    db = folder / "host.sqlite3"
    _fill(db, args.mb)
    size = db.stat().st_size / 1e6
    methods = {
        "backup pages=-1, sync OFF": lambda d: _backup(db, d, "OFF"),
        "backup pages=-1, sync FULL": lambda d: _backup(db, d, "FULL"),
        "VACUUM INTO": lambda d: _vacuum_into(db, d),
    }
    results: dict[str, tuple[float, float, float, float]] = {}
    for name, copy in methods.items():
        times, cpus, rates, worst = [], [], [], 0.0
        for run in range(args.runs):
            writer = Writer(db)
            writer.start()
            time.sleep(0.5)
            dest = folder / f"copy-{run}.sqlite3"
            cpu0, started = time.thread_time(), time.perf_counter()
            copy(dest)
            elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu0
            finished = time.perf_counter()
            time.sleep(0.3)
            writer.stop.set()
            writer.join()
            during = [lat for at, lat in writer.marks if started <= at <= finished]
            times.append(elapsed)
            cpus.append(cpu)
            rates.append(len(during) / elapsed)
            worst = max([worst, *during])
            dest.unlink()
            os.sync()
        results[name] = (min(times), min(cpus), sum(rates) / len(rates), worst)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"\n== one-step SQLite snapshot of a {size:.0f} MB WAL database, a writer committing meanwhile "
          f"(best of {args.runs}; load average {load})")
    base = results["backup pages=-1, sync OFF"][0]
    for name, (seconds, cpu, rate, worst) in results.items():
        print(f"  {name:27}: {seconds:6.2f} s  {size / seconds:7.1f} MB/s  CPU {cpu:5.2f} s  "
              f"writer {rate:5.1f} commits/s, worst commit {worst * 1000:6.1f} ms  time ratio {seconds / base:5.2f}")
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
