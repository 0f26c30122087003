"""IP allow and deny rules: global (control plane, cached on every host), per tenant, per node.

Semantics, the same at every scope: a matching **deny** wins; if the scope has **allow** rules,
only addresses inside one of them are admitted; a scope without rules admits everyone. The
scopes stack: a request must pass the global rules (checked by :class:`IpRulesMiddleware`,
right after the blacklist and before any other middleware work), then its tenant's rules once
the tenant is known (console session or API token), then — for calls that name an integration
node — that node's rules.

Matching costs one set lookup per distinct prefix length present (at most 33 for IPv4, 129 for
IPv6), whatever the number of rules, so thousands of promoted bans stay cheap. Rules are held in
an in-process cache refreshed every :data:`CACHE_SECONDS`; the global copy is also written to
``<VAR_DIR>/security/global-ip-rules.json`` so a host restarted while the control plane is down
still enforces the last rules it saw.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.utils import timezone

from bindery.security.client_ip import client_ip, parse_ip

logger = logging.getLogger(__name__)

CACHE_SECONDS = 5.0
MAX_CIDR_LENGTH = 64  # longest sane text: a full IPv6 address plus "/128"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class IpRuleError(ValueError):
    """A rule was refused (bad CIDR, too many rules ...); the message says why to a person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_network(text: str) -> Network:
    """Return the network a rule names: an address (as /32 or /128) or a CIDR without host bits.

    Hostile input gets a clear :class:`IpRuleError`: oversized text, control or non-ASCII
    characters, zone ids (``fe80::1%eth0``), a prefix out of range, host bits set.
    """
    if not isinstance(text, str):
        raise IpRuleError("invalid_cidr", "an IP range must be text such as 192.0.2.0/24")
    value = text.strip()
    if not value:
        raise IpRuleError("invalid_cidr", "an IP range is required, e.g. 192.0.2.0/24 or 2001:db8::/48")
    if len(value) > MAX_CIDR_LENGTH:
        raise IpRuleError("invalid_cidr", f"an IP range is at most {MAX_CIDR_LENGTH} characters")
    if not value.isascii() or not value.isprintable() or "%" in value or " " in value:
        raise IpRuleError("invalid_cidr", f"{value!r} is not an IP address or CIDR range")
    _address, slash, prefix = value.partition("/")
    if slash and not (prefix.isdigit() and len(prefix) <= 3):
        raise IpRuleError("invalid_cidr", f"{value!r}: the prefix length after / must be a number")
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise IpRuleError("invalid_cidr", f"{value!r} is not an IP address or CIDR range ({exc})") from None
        raise IpRuleError("invalid_cidr", f"{value} has host bits set; did you mean {loose}?") from None
    if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped is not None and net.prefixlen >= 96:
        # ::ffff:192.0.2.0/120 is an IPv4 range in disguise; client IPs are normalized to IPv4.
        v4 = ipaddress.ip_network(f"{net.network_address.ipv4_mapped}/{net.prefixlen - 96}")
        return v4
    return net


def normalize_network(text: str) -> str:
    return str(parse_network(text))


@dataclass
class NetworkSet:
    """Networks grouped by (version, prefix length): a lookup masks the address once per group."""

    groups: dict[tuple[int, int], set[int]] = field(default_factory=dict)

    def add(self, net: Network) -> None:
        self.groups.setdefault((net.version, net.prefixlen), set()).add(int(net.network_address))

    def __bool__(self) -> bool:
        return bool(self.groups)

    def contains(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        value, version = int(ip), ip.version
        bits = 32 if version == 4 else 128
        for (v, prefix), members in self.groups.items():
            if v != version:
                continue
            mask = ((1 << prefix) - 1) << (bits - prefix) if prefix else 0
            if value & mask in members:
                return True
        return False


@dataclass
class RuleSet:
    """The compiled rules of one scope."""

    allow: NetworkSet = field(default_factory=NetworkSet)
    deny: NetworkSet = field(default_factory=NetworkSet)

    @classmethod
    def build(cls, rules: Iterable[tuple[str, str]]) -> RuleSet:
        built = cls()
        for action, network in rules:
            try:
                net = ipaddress.ip_network(network, strict=False)
            except ValueError:  # stored rules are normalized; a hand-edited row must not break every request
                logger.warning("ignoring malformed IP rule", extra={"event": "security.ip_rule_malformed"})
                continue
            (built.deny if action == "deny" else built.allow).add(net)
        return built

    def admits(self, ip: str) -> bool:
        """Deny wins; with allow rules present, only allowed addresses pass; no rules, everyone."""
        parsed = parse_ip(ip)
        if parsed is None:
            return not self.allow  # an unparseable peer cannot be in any allowed range
        if self.deny.contains(parsed):
            return False
        return not self.allow or self.allow.contains(parsed)


EMPTY = RuleSet()


# --- the global rules, cached per process and on disk ------------------------------------------


def _cache_file() -> Path:
    return Path(settings.BINDERY_VAR_DIR) / "security" / "global-ip-rules.json"


def active_global_rules() -> list[tuple[str, str]]:
    """Return (action, network) of every global rule in force, from the control database."""
    from bindery.security.models import GlobalIpRule

    now = timezone.now()
    return list(GlobalIpRule.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
                .order_by("id").values_list("action", "network"))


class GlobalRules:
    """This process's copy of the global rules, refreshed every few seconds (no query per request)."""

    _lock = threading.Lock()
    _rules: RuleSet = EMPTY
    _loaded_at = 0.0
    _ever_loaded = False

    @classmethod
    def current(cls) -> RuleSet:
        with cls._lock:
            if time.monotonic() - cls._loaded_at > CACHE_SECONDS:
                cls._refresh()
                cls._loaded_at = time.monotonic()
            return cls._rules

    @classmethod
    def _refresh(cls) -> None:
        try:
            rows = active_global_rules()
        except Exception:  # the control plane is down: keep what we have, or what the disk has
            logger.warning("global IP rules not refreshed", exc_info=True,
                           extra={"event": "security.ip_rules_unavailable"})
            if not cls._ever_loaded:
                cls._rules = RuleSet.build(_read_snapshot())
                cls._ever_loaded = True
            return
        cls._rules = RuleSet.build(rows)
        cls._ever_loaded = True
        _write_snapshot(rows)

    @classmethod
    def forget(cls) -> None:
        with cls._lock:
            cls._loaded_at = 0.0


def _read_snapshot() -> list[tuple[str, str]]:
    try:
        data = json.loads(_cache_file().read_text(encoding="utf-8"))
        return [(str(a), str(n)) for a, n in data["rules"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _write_snapshot(rows: list[tuple[str, str]]) -> None:
    path = _cache_file()
    body = json.dumps({"rules": rows}, separators=(",", ":"))
    try:
        if path.exists() and path.read_text(encoding="utf-8") == body:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        tmp.write_text(body, encoding="utf-8")
        tmp.replace(path)
    except OSError:
        logger.warning("global IP rules snapshot not written", exc_info=True,
                       extra={"event": "security.ip_rules_snapshot_failed"})


# --- tenant and node rules, cached per process -------------------------------------------------


class TenantRules:
    """Per-tenant compiled rules: the tenant's own (``None`` key) and each node's."""

    _lock = threading.Lock()
    _cache: dict[uuid.UUID, tuple[float, dict[uuid.UUID | None, RuleSet]]] = {}

    @classmethod
    def for_tenant(cls, tenant_id: uuid.UUID) -> dict[uuid.UUID | None, RuleSet]:
        now = time.monotonic()
        with cls._lock:
            cached = cls._cache.get(tenant_id)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        from bindery.security.models import IpRule

        by_node: dict[uuid.UUID | None, list[tuple[str, str]]] = {}
        for node_id, action, network in (IpRule.objects.for_tenant(tenant_id)
                                         .values_list("node_id", "action", "network")):
            by_node.setdefault(node_id, []).append((action, network))
        compiled = {node_id: RuleSet.build(rows) for node_id, rows in by_node.items()}
        with cls._lock:
            cls._cache[tenant_id] = (now, compiled)
        return compiled

    @classmethod
    def forget(cls, tenant_id: uuid.UUID | None = None) -> None:
        with cls._lock:
            if tenant_id is None:
                cls._cache.clear()
            else:
                cls._cache.pop(tenant_id, None)


def tenant_admits(tenant_id: uuid.UUID, ip: str) -> bool:
    """Return whether the tenant's own rules (not its nodes') let ``ip`` use its console and API."""
    return TenantRules.for_tenant(tenant_id).get(None, EMPTY).admits(ip)


def node_admits(tenant_id: uuid.UUID, node_id: uuid.UUID, ip: str) -> bool:
    """Return whether ``ip`` may call in as (or for) this node: the tenant's rules, then the node's.

    The hook for inbound calls that authenticate as a node (legacy ERP credentials with an
    allow-listed source, the developer endpoints); global rules were checked by the middleware.
    """
    rules = TenantRules.for_tenant(tenant_id)
    return rules.get(None, EMPTY).admits(ip) and rules.get(node_id, EMPTY).admits(ip)


def record_refusal(ip: str, *, scope: str, tenant_id: uuid.UUID | None = None, path: str = "",
                   node_id: uuid.UUID | None = None) -> None:
    """Write the ``ip_refused`` event; refusals by global rules are not written (see middleware)."""
    from bindery.security.models import SecurityEvent, SecurityEventKind

    detail: dict[str, Any] = {"scope": scope, "path": path[:200]}
    if node_id is not None:
        detail["node_id"] = str(node_id)
    SecurityEvent.objects.create(kind=SecurityEventKind.IP_REFUSED, ip=ip[:64], tenant_id=tenant_id, detail=detail)


def note_tenant_refusal(request: HttpRequest, tenant_id: uuid.UUID) -> None:
    """Write an ``ip_refused`` event for a tenant's rule, at most once a minute per address and tenant."""
    ip = client_ip(request)
    if _first_refusal_this_minute(f"{tenant_id}|{ip}"):
        record_refusal(ip, scope="tenant", tenant_id=tenant_id, path=request.path)


def refuse_for_tenant(request: HttpRequest, tenant_id: uuid.UUID) -> HttpResponse | None:
    """Return a 403 page if the tenant's rules refuse this request's address, else None."""
    if tenant_admits(tenant_id, client_ip(request)):
        return None
    note_tenant_refusal(request, tenant_id)
    return HttpResponseForbidden("This workspace does not accept requests from your address.",
                                 content_type="text/plain; charset=utf-8")


def refused_response() -> JsonResponse:
    return JsonResponse({"code": "ip_not_allowed", "message": "requests from your address are not allowed"},
                        status=403)


EVENT_EVERY_SECONDS = 60.0
_last_event: dict[str, float] = {}
_last_event_lock = threading.Lock()


def _first_refusal_this_minute(ip: str) -> bool:
    """At most one ``ip_refused`` event per address and minute per process: refusals cost no write."""
    now = time.monotonic()
    with _last_event_lock:
        if now - _last_event.get(ip, -EVENT_EVERY_SECONDS) < EVENT_EVERY_SECONDS:
            return False
        if len(_last_event) > 10_000:
            _last_event.clear()
        _last_event[ip] = now
        return True


class IpRulesMiddleware:
    """Second middleware, right after the blacklist: global deny/allow rules, no query per request.

    A refused address is written as a security event at most once a minute (per process), so a
    denied range hammering the host does not turn every refused request into a database write.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        ip = client_ip(request)
        if not GlobalRules.current().admits(ip):
            if _first_refusal_this_minute(ip):
                try:
                    record_refusal(ip, scope="global", path=request.path)
                except Exception:  # the refusal stands even if the event cannot be written
                    logger.warning("ip_refused event not written", exc_info=True,
                                   extra={"event": "security.event_unwritten"})
            return refused_response()
        return self.get_response(request)
