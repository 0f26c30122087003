import sqlite3
import threading

import pytest

from bindery.backups.sqlite_snapshot import SnapshotError, snapshot_sqlite


def make_db(path, rows=200):
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute('CREATE TABLE "odd ""name""" (id INTEGER PRIMARY KEY, body TEXT)')
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT)")
    conn.executemany("INSERT INTO items (body) VALUES (?)", [("x" * 100,)] * rows)
    conn.execute('INSERT INTO "odd ""name""" (body) VALUES (\'a\')')
    conn.commit()
    return conn


def test_snapshot_of_a_wal_database_includes_uncheckpointed_rows(tmp_path):
    src = tmp_path / "live.sqlite3"
    writer = make_db(src)  # stays open: rows still sit in the -wal file
    assert (tmp_path / "live.sqlite3-wal").stat().st_size > 0
    snap = snapshot_sqlite(src, tmp_path / "snap.sqlite3")
    writer.close()
    assert snap.row_counts == {"items": 200, 'odd "name"': 1}
    copy = sqlite3.connect(snap.path)
    assert copy.execute("SELECT count(*) FROM items").fetchone()[0] == 200
    assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not (tmp_path / "snap.sqlite3.partial").exists()


def test_snapshot_while_a_writer_runs_is_consistent(tmp_path):
    src = tmp_path / "live.sqlite3"
    make_db(src, rows=0).close()
    stop = threading.Event()

    def write():
        conn = sqlite3.connect(src, timeout=30)
        while not stop.is_set():
            with conn:  # every transaction inserts a pair, so a consistent copy has an even count
                conn.execute("INSERT INTO items (body) VALUES ('a')")
                conn.execute("INSERT INTO items (body) VALUES ('b')")
        conn.close()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        reader = sqlite3.connect(src, timeout=30)
        while reader.execute("SELECT count(*) FROM items").fetchone()[0] == 0:
            stop.wait(0.01)
        reader.close()
        snaps = [snapshot_sqlite(src, tmp_path / f"snap{i}.sqlite3") for i in range(5)]
    finally:
        stop.set()
        thread.join()
    counts = [snap.row_counts["items"] for snap in snaps]
    assert counts[0] > 0
    assert counts == sorted(counts)
    for snap in snaps:
        assert snap.row_counts["items"] % 2 == 0
        conn = sqlite3.connect(snap.path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == snap.row_counts["items"]


def test_missing_source_and_existing_destination_are_refused(tmp_path):
    with pytest.raises(SnapshotError, match="does not exist"):
        snapshot_sqlite(tmp_path / "nope.sqlite3", tmp_path / "snap.sqlite3")
    src = tmp_path / "live.sqlite3"
    make_db(src).close()
    (tmp_path / "snap.sqlite3").write_bytes(b"keep me")
    with pytest.raises(SnapshotError, match="already exists"):
        snapshot_sqlite(src, tmp_path / "snap.sqlite3")
    assert (tmp_path / "snap.sqlite3").read_bytes() == b"keep me"


def test_a_corrupt_source_leaves_nothing_behind(tmp_path):
    src = tmp_path / "garbage.sqlite3"
    src.write_bytes(b"this is not a database" * 100)
    with pytest.raises(SnapshotError, match="failed"):
        snapshot_sqlite(src, tmp_path / "snap.sqlite3")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.sqlite3"]
