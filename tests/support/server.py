"""Start the real platform (``bindery`` subprocesses) on free loopback ports for tests.

The server gets databases of its own: SQLite files in a temporary folder, or, when the suite
runs on PostgreSQL, two fresh databases created beside the test databases and dropped after.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg

BINDERY = [sys.executable, "-m", "bindery"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("BINDERY_") and k != "DJANGO_SETTINGS_MODULE"}


@dataclass
class Platform:
    var_dir: Path
    env: dict[str, str]
    https_port: int
    http_port: int
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _logs: list[IO[bytes]] = field(default_factory=list, repr=False)

    @property
    def url(self) -> str:
        return f"https://localhost:{self.https_port}"

    @property
    def cert(self) -> Path:
        return self.var_dir / "tls" / "localhost.crt"

    def bindery(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*BINDERY, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, check=False)

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.var_dir / f"{args[0]}.log", "ab")  # noqa: SIM115 (closed by stop())
        self._logs.append(log)
        proc = subprocess.Popen([*BINDERY, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.processes.append(proc)
        return proc

    def client(self) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.cert))
        return httpx.Client(base_url=self.url, verify=context, timeout=10)

    def wait_until_up(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            for proc in self.processes:
                if proc.poll() is not None:
                    raise RuntimeError(f"bindery exited with {proc.returncode}:\n{self.logs()}")
            try:
                if self.cert.exists():
                    with self.client() as client:
                        if client.get("/healthz").status_code in (200, 503):
                            return
            except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
                last_error = exc
            time.sleep(0.3)
        raise RuntimeError(f"server not up after {timeout}s ({last_error}):\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in self.var_dir.glob("*.log"))

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        for log in self._logs:
            log.close()
        self._logs.clear()


@contextlib.contextmanager
def _databases(var_dir: Path) -> Iterator[dict[str, str]]:
    host_url = os.environ.get("BINDERY_HOST_DATABASE_URL", "")
    if not host_url.startswith(("postgres://", "postgresql://")):
        yield {}
        return
    parts = urlsplit(host_url)
    admin_dsn = urlunsplit(parts._replace(path="/postgres"))
    suffix = uuid.uuid4().hex[:10]
    names = {"BINDERY_CONTROL_DATABASE_URL": f"bindery_srv_control_{suffix}",
             "BINDERY_HOST_DATABASE_URL": f"bindery_srv_host_{suffix}"}
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for name in names.values():
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {var: urlunsplit(parts._replace(path=f"/{name}")) for var, name in names.items()}
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            for name in names.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def platform(tmp_path: Path, *, extra_env: dict[str, str] | None = None) -> Iterator[Platform]:
    """Yield a platform with its own folder, ports and databases, neither migrated nor started.

    Run ``plat.bindery("migrate", "--quiet")`` first; whatever the test started is stopped after.
    """
    var_dir = tmp_path / "var"
    with _databases(var_dir) as db_env:
        env = {**_clean_env(), "BINDERY_VAR_DIR": str(var_dir), "BINDERY_HTTPS_PORT": str(free_port()),
               "BINDERY_HTTP_PORT": str(free_port()), **db_env, **(extra_env or {})}
        var_dir.mkdir(parents=True, exist_ok=True)
        plat = Platform(var_dir, env, int(env["BINDERY_HTTPS_PORT"]), int(env["BINDERY_HTTP_PORT"]))
        try:
            yield plat
        finally:
            plat.stop()
