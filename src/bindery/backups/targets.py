"""Where backups are stored: a local directory (the other site's disk) or an SFTP server.

Both write under a temporary dot-name in the destination folder and rename into place only when
the whole object has been written (and, locally, flushed to disk). Listing ignores dot-names, so
a write cut short by a crash is never seen; the next run of that database removes it.

Stored objects are made read-only (0400) in folders only the backup site may enter (0700): the
backup site's own account is the only principal that can read, alter or delete them. Delivery
hosts are never given this target's location or credentials — the site pulls from them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

READ_BYTES = 1 << 20
FILE_MODE = 0o400
DIR_MODE = 0o700
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


class TargetError(Exception):
    """The storage target cannot be reached, read or written."""


def check_path(path: str) -> list[str]:
    parts = path.split("/")
    if not parts or any(not _PART.match(p) or ".." in p for p in parts):
        raise TargetError(f"unsafe storage path {path!r}")
    return parts


def _partial_name(name: str) -> str:
    return f".partial-{name}-{secrets.token_hex(4)}"


class Target(Protocol):
    label: str

    def write_atomic(self, path: str, chunks: Iterable[bytes]) -> int: ...
    def read(self, path: str) -> Iterator[bytes]: ...
    def names(self, folder: str) -> list[str]: ...
    def folders(self) -> list[str]: ...
    def delete(self, path: str) -> None: ...
    def remove_partials(self, folder: str) -> int: ...
    def close(self) -> None: ...


class LocalTarget:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.label = f"file://{self.root}"
        self.root.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        os.chmod(self.root, DIR_MODE)

    def _file(self, path: str) -> Path:
        return self.root.joinpath(*check_path(path))

    def write_atomic(self, path: str, chunks: Iterable[bytes]) -> int:
        final = self._file(path)
        final.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        if final.exists():
            raise TargetError(f"{path} already exists; stored backups are never overwritten")
        partial = final.with_name(_partial_name(final.name))
        written = 0
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                    written += len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(partial, FILE_MODE)
            os.rename(partial, final)
            dir_fd = os.open(final.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return written

    def read(self, path: str) -> Iterator[bytes]:
        try:
            with open(self._file(path), "rb") as handle:
                while block := handle.read(READ_BYTES):
                    yield block
        except FileNotFoundError:
            raise TargetError(f"{path} is not in the repository") from None

    def names(self, folder: str) -> list[str]:
        directory = self._file(folder)
        if not directory.is_dir():
            return []
        return sorted(p.name for p in directory.iterdir() if not p.name.startswith(".") and p.is_file())

    def folders(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def delete(self, path: str) -> None:
        self._file(path).unlink(missing_ok=True)

    def remove_partials(self, folder: str) -> int:
        directory = self._file(folder)
        if not directory.is_dir():
            return 0
        removed = 0
        for p in directory.iterdir():
            if p.name.startswith(".partial-"):
                p.unlink(missing_ok=True)
                removed += 1
        return removed

    def close(self) -> None:
        return None


class SftpTarget:
    """SFTP over asyncssh, driven from synchronous code through a private event loop.

    The server's host key must be given (no trust on first use); the account is the backup
    site's own, never a delivery host's.
    """

    def __init__(self, host: str, *, port: int = 22, username: str, host_key: str, folder: str = "",
                 password: str | None = None, private_key: str | None = None, timeout: float = 60.0) -> None:
        import asyncssh

        self._asyncssh = asyncssh
        self.folder = folder.strip("/")
        if self.folder:
            check_path(self.folder)
        self.label = f"sftp://{username}@{host}:{port}/{self.folder}"
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        try:
            trusted = [asyncssh.import_public_key(host_key)]
            keys = [asyncssh.import_private_key(private_key)] if private_key else None
        except (asyncssh.KeyImportError, ValueError) as exc:
            self.loop.close()
            raise TargetError(f"unreadable SSH key ({type(exc).__name__})") from None

        async def connect() -> tuple[Any, Any]:
            conn = await asyncssh.connect(host, port, username=username, password=password, client_keys=keys,
                                          known_hosts=(trusted, [], []), connect_timeout=timeout,
                                          preferred_auth="publickey,password" if keys else "password")
            return conn, await conn.start_sftp_client()

        try:
            self.conn, self.sftp = self._run(connect())
            if self.folder:
                self._run(self.sftp.makedirs(self.folder, exist_ok=True))
        except BaseException:
            self.loop.close()
            raise

    @classmethod
    def from_url(cls, url: str, *, host_key: str, password: str | None, private_key: str | None) -> SftpTarget:
        parts = urlsplit(url)
        if parts.scheme != "sftp" or not parts.hostname or not parts.username:
            raise TargetError("an SFTP target looks like sftp://user@host:port/folder")
        return cls(parts.hostname, port=parts.port or 22, username=unquote(parts.username), host_key=host_key,
                   folder=unquote(parts.path), password=password, private_key=private_key)

    def _run(self, coro: Any) -> Any:
        try:
            return self.loop.run_until_complete(asyncio.wait_for(coro, self.timeout))
        except (OSError, TimeoutError, self._asyncssh.Error, self._asyncssh.SFTPError) as exc:
            raise TargetError(f"SFTP failed: {type(exc).__name__}: {str(exc)[:200]}") from None

    def _path(self, path: str) -> str:
        return "/".join(p for p in (self.folder, "/".join(check_path(path))) if p)

    def write_atomic(self, path: str, chunks: Iterable[bytes]) -> int:
        final = self._path(path)
        parent, _, name = final.rpartition("/")
        partial = (parent + "/" if parent else "") + _partial_name(name)
        sftp = self.sftp
        if parent:
            self._run(sftp.makedirs(parent, exist_ok=True))
            self._run(sftp.chmod(parent, DIR_MODE))
        if self._run(sftp.exists(final)):
            raise TargetError(f"{path} already exists; stored backups are never overwritten")
        attrs = self._asyncssh.SFTPAttrs(permissions=0o600)
        handle = self._run(sftp.open(partial, "xb", attrs))
        written = 0
        try:
            try:
                for chunk in chunks:
                    self._run(handle.write(chunk, written))
                    written += len(chunk)
                with contextlib.suppress(self._asyncssh.SFTPError):
                    self._run(handle.fsync())
            finally:
                self._run(handle.close())
            self._run(sftp.chmod(partial, FILE_MODE))
            self._run(sftp.rename(partial, final))
        except BaseException:
            with contextlib.suppress(TargetError):
                self._run(sftp.remove(partial))
            raise
        return written

    def read(self, path: str) -> Iterator[bytes]:
        handle = self._run(self.sftp.open(self._path(path), "rb"))
        offset = 0
        try:
            while True:
                block = self._run(handle.read(READ_BYTES, offset))
                if not block:
                    break
                offset += len(block)
                yield bytes(block)
        finally:
            self._run(handle.close())

    def _entries(self, folder: str) -> list[Any]:
        path = self._path(folder) if folder else (self.folder or ".")
        try:
            return list(self.loop.run_until_complete(asyncio.wait_for(self.sftp.readdir(path), self.timeout)))
        except self._asyncssh.SFTPNoSuchFile:
            return []
        except (OSError, TimeoutError, self._asyncssh.Error) as exc:
            raise TargetError(f"SFTP failed: {type(exc).__name__}: {str(exc)[:200]}") from None

    def names(self, folder: str) -> list[str]:
        regular = self._asyncssh.FILEXFER_TYPE_REGULAR
        return sorted(str(e.filename) for e in self._entries(folder)
                      if e.attrs.type == regular and not str(e.filename).startswith("."))

    def folders(self) -> list[str]:
        directory = self._asyncssh.FILEXFER_TYPE_DIRECTORY
        return sorted(str(e.filename) for e in self._entries("")
                      if e.attrs.type == directory and not str(e.filename).startswith("."))

    def delete(self, path: str) -> None:
        with contextlib.suppress(TargetError):
            self._run(self.sftp.remove(self._path(path)))

    def remove_partials(self, folder: str) -> int:
        removed = 0
        for entry in self._entries(folder):
            if str(entry.filename).startswith(".partial-"):
                self._run(self.sftp.remove(self._path(folder) + "/" + str(entry.filename)))
                removed += 1
        return removed

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
            self.loop.run_until_complete(self.conn.wait_closed())
        self.loop.close()
