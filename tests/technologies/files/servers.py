"""Real loopback servers for the transport tests: pyftpdlib (FTP and FTPS), asyncssh (SFTP), http.server."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER, PASSWORD = "bindery", "s3cret-pass"


def self_signed(folder: Path) -> tuple[Path, str]:
    """Write a localhost certificate + key PEM (for pyftpdlib) and return (path, certificate PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    path = folder / "server.pem"
    path.write_text(cert_pem + key_pem)
    return path, cert_pem


@dataclass
class Ftp:
    port: int
    root: Path
    stop: Any = None


@contextmanager
def ftp_server(root: Path, *, tls_pem: Path | None = None, dtp_handler: Any = None,
               masquerade_address: str | None = None) -> Iterator[Ftp]:
    """pyftpdlib on loopback; ``masquerade_address`` makes it announce another address in PASV answers."""
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
    from pyftpdlib.servers import FTPServer

    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, str(root), perm="elradfmwMT")
    handler: Any
    if tls_pem is not None:
        handler = type("Handler", (TLS_FTPHandler,), {"certfile": str(tls_pem), "tls_control_required": True,
                                                      "tls_data_required": True})
    else:
        handler = type("Handler", (FTPHandler,), {})
    handler.authorizer = authorizer
    if dtp_handler is not None:
        handler.dtp_handler = dtp_handler
    if masquerade_address is not None:
        handler.masquerade_address = masquerade_address
    server = FTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.2}, daemon=True)
    thread.start()
    stopped = threading.Event()

    def stop() -> None:
        if not stopped.is_set():
            stopped.set()
            server.close_all()  # closes every control and data connection: a disconnect for clients

    try:
        yield Ftp(server.address[1], root, stop)
    finally:
        stop()
        thread.join(timeout=10)


@dataclass
class Sftp:
    port: int
    host_key: str
    root: Path
    disconnect: Any = None


_connections: list[Any] = []


class _Auth(asyncssh.SSHServer):
    def connection_made(self, conn: Any) -> None:
        _connections.append(conn)

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == USER and password == PASSWORD


class _SlowSftp(asyncssh.SFTPServer):
    """Serves reads slowly, so a test can cut the connection mid-transfer."""

    async def read(self, file_obj: Any, offset: int, size: int) -> bytes:
        await asyncio.sleep(0.05)
        return bytes(super().read(file_obj, offset, size))


@contextmanager
def sftp_server(root: Path, *, slow: bool = False) -> Iterator[Sftp]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    factory = _SlowSftp if slow else asyncssh.SFTPServer
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> None:
            holder["server"] = await asyncssh.listen(
                "127.0.0.1", 0, server_host_keys=[key], server_factory=_Auth,
                sftp_factory=lambda chan: factory(chan, chroot=str(root).encode()))
            started.set()

        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(30)
    server = holder["server"]
    port = server.sockets[0].getsockname()[1]
    def disconnect() -> None:
        for conn in list(_connections):
            loop.call_soon_threadsafe(conn.abort)

    try:
        yield Sftp(port, key.export_public_key().decode().strip(), root, disconnect)
    finally:
        async def shutdown() -> None:
            server.close()
            await server.wait_closed()
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


class _Handler(http.server.BaseHTTPRequestHandler):
    root: Path
    uploads: dict[str, bytes]

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        if self.path.startswith("/redirect/"):
            count = int(self.path.split("/")[2])
            target = f"/redirect/{count - 1}" if count > 1 else "/files/products.csv"
            self.send_response(302)
            self.send_header("Location", target)
            self.end_headers()
            return
        if self.path == "/error":
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/cut":
            # Promise more than is sent, then close: a disconnect mid-transfer.
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"sku,name\n" * 100)
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path == "/endless":
            # No Content-Length: only the streaming cap stops it.
            self.send_response(200)
            self.end_headers()
            for _ in range(2000):
                self.wfile.write(b"x" * 1024)
            self.close_connection = True
            return
        if self.path.startswith("/files/"):
            path = self.root / self.path.removeprefix("/files/")
            if path.is_file():
                data = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.uploads[self.path] = self.rfile.read(length)
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()


@dataclass
class Http:
    port: int
    root: Path
    uploads: dict[str, bytes]
    scheme: str = "http"

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"


@contextmanager
def http_server(root: Path, *, tls_pem: Path | None = None) -> Iterator[Http]:
    uploads: dict[str, bytes] = {}
    handler = type("Handler", (_Handler,), {"root": root, "uploads": uploads})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls_pem is not None:
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls_pem)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield Http(server.server_address[1], root, uploads, "https" if tls_pem else "http")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
