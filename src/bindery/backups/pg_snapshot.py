"""PostgreSQL snapshot with the real `pg_dump --format=custom` (issue 9).

The dump goes to a temporary name; it is kept only if pg_dump exits 0, its major version
matches the server's, and pg_restore reads its table of contents and every data block. A failed or truncated
dump is never recorded as a success and leaves nothing behind.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from bindery.backups.sqlite_snapshot import SnapshotError

TIMEOUT_S = 3600


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SnapshotError(f"{name} is not installed (the PostgreSQL client tools are needed)")
    return path


def _run(args: list[str], timeout: int) -> subprocess.CompletedProcess[str]:
    # An argument list, never a shell: the URL cannot inject a command.
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=timeout)  # noqa: S603


def _major(text: str) -> int:
    match = re.search(r"(\d+)(?:\.\d+)?", text)
    if not match:
        raise SnapshotError(f"cannot read a PostgreSQL version from {text!r}")
    return int(match.group(1))


def check_client_matches_server(url: str) -> int:
    client = _run([_tool("pg_dump"), "--version"], 60)
    server = _run([_tool("psql"), "--no-psqlrc", "-Atc", "SHOW server_version", url], 60)
    if client.returncode != 0 or server.returncode != 0:
        raise SnapshotError(f"cannot read versions: {(client.stderr + server.stderr).strip()[:500]}")
    client_major = _major(client.stdout.split("(PostgreSQL)")[-1])
    server_major = _major(server.stdout)
    if client_major != server_major:
        raise SnapshotError(f"pg_dump {client_major} does not match server {server_major}")
    return server_major


def verify_custom_dump(path: Path) -> list[str]:
    """The archive's table-of-contents lines; raises if pg_restore cannot read it whole."""
    result = _run([_tool("pg_restore"), "--list", str(path)], 600)
    if result.returncode != 0:
        raise SnapshotError(f"pg_restore --list rejected {path.name}: {result.stderr.strip()[:500]}")
    # --list reads only the table of contents at the head of the archive, so a dump cut short
    # in its data still lists fine; reading every data block (into a discarded script) does not.
    full = _run([_tool("pg_restore"), "--file=/dev/null", str(path)], 3600)
    if full.returncode != 0:
        raise SnapshotError(f"pg_restore could not read {path.name} whole: {full.stderr.strip()[:500]}")
    return [line for line in result.stdout.splitlines() if line and not line.startswith(";")]


def dump_postgres(url: str, destination: Path) -> Path:
    if destination.exists():
        raise SnapshotError(f"destination {destination} already exists")
    check_client_matches_server(url)
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        result = _run([_tool("pg_dump"), "--format=custom", "--no-password", f"--file={partial}", url], TIMEOUT_S)
        if result.returncode != 0:
            raise SnapshotError(f"pg_dump exited {result.returncode}: {result.stderr.strip()[:500]}")
        verify_custom_dump(partial)
        with open(partial, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(partial, destination)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return destination
