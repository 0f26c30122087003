"""The client's IP address, decided in one place.

The socket peer (``REMOTE_ADDR``) is the client unless it is a trusted proxy
(``BINDERY_TRUSTED_PROXIES``); then ``X-Forwarded-For`` is read right to left, skipping
trusted proxies, and the first address that is not one is the client. A forged left-most
entry therefore never wins, and a peer that is not trusted cannot forge anything. IPv4-mapped
IPv6 addresses (``::ffff:192.0.2.1``) become plain IPv4.
"""

from __future__ import annotations

import functools
import ipaddress

from django.conf import settings
from django.http import HttpRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
UNKNOWN = "0.0.0.0"  # noqa: S104 (a placeholder for an unparseable peer, never bound)
ATTRIBUTE = "client_ip"


def parse_ip(value: str) -> IPAddress | None:
    try:
        ip = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


@functools.cache
def _trusted(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def is_trusted_proxy(ip: IPAddress) -> bool:
    return any(ip in net for net in _trusted(tuple(getattr(settings, "BINDERY_TRUSTED_PROXIES", ()))))


def resolve(remote_addr: str, forwarded_for: str = "") -> str:
    """Return the client IP for a peer address and an ``X-Forwarded-For`` value."""
    peer = parse_ip(remote_addr or "")
    if peer is None:
        return UNKNOWN
    if not is_trusted_proxy(peer):
        return str(peer)
    for hop in reversed([h for h in forwarded_for.split(",") if h.strip()][:20]):
        ip = parse_ip(hop)
        if ip is None:
            break  # garbage from here leftwards is the client's own making: stop at the last good hop
        peer = ip
        if not is_trusted_proxy(ip):
            break
    return str(peer)


def client_ip(request: HttpRequest) -> str:
    """Return (and remember on the request) the client's IP address."""
    cached = getattr(request, ATTRIBUTE, None)
    if cached is None:
        cached = resolve(request.META.get("REMOTE_ADDR", ""), request.META.get("HTTP_X_FORWARDED_FOR", ""))
        setattr(request, ATTRIBUTE, cached)
    return str(cached)


def source_key(ip: str) -> str:
    """The unit an IP is counted and banned as: the address, or its /64 for IPv6."""
    parsed = parse_ip(ip)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed) if parsed else UNKNOWN
