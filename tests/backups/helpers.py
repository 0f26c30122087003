"""Shared pieces of the backup tests: a SQLite database with a writer, a site keyring."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from bindery.security.envelope import Keyring, new_key_text


def site_ring() -> Keyring:
    return Keyring.from_text(new_key_text())


def make_sqlite(path: Path, *, orders: int = 2000, blob_kb: int = 0) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, ref TEXT, total REAL, note BLOB)")
    conn.execute("CREATE TABLE order_rows (id INTEGER PRIMARY KEY, order_id INTEGER, sku TEXT)")
    conn.execute('CREATE TABLE "odd ""name""" (x)')
    with conn:  # random (incompressible) notes make the archive as large as the database
        conn.executemany("INSERT INTO orders (ref, total, note) VALUES (?, ?, randomblob(?))",
                         [(f"SO-{i}", i * 1.5, blob_kb * 1024) for i in range(orders)])
        conn.executemany("INSERT INTO order_rows (order_id, sku) VALUES (?, ?)",
                         [(i // 2 + 1, f"SKU{i}") for i in range(orders * 2)])
    conn.close()
    return path


class SqliteWriter:
    """Commit orders (one order and two rows per transaction) in a thread until stopped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.commits = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA synchronous=NORMAL")
        while not self._stop.is_set():
            with conn:
                cur = conn.execute("INSERT INTO orders (ref, total) VALUES ('W', 1)")
                conn.executemany("INSERT INTO order_rows (order_id, sku) VALUES (?, 'W')",
                                 [(cur.lastrowid,), (cur.lastrowid,)])
            self.commits += 1
            time.sleep(0.002)
        conn.close()

    def __enter__(self) -> SqliteWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
