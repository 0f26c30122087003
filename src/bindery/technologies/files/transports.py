"""Where files come from and go to: a local folder, HTTP(S), FTP/FTPS and SFTP.

Folder transports (local, FTP, SFTP) share one small interface over a configured folder:
``list`` the files in it, ``fetch`` one to a local spool file under a size cap, ``move`` one into a
sub-folder (``processing/``, ``processed/``, ``failed/``) by rename, and ``put`` one atomically
(upload under a temporary dot-name, then rename over the final name, so a reader never sees half
a file). :func:`pick_up` builds the exactly-once hand-off on them:

1. claim the file by renaming it into ``processing/`` (a second worker's rename fails: it skips);
2. download it from there and hand it to the processing function;
3. on success rename it into ``processed/``, on failure into ``failed/``, with a UTC timestamp
   prefix so names never collide. A crash between leaves it in ``processing/``, never lost;
   :func:`recover_stale` puts such files back for the next run.

Names coming from a server are checked (:func:`check_name`): no separators, no ``..``, no
control characters, no leading dot; the local transport additionally confines every path to
the tenant's root and refuses symlinks anywhere below it.

HTTP(S) fetches one URL (and uploads with PUT/POST): timeouts, a size cap checked on the
``Content-Length`` and while streaming, at most ``max_redirects`` redirects each re-checked,
and an address guard refusing loopback, private, link-local and metadata addresses unless the
node allows private addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fnmatch
import ftplib
import ipaddress
import logging
import os
import socket
import ssl
import stat
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Protocol, TypeVar
from urllib.parse import urljoin, urlsplit

from django.conf import settings

from bindery.security import egress
from bindery.technologies.files.errors import FileError, FileErrorCode

logger = logging.getLogger(__name__)

PROCESSING = "processing"
PROCESSED = "processed"
FAILED = "failed"
SUBFOLDERS = ("", PROCESSING, PROCESSED, FAILED)
CHUNK = 64 * 1024
T = TypeVar("T")


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int | None


def check_name(name: str) -> str:
    """Return ``name`` if it is a plain file name; refuse anything that could leave the folder."""
    if (not name or len(name) > 255 or name in (".", "..") or name.startswith(".") or "/" in name
            or "\\" in name or any(ord(c) < 32 or ord(c) == 127 for c in name)):
        raise FileError(FileErrorCode.UNSAFE_PATH, f"refused file name {name[:80]!r}", field="name")
    return name


def check_folder(folder: str) -> str:
    """Return a relative folder (``in/products``); refuse absolute paths, ``..`` and control characters."""
    if folder in ("", "."):
        return ""
    if "\\" in folder or folder.startswith("/") or any(ord(c) < 32 for c in folder):
        raise FileError(FileErrorCode.UNSAFE_PATH, f"refused folder {folder[:80]!r}", field="folder")
    parts = PurePosixPath(folder).parts
    if any(part in ("..", ".") for part in parts):
        raise FileError(FileErrorCode.UNSAFE_PATH, f"refused folder {folder[:80]!r}", field="folder")
    return "/".join(parts)


def _sub(sub: str) -> str:
    if sub not in SUBFOLDERS:
        raise ValueError(f"unknown sub-folder {sub!r}")
    return sub


def timestamped(name: str, now: dt.datetime | None = None) -> str:
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{name}"


def _too_large(name: str, max_bytes: int) -> FileError:
    return FileError(FileErrorCode.TOO_LARGE, f"over the limit of {max_bytes:,} bytes", file=name)


class _CappedWriter:
    def __init__(self, target: IO[bytes], max_bytes: int, name: str) -> None:
        self.target, self.max_bytes, self.name, self.written = target, max_bytes, name, 0

    def __call__(self, data: bytes) -> None:
        self.written += len(data)
        if self.written > self.max_bytes:
            raise _too_large(self.name, self.max_bytes)
        self.target.write(data)


class FolderTransport(Protocol):
    def list(self) -> list[RemoteFile]: ...
    def fetch(self, name: str, dest: Path, *, max_bytes: int, sub: str = "") -> int: ...
    def move(self, name: str, *, src: str, dst: str, new_name: str | None = None) -> str: ...
    def put(self, local: Path, name: str) -> None: ...
    def close(self) -> None: ...


# --- local folder --------------------------------------------------------------------------------


def tenant_root(tenant_id: Any) -> Path:
    """Return (creating it) the folder a tenant's local-folder nodes are confined to."""
    root = Path(settings.BINDERY_FILES_ROOT) / str(tenant_id)
    root.mkdir(parents=True, exist_ok=True, mode=0o750)
    return root


class LocalTransport:
    """A folder below the tenant's root; symlinks anywhere below the root are refused."""

    def __init__(self, root: Path, folder: str = "") -> None:
        self.root = root.resolve()
        self.folder = self._confined(check_folder(folder))
        self.folder.mkdir(parents=True, exist_ok=True)

    def _confined(self, relative: str) -> Path:
        path = self.root
        for part in PurePosixPath(relative).parts if relative else ():
            path = path / part
            if path.is_symlink():
                raise FileError(FileErrorCode.UNSAFE_PATH, f"{relative!r} goes through a symbolic link",
                                field="folder")
        if not path.resolve().is_relative_to(self.root):
            raise FileError(FileErrorCode.UNSAFE_PATH, f"{relative!r} leaves the tenant's folder", field="folder")
        return path

    def _dir(self, sub: str) -> Path:
        path = self.folder / _sub(sub) if sub else self.folder
        if path.is_symlink():
            raise FileError(FileErrorCode.UNSAFE_PATH, f"{sub!r} is a symbolic link", field="folder")
        path.mkdir(exist_ok=True)
        return path

    def list(self) -> list[RemoteFile]:
        files = []
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False) and not entry.name.startswith("."):
                    files.append(RemoteFile(entry.name, entry.stat(follow_symlinks=False).st_size))
        return sorted(files, key=lambda f: f.name)

    def fetch(self, name: str, dest: Path, *, max_bytes: int, sub: str = "") -> int:
        source = self._dir(sub) / check_name(name)
        try:
            fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise FileError(FileErrorCode.NOT_FOUND, "no such file", file=name) from None
        except OSError:
            raise FileError(FileErrorCode.UNSAFE_PATH, "not a regular file (a symbolic link?)", file=name) from None
        with os.fdopen(fd, "rb") as src, dest.open("wb") as out:
            if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
                raise FileError(FileErrorCode.UNSAFE_PATH, "not a regular file", file=name)
            writer = _CappedWriter(out, max_bytes, name)
            while chunk := src.read(CHUNK):
                writer(chunk)
            return writer.written

    def move(self, name: str, *, src: str, dst: str, new_name: str | None = None) -> str:
        target_name = check_name(new_name or name)
        source = self._dir(src) / check_name(name)
        target = self._dir(dst) / target_name
        if source.is_symlink():
            raise FileError(FileErrorCode.UNSAFE_PATH, "is a symbolic link", file=name)
        if target.exists():
            raise FileError(FileErrorCode.TRANSPORT, f"{dst}/{target_name} exists", file=name)
        try:
            os.rename(source, target)
        except FileNotFoundError:
            raise FileError(FileErrorCode.NOT_FOUND, "no such file (taken by another run?)", file=name) from None
        return target_name

    def put(self, local: Path, name: str) -> None:
        final = self._dir("") / check_name(name)
        temporary = self._dir("") / f".{name}.{uuid.uuid4().hex}.tmp"
        with local.open("rb") as src, temporary.open("xb") as out:
            while chunk := src.read(CHUNK):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, final)

    def close(self) -> None:
        return None


# --- FTP / FTPS ----------------------------------------------------------------------------------


def tls_context(*, verify: bool, ca_pem: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class FtpBounceRefused(ftplib.Error):
    """The server announced a passive data address other than its own (the FTP bounce)."""


class _GuardedFtp(ftplib.FTP):  # plain FTP is what many ERPs offer; nodes choose
    """ftplib's FTP with the egress guard: one resolution, connections only to the vetted address.

    ``connect`` resolves the host once, refuses non-public and metadata addresses (unless the
    node allows private ones) and opens the control connection to the vetted address itself, so
    no second DNS answer is ever used. ``self.host`` keeps the name: FTPS verifies the server's
    certificate and sends SNI for it, on the control and on every data connection.

    Data connections are passive and go to the control connection's peer; a ``227`` answer
    announcing any other address is refused rather than silently ignored (ftplib's default), so
    a server steering the client elsewhere, or a NAT announcing its inside address, shows up as
    an error naming the address.
    """

    allow_private = False

    def connect(self, host: str = "", port: int = 0, timeout: float = -999, source_address: Any = None) -> str:
        if host:
            self.host = host
        if port > 0:
            self.port = port
        if timeout != -999:
            self.timeout = timeout
        if source_address is not None:
            self.source_address = source_address
        last: OSError | None = None
        for address in egress.vetted_addresses(self.host, self.port, allow_private=self.allow_private):
            try:
                self.sock = socket.create_connection((address, self.port), self.timeout,
                                                     source_address=self.source_address)
                break
            except OSError as error:
                last = error
        else:
            assert last is not None
            raise last
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

    def makepasv(self) -> tuple[str, int]:
        if self.sock is None:
            raise OSError("FTP data connection requested before connecting")
        peer_address = self.sock.getpeername()
        peer = str(peer_address[0])
        if self.af == socket.AF_INET:
            announced, port = ftplib.parse227(self.sendcmd("PASV"))  # noqa: S321 - parsing an answer
            if ipaddress.ip_address(announced) != ipaddress.ip_address(peer.split("%", 1)[0]):
                raise FtpBounceRefused(f"the server announced data address {announced[:64]}, not its own {peer}; "
                                       "refused (FTP bounce, or a server behind NAT announcing its inside address)")
        else:
            _, port = ftplib.parse229(self.sendcmd("EPSV"), peer_address)  # noqa: S321 - parsing
        return peer, port


class _FtpTls(_GuardedFtp, ftplib.FTP_TLS):  # explicit FTPS, TLS before login
    pass


class FtpTransport:
    """FTP, or explicit FTPS (``AUTH TLS`` with a protected data channel) when ``tls`` is set.

    Every connection passes the egress guard (:class:`_GuardedFtp`): loopback, private,
    link-local and reserved addresses only when ``allow_private``, metadata addresses never.
    """

    def __init__(self, host: str, *, port: int = 21, username: str = "anonymous", password: str = "",
                 folder: str = "", tls: bool = False, verify: bool = True, ca_pem: str | None = None,
                 timeout: float = 30.0, allow_private: bool = False) -> None:
        self.folder = check_folder(folder)
        try:
            ftp: _GuardedFtp
            if tls:
                ftp = _FtpTls(context=tls_context(verify=verify, ca_pem=ca_pem), timeout=timeout)
            else:
                ftp = _GuardedFtp(timeout=timeout)
            ftp.allow_private = allow_private
            ftp.set_pasv(True)
            ftp.connect(host, port)
            ftp.login(username, password)
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
        except egress.EgressUnresolvable as unresolved:
            raise FileError(FileErrorCode.TRANSPORT, str(unresolved), field="host") from None
        except egress.EgressRefused as refused:
            raise FileError(FileErrorCode.REFUSED_ADDRESS, str(refused), field="host") from None
        except (OSError, EOFError, ftplib.Error) as error:
            raise _ftp_error(error, "connect") from None
        self.ftp = ftp
        self._ensure(self.folder)

    def _path(self, sub: str, name: str = "") -> str:
        parts = [p for p in (self.folder, _sub(sub), name) if p]
        return "/".join(parts)

    def _ensure(self, path: str) -> None:
        if not path:
            return
        try:
            self.ftp.mkd(path)
        except ftplib.error_perm:
            pass  # exists (servers word this differently; a real problem surfaces on use)
        except (OSError, EOFError, ftplib.Error) as error:
            raise _ftp_error(error, "mkdir") from None

    def list(self) -> list[RemoteFile]:
        try:
            entries = list(self.ftp.mlsd(self.folder or ".", facts=["type", "size"]))
        except (OSError, EOFError, ftplib.Error) as error:
            raise _ftp_error(error, "list") from None
        files = [RemoteFile(name, int(facts["size"]) if facts.get("size", "").isdigit() else None)
                 for name, facts in entries if facts.get("type") == "file" and not name.startswith(".")]
        return sorted(files, key=lambda f: f.name)

    def fetch(self, name: str, dest: Path, *, max_bytes: int, sub: str = "") -> int:
        path = self._path(sub, check_name(name))
        with dest.open("wb") as out:
            writer = _CappedWriter(out, max_bytes, name)
            try:
                self.ftp.retrbinary(f"RETR {path}", writer, blocksize=CHUNK)
            except FileError:
                self._abort()
                raise
            except ftplib.error_perm as error:
                raise FileError(FileErrorCode.NOT_FOUND, f"the server refused: {str(error)[:200]}",
                                file=name) from None
            except (OSError, EOFError, ftplib.Error) as error:
                raise _ftp_error(error, "download", name) from None
            return writer.written

    def _abort(self) -> None:
        # After a refused transfer the control channel is in an unknown state: drop it.
        with contextlib.suppress(Exception):
            self.ftp.close()

    def move(self, name: str, *, src: str, dst: str, new_name: str | None = None) -> str:
        target_name = check_name(new_name or name)
        self._ensure(self._path(dst))
        try:
            self.ftp.rename(self._path(src, check_name(name)), self._path(dst, target_name))
        except ftplib.error_perm as error:
            raise FileError(FileErrorCode.NOT_FOUND, f"cannot move ({str(error)[:200]}); taken by another run?",
                            file=name) from None
        except (OSError, EOFError, ftplib.Error) as error:
            raise _ftp_error(error, "rename", name) from None
        return target_name

    def put(self, local: Path, name: str) -> None:
        final = self._path("", check_name(name))
        temporary = self._path("", f".{name}.{uuid.uuid4().hex}.tmp")
        try:
            with local.open("rb") as src:
                self.ftp.storbinary(f"STOR {temporary}", src, blocksize=CHUNK)
            try:
                self.ftp.rename(temporary, final)
            except ftplib.error_perm:
                # Some servers refuse to rename over an existing file: replace it explicitly.
                self.ftp.delete(final)
                self.ftp.rename(temporary, final)
        except (OSError, EOFError, ftplib.Error) as error:
            raise _ftp_error(error, "upload", name) from None

    def close(self) -> None:
        try:
            self.ftp.quit()
        except (OSError, EOFError, ftplib.Error, AttributeError):
            self._abort()


def _ftp_error(error: BaseException, action: str, name: str = "") -> FileError:
    if isinstance(error, FtpBounceRefused):
        return FileError(FileErrorCode.REFUSED_ADDRESS, f"FTP {action} refused: {error}", file=name)
    return FileError(FileErrorCode.TRANSPORT, f"FTP {action} failed: {type(error).__name__}: {str(error)[:200]}",
                     file=name)


# --- SFTP ----------------------------------------------------------------------------------------


class SftpTransport:
    """SFTP over asyncssh, driven from synchronous code through a private event loop.

    The server's host key must be given (``host_key``, an OpenSSH public key line): there is no
    trust on first use. Authentication by password or by an OpenSSH private key.
    """

    def __init__(self, host: str, *, port: int = 22, username: str, host_key: str, password: str | None = None,
                 private_key: str | None = None, folder: str = "", timeout: float = 30.0,
                 allow_private: bool = False) -> None:
        import asyncssh

        # The egress guard: resolve once, refuse what the node may not reach, connect to the vetted
        # address itself (the host key, not the name, authenticates the server).
        try:
            addresses = egress.vetted_addresses(host, port, allow_private=allow_private)
        except egress.EgressUnresolvable as unresolved:
            raise FileError(FileErrorCode.TRANSPORT, str(unresolved), field="host") from None
        except egress.EgressRefused as refused:
            raise FileError(FileErrorCode.REFUSED_ADDRESS, str(refused), field="host") from None

        self.folder = check_folder(folder)
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        self._asyncssh = asyncssh
        trusted = [self._key(asyncssh.import_public_key, host_key, "host_key")]
        keys = [self._key(asyncssh.import_private_key, private_key, "private_key")] if private_key else None

        async def connect() -> tuple[Any, Any]:
            last: OSError | None = None
            for address in addresses:
                try:
                    conn = await asyncssh.connect(
                        address, port, username=username, password=password, client_keys=keys,
                        known_hosts=(trusted, [], []), connect_timeout=timeout,
                        preferred_auth="publickey,password" if keys else "password")
                    break
                except OSError as error:  # refused or unreachable: try the host's next address
                    last = error
            else:
                assert last is not None
                raise last
            return conn, await conn.start_sftp_client()

        try:
            self.conn, self.sftp = self._run(connect())
        except FileError:
            self.loop.close()
            raise
        self._run(self._makedirs(self.folder))

    def _key(self, load: Callable[[str], Any], text: str, field: str) -> Any:
        try:
            return load(text)
        except (self._asyncssh.KeyImportError, ValueError) as error:
            self.loop.close()
            raise FileError(FileErrorCode.INVALID_CONFIG, f"unreadable SSH key ({type(error).__name__})",
                            field=field) from None

    def _run(self, coro: Any, name: str = "") -> Any:
        try:
            return self.loop.run_until_complete(asyncio.wait_for(coro, self.timeout))
        except FileError:
            raise
        except (OSError, TimeoutError, self._asyncssh.Error, self._asyncssh.SFTPError) as error:
            if isinstance(error, self._asyncssh.SFTPNoSuchFile):
                raise FileError(FileErrorCode.NOT_FOUND, "no such file (taken by another run?)", file=name) from None
            raise FileError(FileErrorCode.TRANSPORT,
                            f"SFTP failed: {type(error).__name__}: {str(error)[:200]}", file=name) from None

    def _path(self, sub: str, name: str = "") -> str:
        return "/".join(p for p in (self.folder, _sub(sub), name) if p) or "."

    async def _makedirs(self, path: str) -> None:
        if path and path != ".":
            await self.sftp.makedirs(path, exist_ok=True)

    def list(self) -> list[RemoteFile]:
        async def run() -> list[RemoteFile]:
            files = []
            for entry in await self.sftp.readdir(self._path("")):
                if entry.attrs.type == self._asyncssh.FILEXFER_TYPE_REGULAR and not entry.filename.startswith("."):
                    files.append(RemoteFile(str(entry.filename), entry.attrs.size))
            return sorted(files, key=lambda f: f.name)

        result: list[RemoteFile] = self._run(run())
        return result

    def fetch(self, name: str, dest: Path, *, max_bytes: int, sub: str = "") -> int:
        path = self._path(sub, check_name(name))

        async def run() -> int:
            async with self.sftp.open(path, "rb") as remote:
                with dest.open("wb") as out:
                    writer = _CappedWriter(out, max_bytes, name)
                    while chunk := await remote.read(CHUNK):
                        writer(chunk)
                    return writer.written

        written: int = self._run(run(), name)
        return written

    def move(self, name: str, *, src: str, dst: str, new_name: str | None = None) -> str:
        target_name = check_name(new_name or name)
        source, target = self._path(src, check_name(name)), self._path(dst, target_name)

        async def run() -> None:
            await self._makedirs(self._path(dst))
            await self.sftp.rename(source, target)  # SFTP v3 rename refuses an existing target

        self._run(run(), name)
        return target_name

    def put(self, local: Path, name: str) -> None:
        final = self._path("", check_name(name))
        temporary = self._path("", f".{name}.{uuid.uuid4().hex}.tmp")

        async def run() -> None:
            async with self.sftp.open(temporary, "wb") as remote:
                with local.open("rb") as src:
                    while chunk := src.read(CHUNK):
                        await remote.write(chunk)
            await self.sftp.posix_rename(temporary, final)

        self._run(run(), name)

    def close(self) -> None:
        try:
            self.conn.close()
            self.loop.run_until_complete(asyncio.wait_for(self.conn.wait_closed(), 5))
        except Exception:  # noqa: S110 - closing a broken connection must not mask the real error
            pass
        finally:
            self.loop.close()


# --- upload --------------------------------------------------------------------------------------


def save_upload(chunks: Iterable[bytes], dest: Path, *, max_bytes: int, name: str) -> int:
    """Spool an uploaded file (e.g. Django's ``UploadedFile.chunks()``) to ``dest`` under the size cap.

    Over the cap, the partial file is removed and ``too_large`` raised; the caller then passes
    ``dest`` to the importer like any fetched file.
    """
    check_name(name)
    try:
        with dest.open("wb") as out:
            writer = _CappedWriter(out, max_bytes, name)
            for chunk in chunks:
                writer(chunk)
            return writer.written
    except FileError:
        dest.unlink(missing_ok=True)
        raise


# --- pick-up -------------------------------------------------------------------------------------


@dataclass
class PickedFile:
    name: str
    moved_to: str
    error: FileError | None = None
    result: Any = None


def pick_up(transport: FolderTransport, handle: Callable[[Path, str], T], *, spool: Path, max_bytes: int,
            pattern: str = "*", limit: int = 100) -> list[PickedFile]:
    """Claim, download and process each matching file once; file it in processed/ or failed/.

    ``handle(local_path, name)`` processes one file; a :class:`FileError` it raises (the file is
    bad) files it in failed/. Any other exception (the run was cancelled, the database is down)
    puts the file back where it was found, for the next run, and is re-raised.
    """
    picked: list[PickedFile] = []
    for remote in transport.list():
        if len(picked) >= limit or not fnmatch.fnmatchcase(remote.name, pattern):
            continue
        try:
            check_name(remote.name)
        except FileError as error:
            # A name that could escape the folder is reported and left where it is, never touched.
            picked.append(PickedFile(remote.name, "", error))
            continue
        try:
            claimed = transport.move(remote.name, src="", dst=PROCESSING)
        except FileError as error:
            if error.code == FileErrorCode.NOT_FOUND:
                continue  # another run claimed it first
            raise
        if remote.size is not None and remote.size > max_bytes:
            outcome = PickedFile(remote.name, "", _too_large(remote.name, max_bytes))
        else:
            outcome = PickedFile(remote.name, "")
        local = spool / f"{uuid.uuid4().hex}.download"
        crash: BaseException | None = None
        try:
            if outcome.error is None:
                transport.fetch(claimed, local, max_bytes=max_bytes, sub=PROCESSING)
                outcome.result = handle(local, remote.name)
        except FileError as error:
            outcome.error = error
        except Exception as error:  # not the file's fault (cancelled run, database down): retried next run
            crash = error
        finally:
            local.unlink(missing_ok=True)
        if crash is not None:
            # Writes are idempotent, so taking the whole file again next run is safe.
            transport.move(claimed, src=PROCESSING, dst="", new_name=remote.name)
            raise crash
        destination = FAILED if outcome.error else PROCESSED
        outcome.moved_to = f"{destination}/" + transport.move(claimed, src=PROCESSING, dst=destination,
                                                             new_name=timestamped(claimed))
        logger.info("file picked up", extra={"event": "files.picked_up", "file": remote.name,
                                             "outcome": destination})
        picked.append(outcome)
    return picked


def recover_stale(transport: FolderTransport, names: list[str]) -> None:
    """Put files left in processing/ by a crashed run back in the folder (call only when no run is active)."""
    for name in names:
        with contextlib.suppress(FileError):
            transport.move(name, src=PROCESSING, dst="")


# --- HTTP(S) -------------------------------------------------------------------------------------


def check_address(host: str, port: int, *, allow_private: bool) -> None:
    """Refuse a host resolving to a loopback, private, link-local, reserved or metadata address."""
    try:
        egress.vetted_addresses(host, port, allow_private=allow_private)
    except egress.EgressUnresolvable as unresolved:
        raise FileError(FileErrorCode.TRANSPORT, str(unresolved), field="url") from None
    except egress.EgressRefused as refused:
        raise FileError(FileErrorCode.REFUSED_ADDRESS, str(refused), field="url") from None


@dataclass(frozen=True)
class HttpOptions:
    timeout: float = 30.0
    max_redirects: int = 3
    allow_private: bool = False
    verify: bool = True  # turning it off is a per-node choice the engine logs
    ca_pem: str | None = None  # trust these certificates instead of the system store
    headers: tuple[tuple[str, str], ...] = ()


def _checked_url(url: str, options: HttpOptions) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FileError(FileErrorCode.INVALID_CONFIG, "the URL must be http:// or https:// with a host", field="url")
    check_address(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                  allow_private=options.allow_private)
    return url


@contextlib.contextmanager
def _client(options: HttpOptions) -> Iterator[Any]:
    import httpx

    context = tls_context(verify=options.verify, ca_pem=options.ca_pem)
    # The URL was checked before the request; the transport checks again at connect time (DNS rebinding).
    with httpx.Client(timeout=options.timeout, follow_redirects=False, headers=dict(options.headers),
                      transport=egress.guarded_transport(allow_private=options.allow_private, verify=context),
                      ) as client:
        yield client


def http_fetch(url: str, dest: Path, *, max_bytes: int, options: HttpOptions = HttpOptions()) -> int:
    """Download ``url`` to ``dest`` under a size cap; every redirect hop passes the address guard."""
    import httpx

    name = PurePosixPath(urlsplit(url).path).name or urlsplit(url).hostname or "download"
    with _client(options) as client:
        for _ in range(options.max_redirects + 1):
            try:
                with client.stream("GET", _checked_url(url, options)) as response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    if response.status_code != 200:
                        raise FileError(FileErrorCode.NOT_FOUND if response.status_code == 404
                                        else FileErrorCode.TRANSPORT,
                                        f"the server answered HTTP {response.status_code}", file=name)
                    length = response.headers.get("content-length", "")
                    if length.isdigit() and int(length) > max_bytes:
                        raise _too_large(name, max_bytes)
                    with dest.open("wb") as out:
                        writer = _CappedWriter(out, max_bytes, name)
                        for chunk in response.iter_bytes(CHUNK):
                            writer(chunk)
                        return writer.written
            except httpx.HTTPError as error:
                dest.unlink(missing_ok=True)
                raise FileError(FileErrorCode.TRANSPORT, f"HTTP download failed: {type(error).__name__}: "
                                f"{str(error)[:200]}", file=name) from None
            except FileError:
                dest.unlink(missing_ok=True)
                raise
        raise FileError(FileErrorCode.TRANSPORT, f"more than {options.max_redirects} redirects", file=name)


def http_upload(url: str, local: Path, *, method: str = "PUT", content_type: str = "application/octet-stream",
                options: HttpOptions = HttpOptions()) -> int:
    """Upload a file's bytes to ``url`` (no redirects followed); return the HTTP status."""
    import httpx

    if method not in ("PUT", "POST"):
        raise FileError(FileErrorCode.INVALID_CONFIG, "method must be PUT or POST", field="method")
    name = local.name
    with _client(options) as client, local.open("rb") as body:
        try:
            response = client.request(method, _checked_url(url, options), content=body,
                                      headers={"content-type": content_type})
        except httpx.HTTPError as error:
            raise FileError(FileErrorCode.TRANSPORT, f"HTTP upload failed: {type(error).__name__}", file=name) from None
    if not 200 <= response.status_code < 300:
        raise FileError(FileErrorCode.TRANSPORT, f"the server answered HTTP {response.status_code}", file=name)
    return response.status_code
