"""The repository on a real SFTP server (asyncssh on loopback) and backups of a real PostgreSQL."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid

import pytest

from bindery.backups.repository import (
    Source,
    create_backup,
    drill_backup,
    list_backups,
    prune_backups,
    verify_backup,
)
from bindery.backups.retention import RetentionPolicy
from bindery.backups.targets import SftpTarget, TargetError
from tests.backups.helpers import make_sqlite, site_ring
from tests.technologies.files.servers import PASSWORD, USER, sftp_server

ADMIN = "postgres://bindery_test@127.0.0.1:5432/postgres"


def test_sftp_target_commits_verifies_and_catches_damage(tmp_path):
    db = make_sqlite(tmp_path / "host.sqlite3", orders=3000, blob_kb=1)
    root = tmp_path / "sftp"
    root.mkdir()
    ring = site_ring()
    with sftp_server(root) as server:
        target = SftpTarget("127.0.0.1", port=server.port, username=USER, password=PASSWORD,
                            host_key=server.host_key, folder="offsite")
        try:
            manifest = create_backup(target, ring, Source("control", "sqlite", str(db)), work_dir=tmp_path / "site")
            archive = root / "offsite" / manifest.archive_path
            assert archive.stat().st_size == manifest.stored_size
            assert oct(archive.stat().st_mode & 0o777) == "0o400"
            assert [m.backup_id for m in list_backups(target, ring)[0]] == [manifest.backup_id]
            assert verify_backup(target, ring, manifest, work_dir=tmp_path / "site").ok
            # A partial upload is invisible and removed by the next run of the database.
            (root / "offsite" / "control" / ".partial-x.bkp-1234").write_bytes(b"half")
            assert len(list_backups(target, ring)[0]) == 1
            data = bytearray(archive.read_bytes())
            data[len(data) // 3] ^= 0x80
            archive.chmod(0o600)
            archive.write_bytes(bytes(data))
            result = verify_backup(target, ring, manifest, work_dir=tmp_path / "site")
            assert not result.ok
            second = create_backup(target, ring, Source("control", "sqlite", str(db)), work_dir=tmp_path / "site")
            assert not (root / "offsite" / "control" / ".partial-x.bkp-1234").exists()
            assert verify_backup(target, ring, second, work_dir=tmp_path / "site").ok
            removed = prune_backups(target, ring, "control", RetentionPolicy(daily=1, weekly=0, monthly=0),
                                    lock_dir=tmp_path / "site" / "locks")
            assert [m.backup_id for m in removed] == [manifest.backup_id]
            assert sorted(p.name for p in (root / "offsite" / "control").iterdir()) == sorted(
                [second.backup_id.split("/")[1] + ".bkp", second.backup_id.split("/")[1] + ".manifest"])
        finally:
            target.close()


def test_sftp_target_refuses_an_unknown_host_key(tmp_path):
    import asyncssh

    root = tmp_path / "sftp"
    root.mkdir()
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    with sftp_server(root) as server, pytest.raises(TargetError, match="SFTP failed"):
        SftpTarget("127.0.0.1", port=server.port, username=USER, password=PASSWORD, host_key=other)


def _psql(sql: str, url: str) -> None:
    subprocess.run(["psql", "--no-psqlrc", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql, url], check=True, timeout=180)


@pytest.fixture
def pg_db():
    name = f"bk_{uuid.uuid4().hex[:10]}"
    _psql(f"CREATE DATABASE {name}", ADMIN)
    url = f"postgres://bindery_test@127.0.0.1:5432/{name}"
    _psql("CREATE TABLE orders (id bigserial PRIMARY KEY, ref text, note text);"
          "CREATE TABLE order_rows (id bigserial PRIMARY KEY, order_id bigint, sku text);"
          "INSERT INTO orders (ref, note) SELECT 'SO-' || g, md5(g::text) FROM generate_series(1, 20000) g;"
          "INSERT INTO order_rows (order_id, sku) SELECT g / 2 + 1, 'SKU' || g FROM generate_series(1, 40000) g;"
          # A forced row-level-security policy like the host tables': pg_dump must still see every row.
          "ALTER TABLE orders ENABLE ROW LEVEL SECURITY; ALTER TABLE orders FORCE ROW LEVEL SECURITY;"
          "CREATE POLICY iso ON orders USING (coalesce(current_setting('x.t', true), '') = '')", url)
    yield url
    _psql(f"DROP DATABASE {name} WITH (FORCE)", ADMIN)


def test_postgres_backup_under_a_writer_drills_with_matching_counts(pg_db, tmp_path):
    """Acceptance: pg_dump runs in the snapshot the counts were taken in, so a drill restoring
    into a scratch database finds exactly the manifest's per-table counts while a writer ran."""
    import psycopg

    from bindery.backups.targets import LocalTarget

    stop = threading.Event()
    commits = [0]

    def writer() -> None:
        with psycopg.connect(pg_db, autocommit=True) as conn:
            while not stop.is_set():
                with conn.transaction():
                    order_id = conn.execute("INSERT INTO orders (ref) VALUES ('W') RETURNING id").fetchone()[0]
                    conn.execute("INSERT INTO order_rows (order_id, sku) VALUES (%s, 'W'), (%s, 'W')",
                                 (order_id, order_id))
                commits[0] += 1

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    repo = LocalTarget(tmp_path / "repo")
    ring = site_ring()
    try:
        time.sleep(0.3)
        manifest = create_backup(repo, ring, Source("host-pg", "postgresql", pg_db, host="pg"),
                                 work_dir=tmp_path / "site")
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join(30)
    counts = manifest.row_counts
    assert commits[0] > 10
    assert counts["order_rows"] == 40000 + 2 * (counts["orders"] - 20000)
    assert counts["orders"] > 20000
    verified = verify_backup(repo, ring, manifest, work_dir=tmp_path / "site")
    assert verified.ok, verified.problems
    drilled = drill_backup(repo, ring, manifest, work_dir=tmp_path / "site", server_url=pg_db)
    assert drilled.ok, drilled.problems
    assert drilled.row_counts == counts
