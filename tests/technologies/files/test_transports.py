"""Transports against real loopback servers: local folder, FTP, FTPS, SFTP and HTTP; exactly-once pick-up."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bindery.technologies.files.errors import FileError, FileErrorCode
from bindery.technologies.files.transports import (
    FAILED,
    PROCESSED,
    PROCESSING,
    FolderTransport,
    FtpTransport,
    HttpOptions,
    LocalTransport,
    SftpTransport,
    check_name,
    http_fetch,
    http_upload,
    pick_up,
    recover_stale,
)
from tests.technologies.files.servers import PASSWORD, USER, ftp_server, http_server, self_signed, sftp_server

KINDS = ["local", "ftp", "ftps", "sftp"]


@pytest.fixture(params=KINDS)
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[FolderTransport, Path]]:
    """A transport onto folder ``in/`` of a real server, and the server-side path of that folder."""
    root = tmp_path / "server"
    (root / "in").mkdir(parents=True)
    kind = request.param
    transport: Any
    if kind == "local":
        transport = LocalTransport(root, "in")
        yield transport, root / "in"
        return
    if kind == "sftp":
        with sftp_server(root) as sftp:
            transport = SftpTransport("127.0.0.1", allow_private=True, port=sftp.port, username=USER, password=PASSWORD,
                                      host_key=sftp.host_key, folder="in", timeout=60)
            try:
                yield transport, root / "in"
            finally:
                transport.close()
        return
    pem, cert_pem = self_signed(tmp_path)
    with ftp_server(root, tls_pem=pem if kind == "ftps" else None) as ftp:
        transport = FtpTransport("127.0.0.1", allow_private=True, port=ftp.port, username=USER,
                                 password=PASSWORD, folder="in",
                                 tls=kind == "ftps", ca_pem=cert_pem, timeout=60)
        try:
            yield transport, root / "in"
        finally:
            transport.close()


def test_pick_up_processes_each_file_once(remote: tuple[FolderTransport, Path], tmp_path: Path) -> None:
    """A processed file goes to processed/, a refused one to failed/; a second pick-up finds nothing."""
    transport, folder = remote
    (folder / "a.csv").write_bytes(b"sku\nA1\n")
    (folder / "b.csv").write_bytes(b"bad")
    (folder / "notes.txt").write_bytes(b"left alone")
    seen: list[tuple[str, bytes]] = []

    def handle(local: Path, name: str) -> int:
        data = local.read_bytes()
        seen.append((name, data))
        if data == b"bad":
            raise FileError(FileErrorCode.MALFORMED, "bad file", file=name)
        return len(data)

    spool = tmp_path / "spool"
    spool.mkdir()
    picked = pick_up(transport, handle, spool=spool, max_bytes=1000, pattern="*.csv")
    assert seen == [("a.csv", b"sku\nA1\n"), ("b.csv", b"bad")]
    assert [(p.name, p.result, p.error.code if p.error else None) for p in picked] == [
        ("a.csv", 7, None), ("b.csv", None, FileErrorCode.MALFORMED)]
    assert [p.moved_to.split("/")[0] for p in picked] == [PROCESSED, FAILED]
    assert next(p.name for p in (folder / PROCESSED).iterdir()).endswith("-a.csv")
    assert next(p.name for p in (folder / FAILED).iterdir()).endswith("-b.csv")
    assert not list((folder / PROCESSING).iterdir())
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == ["notes.txt"]
    assert list(spool.iterdir()) == []
    assert pick_up(transport, handle, spool=spool, max_bytes=1000, pattern="*.csv") == []


def test_oversized_file_is_filed_as_failed(remote: tuple[FolderTransport, Path], tmp_path: Path) -> None:
    transport, folder = remote
    (folder / "big.csv").write_bytes(b"x" * 5000)
    [picked] = pick_up(transport, lambda local, name: None, spool=tmp_path, max_bytes=100)
    assert picked.error is not None
    assert picked.error.code == FileErrorCode.TOO_LARGE
    assert picked.moved_to.startswith(FAILED + "/")


def test_fetch_caps_size_while_streaming(remote: tuple[FolderTransport, Path], tmp_path: Path) -> None:
    """The cap holds even when the listing's size is not trusted (fetch directly)."""
    transport, folder = remote
    (folder / "big.csv").write_bytes(b"x" * 300_000)
    with pytest.raises(FileError) as caught:
        transport.fetch("big.csv", tmp_path / "out", max_bytes=100_000)
    assert caught.value.code == FileErrorCode.TOO_LARGE


def test_put_is_atomic_and_replaces(remote: tuple[FolderTransport, Path], tmp_path: Path) -> None:
    transport, folder = remote
    for content in (b"first", b"second version"):
        local = tmp_path / "local.csv"
        local.write_bytes(content)
        transport.put(local, "orders.csv")
    assert (folder / "orders.csv").read_bytes() == b"second version"
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == ["orders.csv"]  # no temporary left


def test_stale_claims_are_recovered(remote: tuple[FolderTransport, Path], tmp_path: Path) -> None:
    transport, folder = remote
    (folder / PROCESSING).mkdir(exist_ok=True)
    (folder / PROCESSING / "left.csv").write_bytes(b"x")
    recover_stale(transport, ["left.csv"])
    assert (folder / "left.csv").read_bytes() == b"x"


def test_missing_file_is_not_found(remote: tuple[FolderTransport, Path], tmp_path: Path) -> None:
    transport, _ = remote
    with pytest.raises(FileError) as caught:
        transport.fetch("nope.csv", tmp_path / "out", max_bytes=100)
    assert caught.value.code == FileErrorCode.NOT_FOUND


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b.csv", "..", ".hidden", "a\\b", "x\x00y", "line\nbreak", ""])
def test_hostile_names_are_refused(name: str) -> None:
    with pytest.raises(FileError) as caught:
        check_name(name)
    assert caught.value.code == FileErrorCode.UNSAFE_PATH


def test_local_folder_is_confined(tmp_path: Path) -> None:
    """Traversal in the folder, a symlinked folder or file pointing outside: all refused."""
    root = tmp_path / "tenant"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_bytes(b"secret")
    for folder in ("../outside", "/etc", "in/../../outside"):
        with pytest.raises(FileError) as caught:
            LocalTransport(root, folder)
        assert caught.value.code == FileErrorCode.UNSAFE_PATH
    os.symlink(outside, root / "link")
    with pytest.raises(FileError):
        LocalTransport(root, "link")
    transport = LocalTransport(root, "in")
    os.symlink(outside / "secret.csv", root / "in" / "secret.csv")
    assert transport.list() == []  # symlinks are not listed
    with pytest.raises(FileError) as caught:
        transport.fetch("secret.csv", tmp_path / "out", max_bytes=100)
    assert caught.value.code == FileErrorCode.UNSAFE_PATH


def test_ftp_wrong_password_is_a_transport_error(tmp_path: Path) -> None:
    with ftp_server(tmp_path) as ftp, pytest.raises(FileError) as caught:
        FtpTransport("127.0.0.1", allow_private=True, port=ftp.port, username=USER, password="wrong", timeout=30)
    assert caught.value.code == FileErrorCode.TRANSPORT


def test_ftps_refuses_an_unknown_certificate(tmp_path: Path) -> None:
    pem, _ = self_signed(tmp_path)
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    _, other_ca = self_signed(other_dir)
    with ftp_server(tmp_path, tls_pem=pem) as ftp, pytest.raises(FileError) as caught:
        FtpTransport("127.0.0.1", allow_private=True, port=ftp.port, username=USER,
                     password=PASSWORD, tls=True, ca_pem=other_ca,
                     timeout=30)
    assert caught.value.code == FileErrorCode.TRANSPORT


def test_sftp_refuses_an_unknown_host_key(tmp_path: Path) -> None:
    import asyncssh

    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    with sftp_server(tmp_path) as sftp, pytest.raises(FileError) as caught:
        SftpTransport("127.0.0.1", allow_private=True, port=sftp.port, username=USER,
                      password=PASSWORD, host_key=other, timeout=30)
    assert caught.value.code == FileErrorCode.TRANSPORT


# --- HTTP ----------------------------------------------------------------------------------------

LOOPBACK = HttpOptions(allow_private=True, timeout=30)


def test_http_fetch_follows_limited_redirects(tmp_path: Path) -> None:
    (tmp_path / "products.csv").write_bytes(b"sku\nA1\n")
    with http_server(tmp_path) as server:
        out = tmp_path / "out"
        assert http_fetch(server.url("/files/products.csv"), out, max_bytes=100, options=LOOPBACK) == 7
        assert http_fetch(server.url("/redirect/3"), out, max_bytes=100, options=LOOPBACK) == 7
        with pytest.raises(FileError, match="more than 3 redirects"):
            http_fetch(server.url("/redirect/4"), out, max_bytes=100, options=LOOPBACK)


@pytest.mark.parametrize(("path", "code"), [
    ("/error", FileErrorCode.TRANSPORT), ("/files/missing.csv", FileErrorCode.NOT_FOUND),
    ("/cut", FileErrorCode.TRANSPORT), ("/endless", FileErrorCode.TOO_LARGE)])
def test_http_fetch_failures(tmp_path: Path, path: str, code: FileErrorCode) -> None:
    """Server errors, disconnects mid-transfer and bodies over the cap fail cleanly and leave no file."""
    with http_server(tmp_path) as server:
        out = tmp_path / "out"
        with pytest.raises(FileError) as caught:
            http_fetch(server.url(path), out, max_bytes=500_000, options=LOOPBACK)
        assert caught.value.code == code
        assert not out.exists()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x.csv", "http://169.254.169.254/latest/meta-data",
                                 "http://10.0.0.1/x", "http://[::1]/x", "http://localhost/x"])
def test_http_refuses_private_addresses_by_default(tmp_path: Path, url: str) -> None:
    with pytest.raises(FileError) as caught:
        http_fetch(url, tmp_path / "out", max_bytes=100)
    assert caught.value.code == FileErrorCode.REFUSED_ADDRESS


def test_http_refuses_other_schemes(tmp_path: Path) -> None:
    for url in ("file:///etc/passwd", "ftp://example.com/x", "gopher://x"):
        with pytest.raises(FileError) as caught:
            http_fetch(url, tmp_path / "out", max_bytes=100)
        assert caught.value.code == FileErrorCode.INVALID_CONFIG


def test_http_upload(tmp_path: Path) -> None:
    local = tmp_path / "orders.csv"
    local.write_bytes(b"order,total\n1,10\n")
    with http_server(tmp_path) as server:
        assert http_upload(server.url("/drop/orders.csv"), local, options=LOOPBACK) == 201
        assert server.uploads["/drop/orders.csv"] == b"order,total\n1,10\n"
        with pytest.raises(FileError):
            http_upload(server.url("/drop/orders.csv"), local, method="DELETE", options=LOOPBACK)


def test_pick_up_reports_and_leaves_unsafe_names(remote: tuple[FolderTransport, Path], tmp_path: Path) -> None:
    """A server-side name with a newline is never claimed, fetched or moved; the other files go on."""
    transport, folder = remote
    (folder / "evil\nname.csv").write_bytes(b"sku\n")
    (folder / "good.csv").write_bytes(b"sku\n")
    picked = pick_up(transport, lambda local, name: name, spool=tmp_path, max_bytes=100)
    outcomes = [(p.name, p.error.code if p.error else None, p.result) for p in picked]
    assert ("good.csv", None, "good.csv") in outcomes
    # SFTP and local list the name and it is refused; FTP's line-based listing cannot even carry it.
    assert [o for o in outcomes if o[0] != "good.csv"] in (
        [("evil\nname.csv", FileErrorCode.UNSAFE_PATH, None)], [])
    assert (folder / "evil\nname.csv").exists()


def test_ftp_disconnect_mid_transfer_leaves_the_claim_recoverable(tmp_path: Path) -> None:
    """The server goes away during a slow download: a transport error, and the file stays in processing/."""
    import threading

    from pyftpdlib.handlers import ThrottledDTPHandler

    root = tmp_path / "server"
    (root / "in").mkdir(parents=True)
    (root / "in" / "big.csv").write_bytes(b"x" * 400_000)
    throttled = type("Throttled", (ThrottledDTPHandler,), {"read_limit": 50_000, "write_limit": 50_000})
    with ftp_server(root, dtp_handler=throttled) as ftp:
        transport = FtpTransport("127.0.0.1", allow_private=True, port=ftp.port, username=USER,
                                 password=PASSWORD, folder="in",
                                 timeout=20)
        killer = threading.Timer(1.0, ftp.stop)
        killer.start()
        with pytest.raises(FileError) as caught:
            pick_up(transport, lambda local, name: name, spool=tmp_path, max_bytes=1_000_000)
        killer.join()
    assert caught.value.code == FileErrorCode.TRANSPORT
    assert (root / "in" / PROCESSING / "big.csv").read_bytes() == b"x" * 400_000
    assert not list(tmp_path.glob("*.download"))


def test_a_crash_while_processing_returns_the_file_for_the_next_run(tmp_path: Path) -> None:
    """Not the file's fault (cancelled run, database down): it goes back to the folder, not to failed/."""
    root = tmp_path / "tenant"
    transport = LocalTransport(root, "in")
    (root / "in" / "a.csv").write_bytes(b"sku\n")

    def handle(local: Path, name: str) -> None:
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        pick_up(transport, handle, spool=tmp_path, max_bytes=100)
    assert (root / "in" / "a.csv").read_bytes() == b"sku\n"
    assert not list((root / "in" / PROCESSING).iterdir())
    assert not (root / "in" / FAILED).exists() or not list((root / "in" / FAILED).iterdir())


def test_https_fetch_verifies_the_certificate(tmp_path: Path) -> None:
    """HTTPS with the server's CA configured works; without it (system store) the download is refused."""
    (tmp_path / "products.csv").write_bytes(b"sku\nA1\n")
    pem, cert_pem = self_signed(tmp_path)
    with http_server(tmp_path, tls_pem=pem) as server:
        trusted = HttpOptions(allow_private=True, timeout=30, ca_pem=cert_pem)
        assert http_fetch(server.url("/files/products.csv"), tmp_path / "out", max_bytes=100, options=trusted) == 7
        with pytest.raises(FileError) as caught:
            http_fetch(server.url("/files/products.csv"), tmp_path / "out2", max_bytes=100, options=LOOPBACK)
        assert caught.value.code == FileErrorCode.TRANSPORT
        assert not (tmp_path / "out2").exists()


def test_sftp_disconnect_mid_transfer_leaves_the_claim_recoverable(tmp_path: Path) -> None:
    """The SFTP connection drops during a slow download: a transport error, the file stays in processing/."""
    import threading

    root = tmp_path / "server"
    (root / "in").mkdir(parents=True)
    (root / "in" / "big.csv").write_bytes(b"y" * 2_000_000)
    with sftp_server(root, slow=True) as sftp:
        transport = SftpTransport("127.0.0.1", allow_private=True, port=sftp.port, username=USER, password=PASSWORD,
                                  host_key=sftp.host_key, folder="in", timeout=60)
        killer = threading.Timer(0.5, sftp.disconnect)
        killer.start()
        try:
            with pytest.raises(FileError) as caught:
                pick_up(transport, lambda local, name: name, spool=tmp_path, max_bytes=10_000_000)
        finally:
            killer.join()
            transport.close()
    assert caught.value.code == FileErrorCode.TRANSPORT
    assert (root / "in" / PROCESSING / "big.csv").stat().st_size == 2_000_000
    assert not list(tmp_path.glob("*.download"))


def test_upload_is_spooled_under_the_cap(tmp_path: Path) -> None:
    from bindery.technologies.files.transports import save_upload

    dest = tmp_path / "upload"
    assert save_upload([b"sku\n", b"A1\n"], dest, max_bytes=10, name="products.csv") == 7
    with pytest.raises(FileError) as caught:
        save_upload(iter([b"x" * 6, b"y" * 6]), dest, max_bytes=10, name="products.csv")
    assert caught.value.code == FileErrorCode.TOO_LARGE
    assert not dest.exists()
    with pytest.raises(FileError):
        save_upload([b"x"], dest, max_bytes=10, name="../../etc/cron.d/x")
