"""The bindery command: help for each role, and one clear line for bad configuration."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

BINDERY = [sys.executable, "-m", "bindery"]


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BINDERY_")}
    clean.update({"BINDERY_VAR_DIR": str(tmp_path / "var"), **env})
    return subprocess.run([*BINDERY, *args], env=clean, capture_output=True, text=True, timeout=240,
                          stdin=subprocess.DEVNULL, check=False)


def assert_one_clear_line(result: subprocess.CompletedProcess[str], variable: str) -> None:
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"bindery: configuration error: {variable}: ")
    assert "Traceback" not in result.stderr + result.stdout


def test_help_explains_each_command(tmp_path: Path) -> None:
    """`bindery --help` lists every role's command with an explanation."""
    result = run(tmp_path, "--help")
    assert result.returncode == 0
    for command in ("run", "web", "worker", "scheduler", "migrate", "check", "demo", "operators"):
        assert f"    {command}" in result.stdout


def test_malformed_variable(tmp_path: Path) -> None:
    """A malformed variable stops the program with one line naming it."""
    assert_one_clear_line(run(tmp_path, "check", BINDERY_HTTPS_PORT="https"), "BINDERY_HTTPS_PORT")


def test_unreachable_postgres(tmp_path: Path) -> None:
    """An unreachable database URL gives one line naming the URL variable, without the password."""
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgres://bindery:hunter2secret@127.0.0.1:{port}/bindery"
    result = run(tmp_path, "check", BINDERY_HOST_DATABASE_URL=url)
    # `check` reports every part and exits 1; the commands that start something exit 2.
    assert result.returncode == 1
    assert "BINDERY_HOST_DATABASE_URL: cannot connect" in result.stdout
    assert "hunter2secret" not in result.stdout + result.stderr
    started = run(tmp_path, "web", BINDERY_HOST_DATABASE_URL=url)
    assert_one_clear_line(started, "BINDERY_HOST_DATABASE_URL")
    assert "hunter2secret" not in started.stderr


def test_missing_sqlite_folder(tmp_path: Path) -> None:
    """A SQLite URL in a folder that does not exist is named, not created silently elsewhere."""
    result = run(tmp_path, "migrate", BINDERY_CONTROL_DATABASE_URL=f"sqlite:///{tmp_path}/nope/control.db")
    assert_one_clear_line(result, "BINDERY_CONTROL_DATABASE_URL")


@pytest.mark.parametrize("problem", ["unreadable", "not-pem", "wrong-key"])
def test_bad_certificate(tmp_path: Path, problem: str) -> None:
    """An unreadable, malformed or mismatched certificate stops `bindery web` with one line."""
    from bindery.ops.tls import generate_self_signed

    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    generate_self_signed(cert, key)
    if problem == "unreadable":
        cert.chmod(0)
        if os.access(cert, os.R_OK):  # root reads anything: make it a folder instead
            cert.chmod(0o600)
            cert.unlink()
            cert.mkdir()
    elif problem == "not-pem":
        cert.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    else:
        other_cert, other_key = tmp_path / "c2.pem", tmp_path / "k2.pem"
        generate_self_signed(other_cert, other_key)
        key = other_key
    result = run(tmp_path, "web", BINDERY_TLS_CERT_FILE=str(cert), BINDERY_TLS_KEY_FILE=str(key))
    variable = "BINDERY_TLS_KEY_FILE" if problem == "wrong-key" else "BINDERY_TLS_CERT_FILE"
    assert_one_clear_line(result, variable)


def test_port_in_use(tmp_path: Path) -> None:
    """A taken HTTPS port is reported as such before anything starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert run(tmp_path, "migrate", "--quiet").returncode == 0
        result = run(tmp_path, "web", BINDERY_HTTPS_PORT=str(port))
    assert_one_clear_line(result, "BINDERY_HTTPS_PORT")


def test_check_passes_on_a_migrated_platform(tmp_path: Path) -> None:
    """`bindery check` says ok for each part of a migrated embedded platform and exits 0."""
    assert run(tmp_path, "migrate", "--quiet").returncode == 0
    result = run(tmp_path, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    for part in ("configuration", "databases", "migrations", "queue", "tls"):
        assert f"ok    {part}:" in result.stdout


def test_check_reports_pending_migrations(tmp_path: Path) -> None:
    """Before `bindery migrate`, check says which step is missing and exits 1."""
    result = run(tmp_path, "check")
    assert result.returncode == 1
    assert "run 'bindery migrate'" in result.stdout
