"""The backup repository: take, commit, list, verify, restore, drill and prune backups.

One backup is two objects in ``<database>/`` on the target: ``<stamp>-<rand>.bkp`` (the archive,
see :mod:`bindery.backups.archive`) and ``<stamp>-<rand>.manifest`` (JSON signed with the site
key: sizes, SHA-256 checksums, per-table row counts recorded at backup time, the wrapped data
key, database, host and times). The archive is written first, the manifest last, each under a
temporary name renamed into place: **a backup without a committed manifest does not exist** —
listing reads manifests only, and the next run of that database removes the leftovers.

This module knows nothing of Django: the backup site's runner (:mod:`bindery.backups.site`)
records results in the control plane's catalog and raises alerts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import secrets
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bindery.backups import pg_snapshot
from bindery.backups.archive import ArchiveError, StreamStats, decrypt_stream, encrypt_stream
from bindery.backups.retention import RetentionPolicy, backups_to_keep
from bindery.backups.sitekey import (
    SiteKeyError,
    check_manifest_mac,
    sign_manifest,
    unwrap_data_key,
    wrap_data_key,
)
from bindery.backups.sqlite_snapshot import SnapshotError, _row_counts, snapshot_sqlite
from bindery.backups.targets import Target, TargetError, check_path
from bindery.security.envelope import Keyring

FORMAT = 1
ARCHIVE_SUFFIX = ".bkp"
MANIFEST_SUFFIX = ".manifest"
STAMP = "%Y%m%dT%H%M%SZ"


class BackupError(Exception):
    """A backup, verify, restore or drill failed; the message says why in one line."""


class BackupBusy(BackupError):
    """Another backup of the same database is running."""


@dataclass(frozen=True)
class Source:
    """A database to back up: ``control`` or ``host-<name>``, its engine and where to read it."""

    database: str
    engine: str  # "sqlite" or "postgresql"
    location: str  # a file path or a host's https:// snapshot endpoint (SQLite), or a postgres:// URL
    host: str = ""
    token: str = ""  # for a snapshot endpoint
    ca_file: str = ""  # pins the snapshot endpoint's certificate
    rate: int = 0  # most bytes/s read from the database (snapshot stream or pg_dump); 0: unlimited

    def __repr__(self) -> str:  # never show a URL with its password
        return f"Source({self.database}, {self.engine})"


@dataclass(frozen=True)
class Manifest:
    body: dict[str, Any]

    @property
    def backup_id(self) -> str:
        return str(self.body["id"])

    @property
    def database(self) -> str:
        return str(self.body["database"])

    @property
    def engine(self) -> str:
        return str(self.body["engine"])

    @property
    def taken_at(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.body["taken_at"])

    @property
    def row_counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.body["row_counts"].items()}

    @property
    def snapshot_size(self) -> int:
        return int(self.body["snapshot"]["size"])

    @property
    def stored_size(self) -> int:
        return int(self.body["stored"]["size"])

    @property
    def archive_path(self) -> str:
        return self.backup_id + ARCHIVE_SUFFIX


@dataclass
class CheckResult:
    backup_id: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@contextlib.contextmanager
def database_lock(lock_dir: Path, database: str) -> Iterator[None]:
    """Hold the backup site's lock for one database; raise BackupBusy if another process has it.

    An advisory ``flock`` on a file: the kernel drops it when its holder dies, even by SIGKILL,
    so a crashed run never blocks the next one.
    """
    check_path(database)
    lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(lock_dir / f"{database}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupBusy(f"a backup of {database} is already running") from None
        yield
    finally:
        os.close(fd)


def _snapshot(source: Source, scratch: Path) -> tuple[Path, dict[str, int]]:
    if source.engine == "sqlite":
        local = Path(source.location)
        if source.location.startswith(("https://", "http://")):
            from bindery.backups.snapshot_endpoint import pull_snapshot

            local = scratch / "pulled.sqlite3"
            pull_snapshot(source.location, source.token, local, ca_file=source.ca_file, rate=source.rate)
        snap = snapshot_sqlite(local, scratch / "snapshot.sqlite3")  # checks and counts it here
        if local != Path(source.location):
            local.unlink(missing_ok=True)
        return snap.path, snap.row_counts
    if source.engine == "postgresql":
        path = scratch / "snapshot.dump"
        counts = pg_snapshot.dump_postgres_counted(source.location, path, rate=source.rate)
        return path, counts
    raise BackupError(f"unknown engine {source.engine!r}")


def create_backup(target: Target, ring: Keyring, source: Source, *, work_dir: Path,
                  now: dt.datetime | None = None) -> Manifest:
    """Snapshot ``source``, store it compressed and encrypted, and commit its manifest."""
    check_path(source.database)
    taken_at = (now or _now()).astimezone(dt.UTC)
    backup_id = f"{source.database}/{taken_at.strftime(STAMP)}-{secrets.token_hex(3)}"
    with database_lock(work_dir / "locks", source.database):
        target.remove_partials(source.database)
        scratch_root = work_dir / "scratch"
        scratch_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.TemporaryDirectory(dir=scratch_root) as tmp:
            try:
                snapshot, counts = _snapshot(source, Path(tmp))
            except SnapshotError as exc:
                raise BackupError(str(exc)) from None
            data_key = secrets.token_bytes(32)
            stats = StreamStats()
            with open(snapshot, "rb") as handle:
                target.write_atomic(backup_id + ARCHIVE_SUFFIX, encrypt_stream(handle, data_key, backup_id, stats))
        body = {
            "format": FORMAT, "id": backup_id, "database": source.database, "engine": source.engine,
            "host": source.host, "taken_at": taken_at.isoformat(), "committed_at": _now().isoformat(),
            "compression": "zstd", "cipher": "AES-256-GCM",
            "snapshot": {"size": stats.plain_bytes, "sha256": stats.plain_sha256},
            "stored": {"name": backup_id + ARCHIVE_SUFFIX, "size": stats.stored_bytes,
                       "sha256": stats.stored_sha256, "frames": stats.frames},
            "data_key": wrap_data_key(data_key, ring, backup_id),
            "row_counts": counts,
        }
        if source.location.startswith("https://"):
            body["pulled_from"] = source.location
        document = {"manifest": body, "mac": sign_manifest(_canonical(body), ring)}
        target.write_atomic(backup_id + MANIFEST_SUFFIX, [json.dumps(document, indent=1, sort_keys=True).encode()])
    return Manifest(body)


def _read_manifest(target: Target, path: str, ring: Keyring) -> Manifest:
    try:
        document = json.loads(b"".join(target.read(path)))
        body = document["manifest"]
        check_manifest_mac(_canonical(body), str(document["mac"]), ring)
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"manifest {path} is unreadable: {type(exc).__name__}") from None
    except SiteKeyError as exc:
        raise BackupError(f"manifest {path}: {exc}") from None
    if body.get("id") + MANIFEST_SUFFIX != path:
        raise BackupError(f"manifest {path} names another backup ({body.get('id')})")
    return Manifest(body)


def list_backups(target: Target, ring: Keyring, database: str | None = None) -> tuple[list[Manifest], list[str]]:
    """Return the committed backups, oldest first, and problems with manifests that do not verify."""
    found: list[Manifest] = []
    problems: list[str] = []
    for folder in [database] if database else target.folders():
        for name in target.names(folder):
            if not name.endswith(MANIFEST_SUFFIX):
                continue
            try:
                found.append(_read_manifest(target, f"{folder}/{name}", ring))
            except BackupError as exc:
                problems.append(str(exc))
    found.sort(key=lambda m: (m.taken_at, m.backup_id))
    return found, problems


def find_backup(target: Target, ring: Keyring, ref: str) -> Manifest:
    """Find a backup by id, or the newest of a database (``<database>`` or ``<database>/latest``)."""
    database, _, rest = ref.partition("/")
    if rest and rest != "latest":
        return _read_manifest(target, ref + MANIFEST_SUFFIX, ring)
    backups, _ = list_backups(target, ring, database)
    if not backups:
        raise BackupError(f"no committed backup of {database}")
    return backups[-1]


def _decrypt_to(target: Target, ring: Keyring, manifest: Manifest, out_path: Path) -> list[str]:
    """Decrypt the archive into ``out_path``; return the mismatches against the manifest."""
    try:
        data_key = unwrap_data_key(manifest.body["data_key"], ring, manifest.backup_id)
    except SiteKeyError as exc:
        return [str(exc)]
    stats = StreamStats()
    problems: list[str] = []
    try:
        with open(out_path, "wb") as out:
            decrypt_stream(target.read(manifest.archive_path), data_key, manifest.backup_id, out.write, stats)
    except (ArchiveError, TargetError) as exc:
        return [f"archive: {exc}"]
    stored, snap = manifest.body["stored"], manifest.body["snapshot"]
    if stats.stored_bytes != stored["size"] or stats.stored_sha256 != stored["sha256"]:
        problems.append("stored archive size or SHA-256 differs from the manifest")
    if stats.plain_bytes != snap["size"] or stats.plain_sha256 != snap["sha256"]:
        problems.append("decrypted snapshot size or SHA-256 differs from the manifest")
    return problems


def _compare_counts(expected: dict[str, int], actual: dict[str, int]) -> list[str]:
    problems = []
    for table in sorted(set(expected) | set(actual)):
        if expected.get(table) != actual.get(table):
            problems.append(f"table {table}: manifest {expected.get(table)} rows, restored {actual.get(table)}")
    return problems


def _sqlite_check(path: Path) -> tuple[list[str], dict[str, int]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchall()
        if result != [("ok",)]:
            return [f"integrity_check: {result[:3]!r}"], {}
        return [], _row_counts(conn)
    except sqlite3.Error as exc:
        return [f"sqlite: {exc}"], {}
    finally:
        conn.close()


def verify_backup(target: Target, ring: Keyring, manifest: Manifest, *, work_dir: Path) -> CheckResult:
    """Decrypt, check against the manifest and open the snapshot (integrity_check / pg_restore)."""
    started = _now()
    result = CheckResult(manifest.backup_id, ok=False)
    scratch_root = work_dir / "scratch"
    scratch_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=scratch_root) as tmp:
        out = Path(tmp) / "snapshot"
        result.problems = _decrypt_to(target, ring, manifest, out)
        if not result.problems:
            if manifest.engine == "sqlite":
                problems, counts = _sqlite_check(out)
                result.problems += problems
                if not problems:
                    result.row_counts = counts
                    result.problems += _compare_counts(manifest.row_counts, counts)
            else:
                try:
                    _toc, counts = pg_snapshot.read_custom_dump(out)
                except SnapshotError as exc:
                    result.problems.append(str(exc))
                else:
                    result.row_counts = counts
                    result.problems += _compare_counts(manifest.row_counts, counts)
    result.ok = not result.problems
    result.seconds = (_now() - started).total_seconds()
    return result


def _pg_restore(dump: Path, url: str) -> None:
    with pg_snapshot.libpq_login(url) as (dsn, env):
        done = pg_snapshot._run(
            [pg_snapshot._tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
             "--no-password", f"--dbname={dsn}", str(dump)], pg_snapshot.TIMEOUT_S, env)
    if done.returncode != 0:
        raise BackupError(f"pg_restore exited {done.returncode}: {done.stderr.strip()[:500]}")


def _pg_counts(url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url, connect_timeout=30) as conn, conn.cursor() as cursor:
        return pg_snapshot.table_row_counts(cursor)


def restore_backup(target: Target, ring: Keyring, manifest: Manifest, destination: str, *,
                   work_dir: Path) -> CheckResult:
    """Restore a whole database: a new SQLite file, or an empty PostgreSQL database (by URL).

    The archive is checked against its manifest before anything is written to the destination;
    the restored database is then opened and its per-table counts compared with the manifest.
    """
    started = _now()
    result = CheckResult(manifest.backup_id, ok=False)
    scratch_root = work_dir / "scratch"
    scratch_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=scratch_root) as tmp:
        out = Path(tmp) / "snapshot"
        result.problems = _decrypt_to(target, ring, manifest, out)
        if result.problems:
            return result
        if manifest.engine == "sqlite":
            dest = Path(destination)
            if dest.exists():
                raise BackupError(f"{dest} exists; restore into a new file (move the old one aside first)")
            problems, counts = _sqlite_check(out)
            if not problems:
                try:
                    os.replace(out, dest)
                except OSError:  # another file system: copy, flush, then rename
                    _copy(out, dest)
        else:
            if not destination.startswith(("postgres://", "postgresql://")):
                raise BackupError("a PostgreSQL backup restores into a postgres:// URL of an empty database")
            _pg_restore(out, destination)
            problems, counts = [], _pg_counts(destination)
    result.problems += problems
    result.row_counts = counts
    result.problems += _compare_counts(manifest.row_counts, counts)
    result.ok = not result.problems
    result.seconds = (_now() - started).total_seconds()
    return result


def _copy(src: Path, dest: Path) -> None:
    partial = dest.with_name(dest.name + ".partial")
    with open(src, "rb") as reader, open(partial, "wb") as writer:
        while block := reader.read(1 << 20):
            writer.write(block)
        writer.flush()
        os.fsync(writer.fileno())
    os.replace(partial, dest)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def drill_backup(target: Target, ring: Keyring, manifest: Manifest, *, work_dir: Path,
                 server_url: str | None = None) -> CheckResult:
    """Restore into a scratch database, check it and compare per-table counts with the manifest.

    SQLite restores into a scratch file; PostgreSQL into a throw-away database created on
    ``server_url``'s server (its role needs CREATEDB) and dropped afterwards.
    """
    scratch_root = work_dir / "scratch"
    scratch_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    if manifest.engine == "sqlite":
        with tempfile.TemporaryDirectory(dir=scratch_root) as tmp:
            return restore_backup(target, ring, manifest, str(Path(tmp) / "drill.sqlite3"), work_dir=work_dir)
    if not server_url:
        raise BackupError("a PostgreSQL drill needs a server to restore into (--server-url)")
    import psycopg

    name = "bindery_drill_" + secrets.token_hex(6)
    admin = _with_database(server_url, "postgres")
    with psycopg.connect(admin, autocommit=True, connect_timeout=30) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        return restore_backup(target, ring, manifest, _with_database(server_url, name), work_dir=work_dir)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=30) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prune_backups(target: Target, ring: Keyring, database: str, policy: RetentionPolicy, *,
                  lock_dir: Path, dry_run: bool = False) -> list[Manifest]:
    """Delete the backups of ``database`` that the GFS policy does not keep; return them.

    The manifest goes first, so an interrupted prune leaves an orphan archive (invisible,
    removed by the next prune), never a listed backup without its data.
    """
    with database_lock(lock_dir, database):
        backups, _ = list_backups(target, ring, database)
        keep = backups_to_keep([m.taken_at for m in backups], policy)
        doomed = [m for m in backups if m.taken_at not in keep]
        if not dry_run:
            for manifest in doomed:
                target.delete(manifest.backup_id + MANIFEST_SUFFIX)
                target.delete(manifest.archive_path)
            listed = {m.backup_id for m in backups if m.taken_at in keep}
            for name in target.names(database):
                if name.endswith(ARCHIVE_SUFFIX) and f"{database}/{name[:-len(ARCHIVE_SUFFIX)]}" not in listed:
                    target.delete(f"{database}/{name}")
    return doomed


def manifest_summary(manifest: Manifest) -> dict[str, Any]:
    return {"id": manifest.backup_id, "database": manifest.database, "engine": manifest.engine,
            "host": manifest.body.get("host", ""), "taken_at": manifest.body["taken_at"],
            "snapshot_bytes": manifest.snapshot_size, "stored_bytes": manifest.stored_size,
            "tables": len(manifest.row_counts), "rows": sum(manifest.row_counts.values()),
            "key_id": manifest.body["data_key"]["key_id"],
            "sha256": str(manifest.body["stored"]["sha256"])}
