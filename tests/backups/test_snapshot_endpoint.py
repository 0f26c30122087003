"""The host's snapshot endpoint over real TLS on loopback, pulled by the backup site.

The real server (``bindery web``, granian with TLS) runs a SQLite host (the endpoint is for
SQLite hosts, so the platform uses SQLite files whichever engine the suite runs on). A good
pull — through the site's own configuration — verifies while a writer commits; a wrong token,
the right token from an address outside the allow-list, and plain HTTP are refused (401/403)
with a security event each; the temporary snapshot is gone afterwards.
"""

from __future__ import annotations

import os
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from bindery.backups.repository import Source, create_backup, verify_backup
from bindery.backups.snapshot_endpoint import SnapshotError, pull_snapshot
from bindery.backups.targets import LocalTarget
from tests.backups.helpers import site_ring
from tests.support.server import Platform, platform

pytestmark = pytest.mark.server


def _events(plat: Platform) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(plat.var_dir / "host.sqlite3")
    try:
        return conn.execute("SELECT kind, ip, detail FROM security_securityevent ORDER BY id").fetchall()
    finally:
        conn.close()


class Writer:
    """Commits rows to the host database in a thread (another process's writer, as a real host has)."""

    def __init__(self, path: Path) -> None:
        self.path, self.commits, self._stop = path, 0, threading.Event()
        conn = sqlite3.connect(path, timeout=30)
        conn.execute("CREATE TABLE IF NOT EXISTS probe_writes (id INTEGER PRIMARY KEY, note TEXT)")
        conn.commit()
        conn.close()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=30)
        while not self._stop.is_set():
            with conn:
                conn.executemany("INSERT INTO probe_writes (note) VALUES (?)", [("x" * 200,)] * 5)
            self.commits += 1
            time.sleep(0.002)
        conn.close()

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def test_snapshot_endpoint_over_tls(tmp_path: Path):
    var = tmp_path / "var"
    sqlite_env = {"BINDERY_CONTROL_DATABASE_URL": f"sqlite:///{var / 'control.sqlite3'}",
                  "BINDERY_HOST_DATABASE_URL": f"sqlite:///{var / 'host.sqlite3'}"}
    with platform(tmp_path, extra_env=sqlite_env) as plat:
        assert plat.bindery("migrate", "--quiet").returncode == 0
        refused = plat.bindery("hosts", "snapshot-access", "local", "--allow", "not-an-ip")
        assert refused.returncode == 1
        assert "not an address" in refused.stderr
        access = plat.bindery("hosts", "snapshot-access", "local", "--allow", "127.0.0.1/32")
        assert access.returncode == 0, access.stderr
        token = access.stdout.strip().splitlines()[-1]
        assert len(token) >= 40
        # Only the keyed hash is stored.
        conn = sqlite3.connect(var / "control.sqlite3")
        stored = conn.execute("SELECT snapshot_token_hash FROM control_host WHERE name = 'local'").fetchone()[0]
        conn.close()
        assert len(stored) == 64
        assert token not in stored
        plat.start("web")
        plat.wait_until_up()
        url = f"{plat.url}/_snapshot/"
        ring, target = site_ring(), LocalTarget(tmp_path / "offsite")

        # A good pull through the site's configuration, while a writer commits: consistent, verified.
        with Writer(var / "host.sqlite3") as writer:
            env = {**plat.env, "BINDERY_BACKUP_SNAPSHOT_TOKENS": f"local={token}",
                   "BINDERY_BACKUP_SNAPSHOT_CA": str(plat.cert), "BINDERY_BACKUP_TARGET": str(tmp_path / "site"),
                   # The site would read the file directly without a token: point it elsewhere to prove it pulls.
                   "BINDERY_HOST_DATABASE_URL": f"sqlite:///{tmp_path / 'elsewhere' / 'host.sqlite3'}"}
            (tmp_path / "elsewhere").mkdir()
            run = subprocess.run([sys.executable, "-m", "bindery", "backup", "run", "--database", "host-local"],
                                 env=env, capture_output=True, text=True, timeout=300, check=False)
            manifest = create_backup(target, ring, Source("host-local", "sqlite", url, host="local", token=token,
                                                          ca_file=str(plat.cert)), work_dir=tmp_path / "work")
            time.sleep(0.2)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "host-local: host-local/" in run.stdout
        assert writer.commits > 0
        assert manifest.body["pulled_from"] == url
        assert 0 < manifest.row_counts["probe_writes"] < writer.commits * 5 + 1
        assert manifest.row_counts["probe_writes"] % 5 == 0  # whole transactions only
        result = verify_backup(target, ring, manifest, work_dir=tmp_path / "work")
        assert result.ok, result.problems
        assert result.row_counts == manifest.row_counts
        site_verify = subprocess.run([sys.executable, "-m", "bindery", "backup", "verify", "host-local"], env=env,
                                     capture_output=True, text=True, timeout=300, check=False)
        assert site_verify.returncode == 0, site_verify.stdout + site_verify.stderr
        assert not any((var / "snapshots").iterdir())  # the host's temporary copies are removed
        assert _events(plat) == []

        # The host only copies: an exact Content-Length, no checksum (hashing is the site's work).
        context = ssl.create_default_context(cafile=str(plat.cert))
        with httpx.Client(verify=context, timeout=60) as client:
            raw = client.get(url, headers={"Authorization": f"Bearer {token}"})
        assert raw.status_code == 200
        assert int(raw.headers["content-length"]) == len(raw.content) > 0
        assert "x-bindery-snapshot-sha256" not in raw.headers
        assert raw.content.startswith(b"SQLite format 3\0")
        # The site reads no faster than its rate limit (the host then waits on the socket).
        rate = 1_000_000
        started = time.monotonic()
        pull_snapshot(url, token, tmp_path / "slow.sqlite3", ca_file=str(plat.cert), rate=rate)
        elapsed = time.monotonic() - started
        size = (tmp_path / "slow.sqlite3").stat().st_size
        assert size == len(raw.content)
        assert elapsed >= size / rate * 0.95, (size, elapsed)
        check = sqlite3.connect(tmp_path / "slow.sqlite3")
        assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        check.close()
        assert not any((var / "snapshots").iterdir())

        # A wrong token: 401 and an event.
        with pytest.raises(SnapshotError, match="401"):
            pull_snapshot(url, "x" * 43, tmp_path / "bad.sqlite3", ca_file=str(plat.cert))
        assert not (tmp_path / "bad.sqlite3").exists()
        # The right token from an address outside the allow-list (127.0.0.2 is loopback too): 403.
        context = ssl.create_default_context(cafile=str(plat.cert))
        transport = httpx.HTTPTransport(local_address="127.0.0.2", verify=context)
        with httpx.Client(transport=transport, timeout=30) as client:
            response = client.get(f"https://127.0.0.1:{plat.https_port}/_snapshot/",
                                  headers={"Authorization": f"Bearer {token}", "Host": f"localhost:{plat.https_port}"},
                                  extensions={"sni_hostname": "localhost"})
        assert response.status_code == 403
        assert b"SQLite" not in response.content
        # Plain HTTP (the redirect listener): refused, not redirected.
        response = httpx.get(f"http://localhost:{plat.http_port}/_snapshot/",
                             headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert response.status_code == 403
        assert "location" not in response.headers
        # The site refuses to send its token to a plain-HTTP URL at all.
        with pytest.raises(SnapshotError, match="https"):
            pull_snapshot(f"http://localhost:{plat.http_port}/_snapshot/", token, tmp_path / "p.sqlite3")
        # A pull without the pinned CA is refused by the site (self-signed host certificate).
        with pytest.raises(SnapshotError, match="pull failed"):
            pull_snapshot(url, token, tmp_path / "unpinned.sqlite3")

        events = _events(plat)
        kinds = [kind for kind, _ip, _detail in events]
        assert kinds.count("snapshot_refused") == 3, events
        assert "token_failed" in kinds
        reasons = " ".join(detail for _k, _ip, detail in events)
        assert "wrong or missing token" in reasons
        assert "source address not allowed" in reasons
        assert "TLS required" in reasons
        assert any(ip == "127.0.0.2" for _k, ip, _d in events)
    assert os.path.exists(tmp_path / "offsite")
