"""The egress guard: private and metadata addresses refused, and DNS rebinding reaches nothing."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bindery.security import egress
from bindery.technologies.files.errors import FileError
from bindery.technologies.files.transports import HttpOptions, http_fetch


class _Counting(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        body = b"secret internal data"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def internal_server() -> Iterator[int]:
    _Counting.hits = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()


def test_private_and_metadata_addresses_are_refused() -> None:
    with pytest.raises(egress.EgressRefused, match="non-public"):
        egress.vetted_addresses("127.0.0.1", 80, allow_private=False)
    with pytest.raises(egress.EgressRefused, match="non-public"):
        egress.vetted_addresses("10.1.2.3", 80, allow_private=False)
    assert egress.vetted_addresses("127.0.0.1", 80, allow_private=True) == ["127.0.0.1"]
    for metadata in ("169.254.169.254", "fd00:ec2::254"):
        with pytest.raises(egress.EgressRefused, match="metadata"):
            egress.vetted_addresses(metadata, 80, allow_private=True)
    with pytest.raises(egress.EgressRefused, match="cannot resolve"):
        egress.vetted_addresses("no-such-host.invalid", 80, allow_private=False)


def test_the_guarded_transport_allows_what_the_node_allows(internal_server: int, tmp_path: Path) -> None:
    with httpx.Client(transport=egress.guarded_transport(allow_private=True)) as client:
        assert client.get(f"http://127.0.0.1:{internal_server}/x").text == "secret internal data"
    with httpx.Client(transport=egress.guarded_transport(allow_private=False)) as client, \
            pytest.raises(httpx.ConnectError, match="non-public"):
        client.get(f"http://127.0.0.1:{internal_server}/x")
    assert _Counting.hits == 1


def test_dns_rebinding_between_check_and_connect_reaches_nothing(
        internal_server: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The name is public when checked and loopback when connected: the connection is refused."""
    real = socket.getaddrinfo
    answers = iter(["93.184.216.34"])  # public for the first look-up only

    def rebinding(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example":
            address = next(answers, "127.0.0.1")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(FileError, match="non-public"):
        http_fetch(f"http://rebind.example:{internal_server}/x", tmp_path / "out", max_bytes=1000,
                   options=HttpOptions(timeout=5))
    assert _Counting.hits == 0
    assert not (tmp_path / "out").exists()


def test_the_pool_is_where_httpx_keeps_it() -> None:
    """guarded_transport replaces httpx's private pool; an httpx upgrade that moves it fails here."""
    transport = egress.guarded_transport(allow_private=False)
    assert isinstance(transport._pool._network_backend, egress.GuardedBackend)
