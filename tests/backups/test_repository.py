"""The encrypted repository on a local directory: commit, list, verify, restore, damage, crashes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bindery.backups.repository import (
    BackupBusy,
    BackupError,
    Source,
    create_backup,
    database_lock,
    drill_backup,
    find_backup,
    list_backups,
    restore_backup,
    verify_backup,
)
from bindery.backups.targets import LocalTarget
from tests.backups.helpers import SqliteWriter, make_sqlite, site_ring


@pytest.fixture
def repo(tmp_path: Path) -> LocalTarget:
    return LocalTarget(tmp_path / "repo")


def _source(path: Path) -> Source:
    return Source("host-local", "sqlite", str(path), host="local")


def test_backup_is_compressed_encrypted_and_restores(tmp_path, repo):
    """The stored archive holds no plaintext, is smaller than the snapshot, and restores exactly."""
    db = make_sqlite(tmp_path / "host.sqlite3", orders=3000)
    ring = site_ring()
    manifest = create_backup(repo, ring, _source(db), work_dir=tmp_path / "site")
    assert manifest.row_counts == {"orders": 3000, "order_rows": 6000, 'odd "name"': 0}
    archive = repo.root / manifest.archive_path
    data = archive.read_bytes()
    assert b"SO-1" not in data
    assert b"SQLite format" not in data
    assert manifest.stored_size == len(data) < manifest.snapshot_size
    assert oct(archive.stat().st_mode & 0o777) == "0o400"
    backups, problems = list_backups(repo, ring)
    assert [m.backup_id for m in backups] == [manifest.backup_id]
    assert problems == []
    assert verify_backup(repo, ring, manifest, work_dir=tmp_path / "site").ok
    restored = tmp_path / "restored.sqlite3"
    result = restore_backup(repo, ring, find_backup(repo, ring, "host-local"), str(restored), work_dir=tmp_path / "s")
    assert result.ok, result.problems
    conn = sqlite3.connect(restored)
    assert conn.execute("SELECT count(*), max(ref) FROM orders").fetchone() == (3000, "SO-999")
    conn.close()


def test_flipped_byte_is_caught_by_verify(tmp_path, repo):
    """One flipped bit anywhere in the stored archive fails verify and restore; a forged manifest is refused."""
    db = make_sqlite(tmp_path / "host.sqlite3", orders=500)
    ring = site_ring()
    manifest = create_backup(repo, ring, _source(db), work_dir=tmp_path / "site")
    archive = repo.root / manifest.archive_path
    original = archive.read_bytes()
    for position in (20, len(original) // 2, len(original) - 1):
        damaged = bytearray(original)
        damaged[position] ^= 0x01
        os.chmod(archive, 0o600)
        archive.write_bytes(bytes(damaged))
        result = verify_backup(repo, ring, manifest, work_dir=tmp_path / "site")
        assert not result.ok
        assert "does not verify" in " ".join(result.problems), result.problems
        assert not restore_backup(repo, ring, manifest, str(tmp_path / f"r{position}.sqlite3"),
                                  work_dir=tmp_path / "site").ok
        assert not (tmp_path / f"r{position}.sqlite3").exists()
    archive.write_bytes(original[:-100])  # cut short
    assert "truncated" in " ".join(verify_backup(repo, ring, manifest, work_dir=tmp_path / "site").problems)
    archive.write_bytes(original)
    assert verify_backup(repo, ring, manifest, work_dir=tmp_path / "site").ok
    # Editing the manifest (e.g. to hide a lost table) breaks its signature.
    manifest_file = repo.root / (manifest.backup_id + ".manifest")
    document = json.loads(manifest_file.read_text())
    document["manifest"]["row_counts"]["orders"] = 1
    os.chmod(manifest_file, 0o600)
    manifest_file.write_text(json.dumps(document))
    backups, problems = list_backups(repo, ring)
    assert backups == []
    assert "signature does not verify" in problems[0]


def test_only_the_site_key_opens_a_backup(tmp_path, repo):
    db = make_sqlite(tmp_path / "host.sqlite3", orders=10)
    ring = site_ring()
    manifest = create_backup(repo, ring, _source(db), work_dir=tmp_path / "site")
    other = site_ring()
    backups, problems = list_backups(repo, other)
    assert backups == []
    assert "unknown site key" in problems[0]
    result = verify_backup(repo, other, manifest, work_dir=tmp_path / "site")
    assert not result.ok
    assert "not configured" in result.problems[0]


def test_backup_under_a_writer_restores_consistently(tmp_path, repo):
    """Acceptance: taken while a writer commits, the backup restores to a database that passes
    integrity_check with per-table counts equal to the manifest's (recorded at backup time)."""
    db = make_sqlite(tmp_path / "host.sqlite3", orders=20000, blob_kb=1)
    ring = site_ring()
    with SqliteWriter(db) as writer:
        time.sleep(0.2)
        manifest = create_backup(repo, ring, _source(db), work_dir=tmp_path / "site")
        time.sleep(0.2)
    assert writer.commits > 20
    counts = manifest.row_counts
    assert counts["order_rows"] == 40000 + 2 * (counts["orders"] - 20000)  # no torn transaction
    assert 20000 < counts["orders"] < 20000 + writer.commits
    result = drill_backup(repo, ring, manifest, work_dir=tmp_path / "site")
    assert result.ok, result.problems
    assert result.row_counts == counts


def test_one_backup_of_a_database_at_a_time(tmp_path, repo):
    db = make_sqlite(tmp_path / "host.sqlite3", orders=10)
    with database_lock(tmp_path / "site" / "locks", "host-local"), pytest.raises(BackupBusy):
        create_backup(repo, site_ring(), _source(db), work_dir=tmp_path / "site")
    create_backup(repo, site_ring(), Source("control", "sqlite", str(db)), work_dir=tmp_path / "site")


def test_failed_snapshot_is_not_a_backup(tmp_path, repo):
    with pytest.raises(BackupError, match="does not exist"):
        create_backup(repo, site_ring(), _source(tmp_path / "missing.sqlite3"), work_dir=tmp_path / "site")
    assert list_backups(repo, site_ring()) == ([], [])


_SLOW_BACKUP = """
import sys, time
from pathlib import Path
from bindery.backups import targets
from bindery.backups.repository import Source, create_backup
from bindery.security.envelope import Keyring

original = targets.LocalTarget.write_atomic
def slow_write(self, path, chunks):
    def slowly():
        for chunk in chunks:
            time.sleep(0.05)  # a slow disk, so the test can kill us mid-write
            yield chunk
    return original(self, path, slowly())
targets.LocalTarget.write_atomic = slow_write
repo = targets.LocalTarget(Path(sys.argv[1]))
create_backup(repo, Keyring.from_text(sys.argv[4]), Source("host-local", "sqlite", sys.argv[2]),
              work_dir=Path(sys.argv[3]))
"""


def test_sigkill_mid_write_leaves_no_listed_backup(tmp_path, repo):
    """Acceptance: a backup process killed by SIGKILL while writing leaves nothing listed, does
    not hold the lock, and the next run succeeds and clears the partial file."""
    db = make_sqlite(tmp_path / "host.sqlite3", orders=4000, blob_kb=2)  # ~8 MB, incompressible
    key = "A" * 43
    from bindery.security.envelope import Keyring

    ring = Keyring.from_text(key)
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_BACKUP, str(repo.root), str(db), str(tmp_path / "site"), key])
    folder = repo.root / "host-local"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        partials = list(folder.glob(".partial-*")) if folder.exists() else []
        if partials and partials[0].stat().st_size > 1_000_000:
            break
        assert proc.poll() is None, "the backup finished before it could be killed"
        time.sleep(0.02)
    else:
        pytest.fail("no partial archive appeared")
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert list(folder.glob(".partial-*"))
    assert list_backups(repo, ring) == ([], [])
    manifest = create_backup(repo, ring, _source(db), work_dir=tmp_path / "site")
    assert [m.backup_id for m in list_backups(repo, ring)[0]] == [manifest.backup_id]
    assert not list(folder.glob(".partial-*"))
    assert verify_backup(repo, ring, manifest, work_dir=tmp_path / "site").ok


_HOST_PRINCIPAL = """
import os, sys
results = []
for action in ("list", "delete", "overwrite", "control"):
    try:
        if action == "list":
            os.listdir(sys.argv[1])
        elif action == "delete":
            os.remove(sys.argv[2])
        elif action == "overwrite":
            open(sys.argv[2], "r+b").write(b"x")
        else:
            open(os.path.join(sys.argv[3], "probe"), "wb").write(b"x")
        results.append(action + ":allowed")
    except PermissionError:
        results.append(action + ":denied")
print(" ".join(results))
"""


# The project's interpreter lives under /root; the other user runs the system's.
SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(SYSTEM_PYTHON),
                    reason="switching to another user needs root and a system Python")
def test_host_principal_cannot_delete_or_alter_a_backup(tmp_path_factory):
    """A principal other than the backup site's (here uid nobody, as a delivery host's service
    account would be) can neither list, delete nor alter stored backups; the control folder proves
    the same principal can write where it is allowed to."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="bindery-bk-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)  # noqa: S103 - the other user must reach the repository folder
        work = tmp_path_factory.mktemp("site")
        db = make_sqlite(work / "host.sqlite3", orders=10)
        repo = LocalTarget(base / "repo")
        manifest = create_backup(repo, site_ring(), _source(db), work_dir=work)
        archive = repo.root / manifest.archive_path
        control = base / "open"
        control.mkdir()
        os.chmod(control, 0o777)  # noqa: S103 - a folder the other user may write: the control case
        done = subprocess.run([SYSTEM_PYTHON, "-c", _HOST_PRINCIPAL, str(repo.root), str(archive), str(control)],
                              user=65534, group=65534, capture_output=True, text=True, timeout=60, check=True)
        assert done.stdout.split() == ["list:denied", "delete:denied", "overwrite:denied", "control:allowed"]
        assert archive.exists()
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=True)
