"""Consistent online snapshot of a SQLite database (issue 9).

Never a byte copy of a WAL database: `Connection.backup(dst, pages=-1)` copies every page in
one step under one read transaction, so a concurrent writer cannot make it restart or tear it.
The destination runs with synchronous=OFF (it is a scratch file until committed) and is
written under a temporary name; only a complete, integrity-checked copy is renamed into place.
Per-table row counts are captured from the snapshot itself for the manifest.

A host serving its snapshot endpoint does only :func:`copy_online` (the one-step copy into a
scratch file): the integrity check, the row counts and the flush to disk are the backup
site's work, on its own machine (:func:`snapshot_sqlite` on the pulled file).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path


class SnapshotError(Exception):
    """The snapshot failed; nothing was left at the destination."""


@dataclass(frozen=True)
class SqliteSnapshot:
    path: Path
    size: int
    row_counts: dict[str, int]


def _row_counts(conn: sqlite3.Connection) -> dict[str, int]:
    names = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    counts = {}
    for name in names:
        quoted = '"' + name.replace('"', '""') + '"'
        counts[name] = conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]  # noqa: S608 - quoted identifier
    return counts


def copy_online(source: Path, partial: Path) -> None:
    """Copy ``source`` into the new file ``partial`` in one step under one read transaction.

    ``pages=-1`` copies every page in a single ``sqlite3_backup_step``: a writer in WAL mode
    keeps committing meanwhile (to the WAL, which this reader's snapshot does not see) and can
    neither block the copy nor make it restart, unlike a stepped copy, which restarts whenever
    another connection writes. The destination is a scratch file: ``synchronous=OFF`` (no
    flushes that would stall the host's commits on a shared disk) and ``journal_mode=DELETE``
    so it is one self-contained file. Raises sqlite3.Error.
    """
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(partial)
        try:
            dst.execute("PRAGMA synchronous=OFF")
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()


def snapshot_sqlite(source: Path, destination: Path) -> SqliteSnapshot:
    """Copy `source` into `destination` consistently while it stays online."""
    if not source.is_file():
        raise SnapshotError(f"source database {source} does not exist")
    if destination.exists():
        raise SnapshotError(f"destination {destination} already exists")
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        copy_online(source, partial)
        dst = sqlite3.connect(partial)
        try:
            check = dst.execute("PRAGMA integrity_check").fetchall()
            if check != [("ok",)]:
                raise SnapshotError(f"snapshot failed integrity_check: {check[:5]!r}")
            counts = _row_counts(dst)
        finally:
            dst.close()
        with open(partial, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(partial, destination)
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise SnapshotError(f"snapshot of {source} failed: {exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return SqliteSnapshot(path=destination, size=destination.stat().st_size, row_counts=counts)
