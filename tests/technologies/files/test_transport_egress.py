"""The egress guard on FTP, FTPS and SFTP, against real servers on loopback.

A files node reaches the address its settings name; a tenant could name the host's own services
(loopback, the private network, cloud metadata). FTP and SFTP refuse non-public addresses unless
the node allows private addresses, resolve the name once and connect to the vetted address
(no second DNS answer is ever used), and FTP refuses a passive-mode answer that points at
another host (the FTP bounce).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from bindery.technologies.files.errors import FileError, FileErrorCode
from bindery.technologies.files.transports import FolderTransport, FtpTransport, SftpTransport
from tests.technologies.files.servers import PASSWORD, USER, ftp_server, self_signed, sftp_server


def _open(kind: str, root: Path, tmp_path: Path, host: str, *, allow_private: bool,
          masquerade_address: str | None = None) -> Iterator[FolderTransport]:
    if kind == "sftp":
        with sftp_server(root) as sftp:
            transport: FolderTransport = SftpTransport(host, port=sftp.port, username=USER, password=PASSWORD,
                                                       host_key=sftp.host_key, timeout=30,
                                                       allow_private=allow_private)
            try:
                yield transport
            finally:
                transport.close()
        return
    pem, cert_pem = self_signed(tmp_path)
    with ftp_server(root, tls_pem=pem if kind == "ftps" else None, masquerade_address=masquerade_address) as ftp:
        transport = FtpTransport(host, port=ftp.port, username=USER, password=PASSWORD, tls=kind == "ftps",
                                 ca_pem=cert_pem, timeout=30, allow_private=allow_private)
        try:
            yield transport
        finally:
            transport.close()


def connect(kind: str, root: Path, tmp_path: Path, host: str = "127.0.0.1", *, allow_private: bool,
            masquerade_address: str | None = None) -> Any:
    from contextlib import contextmanager

    return contextmanager(_open)(kind, root, tmp_path, host, allow_private=allow_private,
                                 masquerade_address=masquerade_address)


@pytest.fixture
def served(tmp_path: Path) -> Path:
    root = tmp_path / "server"
    root.mkdir()
    (root / "a.csv").write_bytes(b"sku\nA1\n")
    return root


@pytest.mark.parametrize("kind", ["ftp", "ftps", "sftp"])
def test_loopback_only_when_the_node_allows_private_addresses(kind: str, served: Path, tmp_path: Path) -> None:
    with connect(kind, served, tmp_path, allow_private=True) as transport:
        assert [f.name for f in transport.list()] == ["a.csv"]
        assert transport.fetch("a.csv", tmp_path / "got", max_bytes=100) == 7
    with pytest.raises(FileError) as caught, connect(kind, served, tmp_path, allow_private=False):
        pass
    assert caught.value.code == FileErrorCode.REFUSED_ADDRESS
    assert "non-public" in caught.value.message


@pytest.mark.parametrize("kind", ["ftp", "sftp"])
@pytest.mark.parametrize("host", ["169.254.169.254", "localhost", "10.0.0.1", "[::1]", "0.0.0.0"])  # noqa: S104
def test_private_and_metadata_hosts_are_refused_before_any_connection(
        kind: str, host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing is connected to: the refusal comes from the vetted address, not from a timeout."""
    host = host.strip("[]")
    attempts: list[Any] = []
    real = socket.create_connection

    def counting(address: Any, *args: Any, **kwargs: Any) -> Any:
        attempts.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", counting)
    monkeypatch.setattr(asyncssh, "connect", counting)
    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    opening: dict[str, Any] = {
        "ftp": lambda: FtpTransport(host, port=21, timeout=5),
        "sftp": lambda: SftpTransport(host, port=22, username=USER, host_key=key, timeout=5)}
    with pytest.raises(FileError) as caught:
        opening[kind]()
    assert caught.value.code == FileErrorCode.REFUSED_ADDRESS
    assert attempts == []
    if host == "169.254.169.254":  # metadata: refused even when private addresses are allowed
        with pytest.raises(FileError) as again:
            FtpTransport(host, port=21, timeout=5, allow_private=True)
        assert again.value.code == FileErrorCode.REFUSED_ADDRESS
        assert "metadata" in again.value.message


@pytest.mark.parametrize("kind", ["ftps", "sftp"])
def test_the_name_is_resolved_once_and_the_vetted_address_used(
        kind: str, served: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: "localhost" answers loopback once, then the metadata address. The transport
    only ever uses the first answer: control and data connections reach the server, and FTPS still
    verifies the certificate for the name."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "localhost":
            lookups.append(host)
            address = "127.0.0.1" if len(lookups) == 1 else "169.254.169.254"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with connect(kind, served, tmp_path, "localhost", allow_private=True) as transport:
        assert transport.fetch("a.csv", tmp_path / "got", max_bytes=100) == 7
        (tmp_path / "up.csv").write_bytes(b"sku\nB2\n")
        transport.put(tmp_path / "up.csv", "up.csv")
        assert sorted(f.name for f in transport.list()) == ["a.csv", "up.csv"]
    assert lookups == ["localhost"]
    assert (served / "up.csv").read_bytes() == b"sku\nB2\n"


@pytest.mark.parametrize("kind", ["ftp", "ftps"])
def test_a_passive_answer_pointing_elsewhere_is_refused(kind: str, served: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The server announces 192.0.2.1 (TEST-NET-1) for the data connection: refused, nothing connects there."""
    attempts: list[Any] = []
    real = socket.create_connection

    def counting(address: Any, *args: Any, **kwargs: Any) -> Any:
        attempts.append(address[0])
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", counting)
    with connect(kind, served, tmp_path, allow_private=True, masquerade_address="192.0.2.1") as transport:
        with pytest.raises(FileError) as caught:
            transport.list()
        assert caught.value.code == FileErrorCode.REFUSED_ADDRESS
        assert "192.0.2.1" in caught.value.message
    assert "192.0.2.1" not in attempts
    assert attempts[0] == "127.0.0.1"
