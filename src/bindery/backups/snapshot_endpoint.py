"""The host's authenticated snapshot endpoint, and the backup site's client for it.

A SQLite host on another machine than the backup site serves ``GET /_snapshot/`` (issue 9):

- only over TLS (a plain-HTTP request is refused, by the redirect listener too);
- only from a source address in the host's allow-list (CIDRs, ``Host.snapshot_allowed_cidrs``),
  the client address decided by :mod:`bindery.security.client_ip`;
- only with the token whose keyed hash (HMAC-SHA-256 under the installation's secret key) is
  ``Host.snapshot_token_hash``, compared in constant time. The token itself lives only in the
  backup site's configuration (``BINDERY_BACKUP_SNAPSHOT_TOKENS``).

Every refusal is a security event; wrong tokens count toward the brute-force guard's ban of the
source. The body is a consistent online copy taken in one step
(:func:`~bindery.backups.sqlite_snapshot.copy_online`: ``Connection.backup(dst, pages=-1)``,
destination ``synchronous=OFF``, in a thread at nice 19 unless ``BINDERY_BACKUP_PRIORITY=normal``),
streamed from a temporary file that is removed afterwards.

That copy is the host's only work: the backup site runs on another machine, and everything it
can do there it does there — the integrity check, the row counts, SHA-256, compression and
encryption (:func:`pull_snapshot`, then :func:`bindery.backups.repository.create_backup`). The
transfer itself is protected by TLS and checked against ``Content-Length``; the site reads it
no faster than ``BINDERY_BACKUP_RATE_LIMIT``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import logging
import os
import shutil
import sqlite3
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.utils.crypto import salted_hmac
from django.views.decorators.http import require_GET

from bindery.backups.sqlite_snapshot import SnapshotError, copy_online
from bindery.backups.throttle import RateLimit
from bindery.control.routers import HOST

logger = logging.getLogger(__name__)

PATH = "/_snapshot/"
BLOCK = 1 << 20


def token_hash(token: str) -> str:
    """The keyed hash stored for a snapshot token."""
    return salted_hmac("bindery.backups.snapshot-token", token, algorithm="sha256").hexdigest()


def parse_cidrs(values: list[str]) -> list[str]:
    """Normalize an allow-list; raise ValueError naming the first bad entry."""
    out = []
    for value in values:
        try:
            out.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            raise ValueError(f"not an address or CIDR: {value!r}") from None
    return out


def ip_allowed(ip: str, cidrs: list[str]) -> bool:
    from bindery.security.client_ip import parse_ip

    parsed = parse_ip(ip)
    if parsed is None:
        return False
    for cidr in cidrs:
        try:
            if parsed in ipaddress.ip_network(cidr, strict=False):
                return True
        except ValueError:
            continue
    return False


def record_refusal(reason: str, ip: str, path: str = PATH) -> None:
    from bindery.security.bruteforce import record_event
    from bindery.security.models import SecurityEventKind

    record_event(SecurityEventKind.SNAPSHOT_REFUSED, ip=ip, reason=reason, path=path[:200])
    logger.warning("snapshot request refused: %s", reason, extra={"event": "backup.snapshot_refused",
                                                                   "reason": reason, "ip": ip})


def _refused(status: int, reason: str, ip: str) -> HttpResponse:
    record_refusal(reason, ip)
    return JsonResponse({"detail": reason}, status=status)


def _stream(path: Path, folder: Path) -> Iterator[bytes]:
    try:
        with open(path, "rb") as handle:
            while block := handle.read(BLOCK):
                yield block
    finally:
        shutil.rmtree(folder, ignore_errors=True)


LOWEST_NICE = 19


def copy_at_low_priority(source: Path, partial: Path, *, lowest: bool = True) -> None:
    """:func:`copy_online` in a thread of its own at nice 19 (Linux niceness is per thread).

    The web worker's thread is never lowered: it could not raise itself again. Raises what
    the copy raised.
    """
    failure: list[BaseException] = []

    def run() -> None:
        try:
            if lowest:  # where threads have no niceness of their own, copy at the worker's priority
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWEST_NICE)
            copy_online(source, partial)
        except BaseException as exc:  # handed to the caller
            failure.append(exc)

    thread = threading.Thread(target=run, name="bindery-snapshot", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


@require_GET
def snapshot_view(request: HttpRequest) -> HttpResponseBase:
    from bindery.control.models import Host
    from bindery.security.bruteforce import token_failure
    from bindery.security.client_ip import client_ip

    ip = client_ip(request)
    if not request.is_secure():
        return _refused(403, "TLS required", ip)
    host = Host.objects.filter(name=settings.BINDERY_HOST_NAME).first()
    if host is None or not host.snapshot_token_hash:
        return _refused(403, "snapshot access is not enabled on this host", ip)
    if not ip_allowed(ip, list(host.snapshot_allowed_cidrs or [])):
        return _refused(403, "source address not allowed", ip)
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not token or len(token) > 200 or not hmac.compare_digest(token_hash(token), host.snapshot_token_hash):
        record_refusal("wrong or missing token", ip)
        token_failure(request)
        return JsonResponse({"detail": "wrong or missing token"}, status=401)
    connection = connections[HOST]
    if connection.vendor != "sqlite":
        return JsonResponse({"detail": "a PostgreSQL host is dumped with pg_dump, not through this endpoint"},
                            status=404)
    work = settings.CONFIG.var_dir / "snapshots"
    work.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = Path(tempfile.mkdtemp(dir=work))
    path = folder / "snapshot.sqlite3"
    started = time.perf_counter()
    try:
        copy_at_low_priority(Path(connection.settings_dict["NAME"]), path,
                             lowest=settings.CONFIG.backup_low_priority)
        size = path.stat().st_size
    except (sqlite3.Error, OSError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        logger.error("snapshot failed", extra={"event": "backup.snapshot_failed", "error": str(exc)[:300]})
        return JsonResponse({"detail": "snapshot failed"}, status=503)
    logger.info("snapshot served", extra={"event": "backup.snapshot_served", "ip": ip, "bytes": size,
                                          "copy_seconds": round(time.perf_counter() - started, 3)})
    response = StreamingHttpResponse(_stream(path, folder), content_type="application/vnd.sqlite3")
    response["Content-Length"] = str(size)
    response["Cache-Control"] = "no-store"
    return response


# --- the backup site's side ------------------------------------------------------------------


def pull_snapshot(url: str, token: str, destination: Path, *, ca_file: str = "", timeout: float = 600.0,
                  rate: int = 0) -> None:
    """Download a host's snapshot into ``destination``, at most ``rate`` bytes/s (0: unlimited).

    Only ``https://`` URLs; the server's certificate is checked against ``ca_file`` (pinned)
    when given, else against the system's trust store. The body must be exactly
    ``Content-Length`` bytes; a host that still sends ``X-Bindery-Snapshot-SHA256`` (older
    versions hashed on the host) is checked against it. The caller then checks the database
    itself (integrity check, row counts) and hashes it for the manifest. Raises SnapshotError.
    """
    import httpx

    if not url.startswith("https://"):
        raise SnapshotError("a snapshot URL must be https://")
    verify: Any = ssl.create_default_context(cafile=ca_file) if ca_file else True
    digest = hashlib.sha256()
    limit = RateLimit(rate)
    size = 0
    try:
        with httpx.Client(verify=verify, timeout=httpx.Timeout(30.0, read=timeout), follow_redirects=False) as client, \
                client.stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as response:
            if response.status_code != 200:
                raise SnapshotError(f"snapshot endpoint answered {response.status_code}")
            expected = response.headers.get("X-Bindery-Snapshot-SHA256", "")
            length = response.headers.get("Content-Length", "")
            with open(destination, "wb") as out:
                for block in response.iter_bytes(BLOCK):
                    out.write(block)
                    if expected:
                        digest.update(block)
                    size += len(block)
                    limit.take(len(block))
    except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
        destination.unlink(missing_ok=True)
        raise SnapshotError(f"snapshot pull failed: {type(exc).__name__}: {exc}"[:300]) from None
    except BaseException:
        destination.unlink(missing_ok=True)
        raise
    if not length.isdigit() or int(length) != size:
        destination.unlink(missing_ok=True)
        raise SnapshotError(f"pulled snapshot is {size} bytes, the host announced {length or 'no length'}")
    if expected and not hmac.compare_digest(digest.hexdigest(), expected):
        destination.unlink(missing_ok=True)
        raise SnapshotError("pulled snapshot does not match its SHA-256")
    logger.info("snapshot pulled", extra={"event": "backup.snapshot_pulled", "bytes": size})
