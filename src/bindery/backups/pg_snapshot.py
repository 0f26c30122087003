"""PostgreSQL snapshot with the real `pg_dump --format=custom` (issue 9).

The dump goes to a temporary name; it is kept only if pg_dump exits 0, its major version
matches the server's, and pg_restore reads its table of contents and every data block. A failed or truncated
dump is never recorded as a success and leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bindery.backups.sqlite_snapshot import SnapshotError

TIMEOUT_S = 3600


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SnapshotError(f"{name} is not installed (the PostgreSQL client tools are needed)")
    return path


def _run(args: list[str], timeout: int, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # An argument list, never a shell: the URL cannot inject a command.
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=timeout,  # noqa: S603
                          env=env)


@contextlib.contextmanager
def libpq_login(url: str) -> Iterator[tuple[str, dict[str, str]]]:
    """``(conninfo without the password, environment)`` for a PostgreSQL client tool.

    A password on the command line is readable by every user of the machine (``ps``); it goes
    into a password file readable by this user only (``PGPASSFILE``), removed afterwards.
    """
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        params = conninfo_to_dict(url)
    except Exception as exc:  # psycopg.ProgrammingError; the message never holds the password
        raise SnapshotError(f"not a PostgreSQL URL: {type(exc).__name__}") from None
    password = params.pop("password", None)
    env = dict(os.environ)
    dsn = make_conninfo(**params)  # type: ignore[arg-type]
    if not password:  # the URL has none: the tool finds it as psql would (PGPASSWORD, ~/.pgpass)
        yield dsn, env
        return
    env.pop("PGPASSWORD", None)
    with tempfile.TemporaryDirectory(prefix="bindery-pgpass-") as folder:
        passfile = Path(folder) / "pgpass"
        escaped = str(password).replace("\\", "\\\\").replace(":", "\\:")
        fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"*:*:*:*:{escaped}\n")  # only this call's server reads this file
        env["PGPASSFILE"] = str(passfile)
        yield dsn, env


def _major(text: str) -> int:
    match = re.search(r"(\d+)(?:\.\d+)?", text)
    if not match:
        raise SnapshotError(f"cannot read a PostgreSQL version from {text!r}")
    return int(match.group(1))


def check_client_matches_server(url: str) -> int:
    client = _run([_tool("pg_dump"), "--version"], 60)
    with libpq_login(url) as (dsn, env):
        server = _run([_tool("psql"), "--no-psqlrc", "--no-password", "-Atc", "SHOW server_version",
                       f"--dbname={dsn}"], 60, env)
    if client.returncode != 0 or server.returncode != 0:
        raise SnapshotError(f"cannot read versions: {(client.stderr + server.stderr).strip()[:500]}")
    client_major = _major(client.stdout.split("(PostgreSQL)")[-1])
    server_major = _major(server.stdout)
    if client_major != server_major:
        raise SnapshotError(f"pg_dump {client_major} does not match server {server_major}")
    return server_major


_COPY = re.compile(rb'^COPY ((?:"(?:[^"]|"")*"|[^\s."]+))\.((?:"(?:[^"]|"")*"|[^\s."(]+))')


def _ident(raw: bytes) -> str:
    text = raw.decode()
    return text[1:-1].replace('""', '"') if text.startswith('"') else text


def read_custom_dump(path: Path) -> tuple[list[str], dict[str, int]]:
    """The archive's table-of-contents lines and its per-table row counts, read on this machine.

    ``pg_restore --list`` reads only the table of contents at the head of the archive, so a
    dump cut short in its data still lists fine; the data is then read whole as the restore
    script's ``COPY`` blocks (one line per row: COPY's text format escapes newlines), and the
    rows of each table counted — the same names as :func:`table_row_counts` gives a database.
    Raises SnapshotError if pg_restore cannot read the archive whole.
    """
    result = _run([_tool("pg_restore"), "--list", str(path)], 600)
    if result.returncode != 0:
        raise SnapshotError(f"pg_restore --list rejected {path.name}: {result.stderr.strip()[:500]}")
    toc = [line for line in result.stdout.splitlines() if line and not line.startswith(";")]
    counts: dict[str, int] = {}
    table: str | None = None
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen([_tool("pg_restore"), "--data-only", "--file=-", str(path)],  # noqa: S603
                                stdout=subprocess.PIPE, stderr=errors)
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                if table is not None:
                    if line == b"\\.\n":
                        table = None
                    else:
                        counts[table] += 1
                elif line.startswith(b"COPY "):
                    match = _COPY.match(line)
                    if match is None:
                        raise SnapshotError(f"unreadable COPY line in {path.name}")
                    schema, name = _ident(match.group(1)), _ident(match.group(2))
                    table = name if schema == "public" else f"{schema}.{name}"
                    counts[table] = 0
            code = proc.wait(timeout=3600)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        if code != 0 or table is not None:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip()[:500] or "a COPY block is not closed"
            raise SnapshotError(f"pg_restore could not read {path.name} whole: {message}")
    return toc, counts


def verify_custom_dump(path: Path) -> list[str]:
    """The archive's table-of-contents lines; raises if pg_restore cannot read it whole."""
    return read_custom_dump(path)[0]


def _dump_piped(args: list[str], env: dict[str, str], partial: Path, rate: int) -> None:
    """Run pg_dump writing to its stdout and copy that into ``partial`` at most ``rate`` bytes/s.

    When the site reads slower than pg_dump writes, pg_dump blocks on the full pipe and the
    server's backend on its full socket: the server's share of the work is spread out. (A
    custom-format archive written to a pipe has no data offsets; a plain, single-job
    pg_restore reads it in order, as it reads any ``pg_dump -Fc > file``.)
    """
    from bindery.backups.throttle import RateLimit

    limit = RateLimit(rate)
    deadline = time.monotonic() + TIMEOUT_S
    with tempfile.TemporaryFile() as errors, open(partial, "wb") as out:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errors, env=env)  # noqa: S603 - argument list
        assert proc.stdout is not None
        try:
            while block := proc.stdout.read(1 << 20):
                out.write(block)
                limit.take(len(block))
                if time.monotonic() > deadline:
                    raise SnapshotError(f"pg_dump took longer than {TIMEOUT_S} s")
            code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        if code != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip()[:500]
            raise SnapshotError(f"pg_dump exited {code}: {message}")


def dump_postgres(url: str, destination: Path, *, snapshot: str | None = None, compress: bool = True,
                  rate: int = 0) -> Path:
    """Dump ``url`` into ``destination`` (custom format); ``snapshot`` is an exported snapshot to dump.

    ``rate``: most bytes/s read from pg_dump (``BINDERY_BACKUP_RATE_LIMIT``); 0: unlimited.
    """
    _dump(url, destination, snapshot=snapshot, compress=compress, rate=rate)
    return destination


def _dump(url: str, destination: Path, *, snapshot: str | None, compress: bool, rate: int) -> dict[str, int]:
    if destination.exists():
        raise SnapshotError(f"destination {destination} already exists")
    check_client_matches_server(url)
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        # Row-level security is forced on tenant tables; with no tenant scope set its policy shows
        # every row, but pg_dump refuses to run at all unless row security is left on.
        args = [_tool("pg_dump"), "--format=custom", "--no-password", "--enable-row-security"]
        if not rate:
            args.append(f"--file={partial}")
        if snapshot:
            args.append(f"--snapshot={snapshot}")
        if not compress:
            args.append("--compress=0")
        with libpq_login(url) as (dsn, env):
            if rate:
                _dump_piped([*args, f"--dbname={dsn}"], env, partial, rate)
            else:
                result = _run([*args, f"--dbname={dsn}"], TIMEOUT_S, env)
                if result.returncode != 0:
                    raise SnapshotError(f"pg_dump exited {result.returncode}: {result.stderr.strip()[:500]}")
        _toc, counts = read_custom_dump(partial)
        with open(partial, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(partial, destination)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return counts


def table_row_counts(cursor: Any) -> dict[str, int]:
    """Count the rows of every user table visible to ``cursor`` (``schema.table`` outside public)."""
    cursor.execute(
        "SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') "
        "AND schemaname NOT LIKE 'pg_temp%' ORDER BY schemaname, tablename"
    )
    counts: dict[str, int] = {}
    for schema, table in cursor.fetchall():
        quoted = '"' + schema.replace('"', '""') + '"."' + table.replace('"', '""') + '"'
        cursor.execute(f"SELECT count(*) FROM {quoted}")  # noqa: S608 - quoted identifiers from the catalog
        counts[table if schema == "public" else f"{schema}.{table}"] = int(cursor.fetchone()[0])
    return counts


def dump_postgres_counted(url: str, destination: Path, *, rate: int = 0) -> dict[str, int]:
    """Dump ``url`` and return per-table row counts of exactly what was dumped.

    pg_dump copies one snapshot of the database; the rows are counted in the dump itself, on
    the backup site (:func:`read_custom_dump`, which reads the archive whole anyway to verify
    it), so the counts match the dump even while writers run and the server is not asked for a
    second full scan of every table. The repository compresses with zstd; gzip inside pg_dump
    would cost CPU for nothing.
    """
    return _dump(url, destination, snapshot=None, compress=False, rate=rate)
