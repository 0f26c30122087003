"""The egress guard: where the platform's own outbound connections may go.

Connectors fetch and push over HTTP on behalf of tenants, so a tenant could point one at the
host's own services (loopback, the private network, the cloud metadata endpoint) — server-side
request forgery. Two walls:

1. :func:`vetted_addresses` resolves a host and refuses it when any address is not public (unless
   the integration node explicitly allows private addresses). Cloud metadata addresses are refused
   always.
2. :func:`guarded_transport` gives httpx a connection backend that resolves and checks *again at
   connect time* and connects to the checked address itself, so a DNS answer that changes between
   the check and the connection (DNS rebinding) reaches nothing. TLS still verifies the original
   host name: httpcore sends the URL's host as SNI whatever address the socket went to.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

# Instance metadata services (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba): credentials live there.
METADATA = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"))


class EgressRefused(httpcore.ConnectError):
    """An outbound connection the guard refused; httpx reports it as a ConnectError."""


class EgressUnresolvable(EgressRefused):
    """The host name did not resolve (a transport problem, not a policy refusal)."""


def vetted_addresses(host: str, port: int, *, allow_private: bool) -> list[str]:
    """Resolve ``host`` and return its addresses, or raise EgressRefused naming the first bad one."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise EgressUnresolvable(f"cannot resolve {host[:100]!r}") from None
    addresses: list[str] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]
        address = ipaddress.ip_address(text)
        if address in METADATA:
            raise EgressRefused(f"{host[:100]!r} resolves to a cloud metadata address ({address}); never allowed")
        if not address.is_global and not allow_private:
            raise EgressRefused(f"{host[:100]!r} resolves to a non-public address ({address}); allow private "
                                "addresses on the node to reach it")
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise EgressRefused(f"{host[:100]!r} has no address")
    return addresses


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to addresses the guard vetted at connect time."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in vetted_addresses(host, port, allow_private=self.allow_private):
            try:
                return super().connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                           socket_options=socket_options)
            except httpcore.ConnectError as error:
                last = error
        assert last is not None
        raise last


def guarded_transport(*, allow_private: bool, verify: Any = True) -> httpx.HTTPTransport:
    """An httpx transport whose every connection passes the egress guard."""
    transport = httpx.HTTPTransport(verify=verify)
    # httpx does not take a network backend; its pool does. Rebuild the pool with the same TLS
    # context and our backend (httpx 0.28 keeps the pool in ``_pool``; a test pins this).
    ssl_context = transport._pool._ssl_context
    transport._pool = httpcore.ConnectionPool(ssl_context=ssl_context,
                                              network_backend=GuardedBackend(allow_private=allow_private))
    return transport
