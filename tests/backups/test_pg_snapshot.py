import subprocess
import time
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


def test_the_password_goes_to_a_private_passfile_never_the_command_line(scratch_db, tmp_path, monkeypatch):
    """``ps`` shows every user a tool's arguments: the URL's password must not be among them."""
    import os
    import stat
    from pathlib import Path

    from bindery.backups import pg_snapshot
    from bindery.backups.pg_snapshot import libpq_login

    secret = "s3cr:et\\pw"
    url = scratch_db.replace("bindery_test@", f"bindery_test:{secret.replace(':', '%3A')}@")
    seen: list[tuple[list[str], str]] = []
    real_run = pg_snapshot._run

    def recording_run(args, timeout, env=None):
        passfile = (env or {}).get("PGPASSFILE", "")
        content = Path(passfile).read_text() if passfile else ""
        mode = stat.S_IMODE(os.stat(passfile).st_mode) if passfile else None
        seen.append((list(args), f"{mode:o}:{content}" if passfile else ""))
        return real_run(args, timeout, env)

    monkeypatch.setattr(pg_snapshot, "_run", recording_run)
    dump_postgres(url, tmp_path / "db.dump")  # the server trusts loopback, so the dump works either way
    tool_calls = [(args, passfile) for args, passfile in seen if any("--dbname=" in a for a in args)]
    assert len(tool_calls) == 2  # psql for the server version, pg_dump
    for args, passfile in tool_calls:
        assert not any("s3cr" in a for a in args), args
        assert passfile == "600:*:*:*:*:s3cr\\:et\\\\pw\n"
    with libpq_login(url) as (dsn, env):
        kept = env["PGPASSFILE"]
        assert "s3cr" not in dsn
        assert "dbname=" in dsn
    assert not os.path.exists(kept)  # removed when the call is over
    with libpq_login(scratch_db) as (dsn, env):
        assert "PGPASSFILE" not in env or env["PGPASSFILE"] == os.environ.get("PGPASSFILE")


def test_a_malformed_url_is_refused_without_echoing_it():
    from bindery.backups.pg_snapshot import libpq_login

    with pytest.raises(SnapshotError) as exc, libpq_login("postgres://u:topsecret@[::1:5432/db x=1"):
        pass
    assert "topsecret" not in str(exc.value)


def test_a_rate_limited_dump_is_read_through_a_pipe_no_faster_than_the_limit(scratch_db, tmp_path):
    rate = 150_000  # bytes per second
    started = time.monotonic()
    dump = dump_postgres(scratch_db, tmp_path / "slow.dump", compress=False, rate=rate)
    elapsed = time.monotonic() - started
    size = dump.stat().st_size
    assert size > 200_000
    assert elapsed >= size / rate * 0.95, (size, elapsed)
    assert not (tmp_path / "slow.dump.partial").exists()
    # Written to a pipe (no data offsets), it still restores whole.
    name = f"bk_{uuid.uuid4().hex[:10]}"
    subprocess.run(["psql", "--no-psqlrc", "-q", "-c", f"CREATE DATABASE {name}", ADMIN], check=True, timeout=180)
    try:
        url = f"postgres://bindery_test@127.0.0.1:5432/{name}"
        subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={url}", str(dump)], check=True,
                       timeout=180, capture_output=True)
        count = subprocess.run(["psql", "--no-psqlrc", "-Atc", "SELECT count(*), sum(id) FROM t", url], check=True,
                               timeout=180, capture_output=True, text=True).stdout.strip()
        assert count == f"5000|{5000 * 5001 // 2}"
    finally:
        subprocess.run(["psql", "--no-psqlrc", "-q", "-c", f"DROP DATABASE {name} WITH (FORCE)", ADMIN], check=True,
                       timeout=180)


def test_a_failed_rate_limited_dump_says_why_and_leaves_nothing(scratch_db, tmp_path):
    # pg_dump itself fails (the version check passes): its message comes through the pipe's stderr file.
    with pytest.raises(SnapshotError, match=r"pg_dump exited 1: .*snapshot"):
        dump_postgres(scratch_db, tmp_path / "db.dump", snapshot="00000003-0000001B-1", rate=1_000_000)
    assert list(tmp_path.iterdir()) == []


def test_rows_are_counted_in_the_dump_on_the_site_as_the_server_would_count_them(scratch_db, tmp_path):
    import psycopg

    from bindery.backups.pg_snapshot import dump_postgres_counted, read_custom_dump, table_row_counts

    with psycopg.connect(scratch_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE empty_t (id int)")
        conn.execute('CREATE SCHEMA s2; CREATE TABLE s2."We""ird T" (v text)')
        # A newline, a lone "\." and a backslash in data: COPY escapes them, one line per row.
        conn.execute('INSERT INTO s2."We""ird T" VALUES (%s), (%s), (%s)', ["a\nb", "\\.", "x\\.y"])
        with conn.cursor() as cursor:
            server = table_row_counts(cursor)
    assert server == {"t": 5000, "empty_t": 0, 's2.We"ird T': 3}
    counts = dump_postgres_counted(scratch_db, tmp_path / "db.dump")
    assert counts == server
    assert read_custom_dump(tmp_path / "db.dump")[1] == server
