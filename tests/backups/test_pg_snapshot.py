import subprocess
import uuid

import pytest

from bindery.backups.pg_snapshot import check_client_matches_server, dump_postgres, verify_custom_dump
from bindery.backups.sqlite_snapshot import SnapshotError

ADMIN = "postgres://bindery_test@127.0.0.1:5432/postgres"


@pytest.fixture
def scratch_db():
    name = f"bk_{uuid.uuid4().hex[:10]}"
    subprocess.run(["psql", "--no-psqlrc", "-q", "-c", f"CREATE DATABASE {name}", ADMIN], check=True, timeout=180)
    url = f"postgres://bindery_test@127.0.0.1:5432/{name}"
    subprocess.run(
        [
            "psql",
            "--no-psqlrc",
            "-q",
            "-c",
            "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 5000) g",
            url,
        ],
        check=True,
        timeout=180,
    )
    yield url
    subprocess.run(["psql", "--no-psqlrc", "-q", "-c", f"DROP DATABASE {name}", ADMIN], check=True, timeout=180)


def test_real_dump_is_kept_and_readable(scratch_db, tmp_path):
    assert check_client_matches_server(scratch_db) == 15
    dump = dump_postgres(scratch_db, tmp_path / "db.dump")
    toc = verify_custom_dump(dump)
    assert any("TABLE DATA public t " in line for line in toc)
    assert not (tmp_path / "db.dump.partial").exists()


def test_failed_dump_leaves_nothing(tmp_path):
    with pytest.raises(SnapshotError):
        dump_postgres("postgres://bindery_test@127.0.0.1:5432/no_such_db_xyz", tmp_path / "db.dump")
    assert list(tmp_path.iterdir()) == []


def test_truncated_dump_is_rejected(scratch_db, tmp_path):
    dump = dump_postgres(scratch_db, tmp_path / "db.dump")
    data = dump.read_bytes()
    cut = tmp_path / "cut.dump"
    cut.write_bytes(data[: len(data) // 2])
    # The table of contents is intact (pg_restore --list alone would accept this file).
    with pytest.raises(SnapshotError, match=r"could not read cut\.dump whole"):
        verify_custom_dump(cut)
    garbage = tmp_path / "garbage.dump"
    garbage.write_bytes(b"PGDMP" + b"\0" * 10)
    with pytest.raises(SnapshotError, match="pg_restore --list rejected"):
        verify_custom_dump(garbage)
