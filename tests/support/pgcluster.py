"""A private PostgreSQL cluster for tests that stop a database server for real.

The machine's shared server must keep running (other suites use it), so a test that needs a
database to go away gets its own cluster: ``initdb`` into a temporary folder, served on a free
loopback port, started and stopped with ``pg_ctl``. PostgreSQL refuses to run as root, so when
the suite runs as root (CI does) the cluster runs as the ``postgres`` OS user.

Use the ``private_postgres`` fixture (or :func:`private_cluster` directly); it skips only when
the server binaries are not installed.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.support.server import free_port


def server_bin_dir() -> Path | None:
    """The newest installed PostgreSQL server's bin folder (Debian layout), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if found:
        return found[-1].parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path and shutil.which("initdb") else None


@dataclass
class PrivateCluster:
    bin_dir: Path
    root: Path
    port: int
    run_as: str | None  # OS user the server runs as (None: the current user)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr[-2000:]}\n{self.logs()}")
        return done

    def init(self) -> None:
        # trust on loopback only: the cluster listens on 127.0.0.1 and lives for one test.
        self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-instructions")

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60")
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", options, "-w", "-t", "60",
                  "start")

    def stop(self) -> None:
        """Stop the server for real (fast mode: sessions are cut, as in an outage)."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop")

    def is_running(self) -> bool:
        try:
            with psycopg.connect(self.url(), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def logs(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


@contextlib.contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """Yield a started private cluster; it is stopped and its folder removed afterwards."""
    bin_dir = server_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    run_as = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' OS user to run a private cluster as")
        run_as = "postgres"
    # Not under pytest's tmp_path: its folders are private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="bindery-pg-"))
    if run_as:
        shutil.chown(root, user=run_as, group=run_as)
    cluster = PrivateCluster(bin_dir, root, free_port(), run_as)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if (cluster.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivateCluster]:
    """A PostgreSQL server of the test's own, which the test may stop and start."""
    with private_cluster() as cluster:
        yield cluster
