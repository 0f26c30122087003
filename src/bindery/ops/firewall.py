"""The host firewall: a per-host policy rendered to an nftables ruleset (JSON) and applied atomically.

The policy is a TOML file (``<VAR_DIR>/firewall.toml``, or ``--policy FILE``; ``bindery firewall
example`` prints one): which ports are open to which source ranges, whether outbound traffic is
restricted and to which destinations, and which extra ranges are banned. The sources banned on
this host (the brute-force guard's blacklist) and the global deny rules of the control plane
(operators' rules and promoted bans) are added as two interval sets and dropped both ways.

Bindery owns exactly one table, ``table inet bindery``. The rendered ruleset adds it, deletes it
and adds it again with its chains, sets and rules — one ``nft -j -f`` transaction, so the
replacement is atomic and no other table (Docker's, the distribution's) is touched. ``check``
runs the same document through ``nft -c`` (nothing is applied); ``apply`` checks first.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import ipaddress
import json
import logging
import subprocess
import time
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bindery.security.iprules import IpRuleError, Network, parse_network

logger = logging.getLogger("bindery.ops.firewall")

TABLE = "bindery"
FAMILY = "inet"
MAX_ENTRIES = 500
NFT_TIMEOUT = 30
ND_TYPES = ["nd-neighbor-solicit", "nd-neighbor-advert", "nd-router-advert", "nd-router-solicit"]


class PolicyError(ValueError):
    """The policy file is wrong; the message names the place (``inbound.allow[2].ports``)."""


@dataclasses.dataclass(frozen=True)
class Opening:
    """Traffic allowed to (inbound) or from (outbound) this host: a protocol, ports and peer ranges."""

    protocol: str
    ports: tuple[int | tuple[int, int], ...]  # empty: every port
    networks: tuple[Network, ...]


@dataclasses.dataclass(frozen=True)
class Policy:
    inbound: tuple[Opening, ...]
    outbound_restricted: bool
    outbound: tuple[Opening, ...]
    icmp: bool = True
    blacklist: bool = True
    extra_bans: tuple[Network, ...] = ()


EXAMPLE = """\
# Bindery host firewall policy: `bindery firewall render|check|apply` (see docs/security.md).
# Inbound: everything not listed is dropped; loopback and replies to this host's own
# connections always pass.
[inbound]
icmp = true  # ping and ICMP errors (IPv6 neighbour discovery always passes)
allow = [
  {{ protocol = "tcp", ports = [{https}, {http}], from = ["0.0.0.0/0", "::/0"] }},
  {{ protocol = "tcp", ports = [22], from = ["192.0.2.0/24", "2001:db8::/48"] }},  # operators' SSH
]

# Outbound: "allow-all", or "restrict" to drop every new connection not listed.
[outbound]
mode = "restrict"
allow = [
  {{ protocol = "tcp", ports = [443, 80], to = ["0.0.0.0/0", "::/0"] }},   # connectors, package mirrors
  {{ protocol = "udp", ports = [53], to = ["192.0.2.53"] }},              # DNS resolver
  {{ protocol = "tcp", ports = [5432], to = ["192.0.2.10"] }},            # this host's PostgreSQL
]

# Dropped both ways: this host's banned sources and the control plane's global deny rules
# (promoted bans included) when blacklist = true, plus any extra ranges.
[bans]
blacklist = true
extra = []
"""


def example_policy(*, https_port: int = 8443, http_port: int = 8080) -> str:
    return EXAMPLE.format(https=https_port, http=http_port or https_port)


# --- parsing the policy --------------------------------------------------------------------------


def _ports(value: Any, where: str) -> tuple[int | tuple[int, int], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > 100:
        raise PolicyError(f"{where}: a list of at most 100 ports or \"low-high\" ranges")
    out: list[int | tuple[int, int]] = []
    for item in value:
        if isinstance(item, bool):
            raise PolicyError(f"{where}: {item!r} is not a port")
        if isinstance(item, int):
            if not 1 <= item <= 65535:
                raise PolicyError(f"{where}: port {item} is outside 1-65535")
            out.append(item)
            continue
        low, dash, high = str(item).partition("-")
        if not (dash and low.strip().isdigit() and high.strip().isdigit()):
            raise PolicyError(f"{where}: {str(item)[:30]!r} is neither a port nor a \"low-high\" range")
        a, b = int(low), int(high)
        if not 1 <= a < b <= 65535:
            raise PolicyError(f"{where}: range {a}-{b} must satisfy 1 <= low < high <= 65535")
        out.append((a, b))
    return tuple(out)


def _networks(value: Any, where: str) -> tuple[Network, ...]:
    if not isinstance(value, list) or not value or len(value) > 1000:
        raise PolicyError(f"{where}: a list of 1-1000 addresses or CIDR ranges")
    nets = []
    for item in value:
        try:
            nets.append(parse_network(str(item)))
        except IpRuleError as exc:
            raise PolicyError(f"{where}: {exc}") from None
    return tuple(nets)


def _openings(value: Any, where: str, peer: str) -> tuple[Opening, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_ENTRIES:
        raise PolicyError(f"{where}: a list of at most {MAX_ENTRIES} entries")
    out = []
    for i, entry in enumerate(value):
        here = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise PolicyError(f"{here}: an entry like {{ protocol = \"tcp\", ports = [443], {peer} = [...] }}")
        unknown = set(entry) - {"protocol", "ports", peer}
        if unknown:
            raise PolicyError(f"{here}: unknown key {sorted(unknown)[0]!r} (use protocol, ports, {peer})")
        protocol = str(entry.get("protocol", "tcp"))
        if protocol not in ("tcp", "udp"):
            raise PolicyError(f"{here}.protocol: tcp or udp, not {protocol[:20]!r}")
        if peer not in entry:
            raise PolicyError(f"{here}: {peer} is required (\"0.0.0.0/0\", \"::/0\" for everyone)")
        ports = _ports(entry.get("ports"), f"{here}.ports")
        if peer == "from" and not ports:
            raise PolicyError(f"{here}.ports: say which ports are open")
        out.append(Opening(protocol, ports, _networks(entry[peer], f"{here}.{peer}")))
    return tuple(out)


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise PolicyError(f"{key}: a table ([{key}])")
    return value


def parse_policy(text: str) -> Policy:
    """Return the policy a TOML text describes; raise :class:`PolicyError` saying where it is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"not valid TOML: {exc}") from None
    unknown = set(data) - {"inbound", "outbound", "bans"}
    if unknown:
        raise PolicyError(f"unknown section {sorted(unknown)[0]!r} (use inbound, outbound, bans)")
    inbound, outbound, bans = _table(data, "inbound"), _table(data, "outbound"), _table(data, "bans")
    mode = str(outbound.get("mode", "allow-all"))
    if mode not in ("allow-all", "restrict"):
        raise PolicyError(f"outbound.mode: allow-all or restrict, not {mode[:20]!r}")
    for where, table, keys in (("inbound", inbound, {"allow", "icmp"}), ("outbound", outbound, {"allow", "mode"}),
                               ("bans", bans, {"blacklist", "extra"})):
        extra_keys = set(table) - keys
        if extra_keys:
            raise PolicyError(f"{where}: unknown key {sorted(extra_keys)[0]!r}")
    for where, flag in (("inbound.icmp", inbound.get("icmp", True)), ("bans.blacklist", bans.get("blacklist", True))):
        if not isinstance(flag, bool):
            raise PolicyError(f"{where}: true or false")
    extra = bans.get("extra", [])
    return Policy(
        inbound=_openings(inbound.get("allow"), "inbound.allow", "from"),
        outbound_restricted=mode == "restrict",
        outbound=_openings(outbound.get("allow"), "outbound.allow", "to"),
        icmp=bool(inbound.get("icmp", True)),
        blacklist=bool(bans.get("blacklist", True)),
        extra_bans=_networks(extra, "bans.extra") if extra else (),
    )


def load_policy(path: Path) -> Policy:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"no firewall policy at {path}; start from `bindery firewall example > {path}`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read {path}: {exc}") from None
    return parse_policy(text)


# --- the banned sources --------------------------------------------------------------------------


def blacklist_state() -> list[tuple[str, dt.datetime | None]]:
    """Return (range, end or None for permanent) for every source refused on this host, sorted.

    This host's active source bans and the control plane's active global deny rules (operators'
    and promoted bans); those come from the control database or — when it is down — from this
    host's last snapshot of them (the one the request path falls back on too). Ends are absolute,
    so the same bans give the same state from one minute to the next (see :class:`Watcher`).
    """
    from django.db.models import Q
    from django.utils import timezone

    from bindery.security import iprules
    from bindery.security.models import Ban, BanScope, GlobalIpRule

    now = timezone.now()
    out: list[tuple[str, dt.datetime | None]] = list(
        Ban.objects.filter(scope=BanScope.SOURCE, until__gt=now).values_list("source", "until"))
    try:
        rules = GlobalIpRule.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), action="deny")
        out += list(rules.values_list("network", "expires_at"))
    except Exception:  # the control plane is down: the last snapshot this host saw (no expiry known)
        out += [(network, None) for action, network in iprules._read_snapshot() if action == "deny"]
    return sorted(set(out), key=lambda item: (item[0], item[1] is None, item[1] or now))


def _seconds_left(state: Iterable[tuple[str, dt.datetime | None]]) -> list[tuple[str, int | None]]:
    from django.utils import timezone

    now = timezone.now()
    return [(network, None if until is None else max(1, int((until - now).total_seconds())))
            for network, until in state]


def blacklisted_networks() -> list[tuple[str, int | None]]:
    """Return (range, seconds left or None for permanent) for every source refused on this host.

    The seconds left become nftables element timeouts, so a ban ends in the firewall when it
    ends in Bindery.
    """
    return _seconds_left(blacklist_state())


# --- rendering -----------------------------------------------------------------------------------


Banned = tuple[Network, int | None]


def _collapse_banned(items: Iterable[str | tuple[str | Network, int | None] | Network],
                     ) -> tuple[list[Banned], list[Banned]]:
    """Merge overlapping banned ranges; a merged range lasts as long as its longest member."""
    parsed: list[Banned] = []
    for item in items:
        value, seconds = item if isinstance(item, tuple) else (item, None)
        try:
            net = value if not isinstance(value, str) else ipaddress.ip_network(value, strict=False)
        except ValueError:
            continue
        parsed.append((net, seconds))
    result: tuple[list[Banned], list[Banned]] = ([], [])
    for version, out in ((4, result[0]), (6, result[1])):
        members = sorted(((n, t) for n, t in parsed if n.version == version),
                         key=lambda m: (int(m[0].network_address), m[0].prefixlen))
        merged = list(ipaddress.collapse_addresses([n for n, _ in members]))  # type: ignore[type-var]  # one version per pass
        i = 0
        for net in merged:  # sorted, disjoint; every member falls inside exactly one, in order
            longest: int | None = 0
            while i < len(members) and members[i][0].subnet_of(net):  # type: ignore[arg-type]
                seconds = members[i][1]
                longest = None if seconds is None or longest is None else max(longest, seconds)
                i += 1
            out.append((net, longest))
    return result


def _banned_element(net: Network, seconds: int | None) -> Any:
    element = _element(net)
    return element if seconds is None else {"elem": {"val": element, "timeout": seconds}}


def _collapse(networks: Iterable[str | Network]) -> tuple[list[ipaddress.IPv4Network], list[ipaddress.IPv6Network]]:
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    for item in networks:
        try:
            net = item if not isinstance(item, str) else ipaddress.ip_network(item, strict=False)
        except ValueError:
            continue
        if isinstance(net, ipaddress.IPv4Network):
            v4.append(net)
        else:
            v6.append(net)
    # Overlapping elements make an interval set fail to load: merge them first.
    return list(ipaddress.collapse_addresses(v4)), list(ipaddress.collapse_addresses(v6))


def _element(net: Network) -> Any:
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}


def _match(left: Any, right: Any, op: str = "==") -> dict[str, Any]:
    return {"match": {"op": op, "left": left, "right": right}}


def _payload(protocol: str, field: str) -> dict[str, Any]:
    return {"payload": {"protocol": protocol, "field": field}}


def _rule(chain: str, *expr: dict[str, Any]) -> dict[str, Any]:
    return {"add": {"rule": {"family": FAMILY, "table": TABLE, "chain": chain, "expr": list(expr)}}}


ACCEPT: dict[str, Any] = {"accept": None}
DROP: dict[str, Any] = {"drop": None}
COUNTER: dict[str, Any] = {"counter": None}


def _port_match(protocol: str, ports: Sequence[int | tuple[int, int]]) -> list[dict[str, Any]]:
    if not ports:
        return [_match({"meta": {"key": "l4proto"}}, protocol)]
    values = [p if isinstance(p, int) else {"range": list(p)} for p in ports]
    right: Any = values[0] if len(values) == 1 else {"set": values}
    return [_match(_payload(protocol, "dport"), right)]


def _opening_rules(chain: str, opening: Opening, direction: str) -> list[dict[str, Any]]:
    rules = []
    v4, v6 = _collapse(opening.networks)
    for family, nets in (("ip", v4), ("ip6", v6)):
        if not nets:
            continue
        if any(n.prefixlen == 0 for n in nets):  # everyone of this family: match the family only
            peer = _match({"meta": {"key": "nfproto"}}, "ipv4" if family == "ip" else "ipv6")
        else:
            elements = [_element(n) for n in nets]
            peer = _match(_payload(family, direction), elements[0] if len(elements) == 1 else {"set": elements})
        rules.append(_rule(chain, peer, *_port_match(opening.protocol, opening.ports), COUNTER, ACCEPT))
    return rules


def render(policy: Policy, banned: Iterable[str | tuple[str | Network, int | None]] = ()) -> dict[str, Any]:
    """Return the nftables JSON document that replaces ``table inet bindery`` with this policy.

    ``banned`` holds ranges, or (range, seconds left) pairs whose elements expire by themselves.
    """
    table = {"family": FAMILY, "name": TABLE}
    extra: list[tuple[str | Network, int | None]] = [(n, None) for n in policy.extra_bans]
    v4_bans, v6_bans = _collapse_banned([*banned, *extra] if policy.blacklist else extra)
    commands: list[dict[str, Any]] = [
        {"metainfo": {"json_schema_version": 1}},
        {"add": {"table": table}},  # so that the delete below never fails on a first apply
        {"delete": {"table": table}},
        {"add": {"table": table}},
    ]
    sets: tuple[tuple[str, str, list[Banned]], ...] = (("banned4", "ipv4_addr", v4_bans),
                                                        ("banned6", "ipv6_addr", v6_bans))
    for name, kind, nets in sets:
        body: dict[str, Any] = {"family": FAMILY, "table": TABLE, "name": name, "type": kind,
                                "flags": ["interval", "timeout"]}
        if nets:
            body["elem"] = [_banned_element(n, t) for n, t in nets]
        commands.append({"add": {"set": body}})
    for name, hook, policy_verdict in (("input", "input", "drop"),
                                       ("output", "output", "drop" if policy.outbound_restricted else "accept")):
        commands.append({"add": {"chain": {"family": FAMILY, "table": TABLE, "name": name, "type": "filter",
                                           "hook": hook, "prio": 0, "policy": policy_verdict}}})
    established = _match({"ct": {"key": "state"}}, ["established", "related"], op="in")
    invalid = _match({"ct": {"key": "state"}}, "invalid", op="in")
    nd = _match(_payload("icmpv6", "type"), {"set": ND_TYPES})
    for chain, iface, addr in (("input", "iifname", "saddr"), ("output", "oifname", "daddr")):
        commands += [
            _rule(chain, _match({"meta": {"key": iface}}, "lo"), ACCEPT),
            _rule(chain, _match(_payload("ip", addr), "@banned4"), COUNTER, DROP),
            _rule(chain, _match(_payload("ip6", addr), "@banned6"), COUNTER, DROP),
            _rule(chain, established, ACCEPT),
            _rule(chain, invalid, DROP),
            _rule(chain, nd, ACCEPT),
        ]
        if policy.icmp:
            commands += [_rule(chain, _match(_payload("icmp", "type"), "echo-request"), ACCEPT),
                         _rule(chain, _match(_payload("icmpv6", "type"), "echo-request"), ACCEPT)]
    for opening in policy.inbound:
        commands += _opening_rules("input", opening, "saddr")
    if policy.outbound_restricted:
        for opening in policy.outbound:
            commands += _opening_rules("output", opening, "daddr")
    return {"nftables": commands}


def summary(ruleset: dict[str, Any]) -> str:
    commands = ruleset["nftables"]
    rules = sum(1 for c in commands if "rule" in c.get("add", {}))
    banned = sum(len(c["add"]["set"].get("elem", [])) for c in commands if "set" in c.get("add", {}))
    return f"table {FAMILY} {TABLE}: {rules} rules, {banned} banned ranges"


# --- nft -----------------------------------------------------------------------------------------


class NftError(RuntimeError):
    """``nft`` refused the ruleset or could not run; the message carries its error output."""


def run_nft(ruleset: dict[str, Any], *, check_only: bool, nft: Sequence[str] = ("nft",)) -> None:
    """Feed the ruleset to ``nft -j -f -`` (with ``-c``: dry run); raise :class:`NftError` if refused.

    ``nft`` is the command prefix, so tests run it inside a network namespace
    (``ip netns exec NS nft``).
    """
    argv = [*nft, *(["-c"] if check_only else []), "-j", "-f", "-"]
    try:
        done = subprocess.run(argv, input=json.dumps(ruleset), capture_output=True, text=True,  # noqa: S603 (fixed argv, no shell)
                              timeout=NFT_TIMEOUT, check=False)
    except FileNotFoundError:
        raise NftError(f"{nft[0]} not found: install nftables (apt-get install nftables)") from None
    except subprocess.TimeoutExpired:
        raise NftError(f"nft did not finish within {NFT_TIMEOUT} s") from None
    if done.returncode != 0:
        raise NftError((done.stderr or done.stdout or f"nft exited with {done.returncode}").strip()[:4000])


def apply(ruleset: dict[str, Any], *, nft: Sequence[str] = ("nft",)) -> None:
    """Check the ruleset, then apply it in one transaction (only ``table inet bindery`` changes)."""
    run_nft(ruleset, check_only=True, nft=nft)
    run_nft(ruleset, check_only=False, nft=nft)


def table_present(*, nft: Sequence[str] = ("nft",)) -> bool:
    """Whether ``table inet bindery`` is loaded (someone may have flushed the ruleset)."""
    try:
        done = subprocess.run([*nft, "list", "table", FAMILY, TABLE], capture_output=True, text=True,  # noqa: S603 (fixed argv)
                              timeout=NFT_TIMEOUT, check=False)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


# --- keeping the firewall in step with the blacklist ----------------------------------------------


class Watcher:
    """Re-apply the firewall when the policy or the blacklist changes (``bindery firewall watch``).

    Each :meth:`step` reads the policy and the blacklist (one query on each database) and compares
    their fingerprint — the policy and every banned range with its absolute end, not the seconds
    left, which change every second — with the one last applied. Only a change (a ban, a lift, a
    promotion, an expiry, an edited policy) or a missing table (a reboot, someone's
    ``nft flush ruleset``) renders and applies a new ruleset. A failure leaves the table as it was
    and is retried at the next step.
    """

    def __init__(self, policy_path: Path, *, nft: Sequence[str] = ("nft",)) -> None:
        self.policy_path = policy_path
        self.nft = tuple(nft)
        self.applied: str | None = None
        self.applies = 0

    def fingerprint(self, policy: Policy, state: list[tuple[str, dt.datetime | None]]) -> str:
        text = json.dumps([repr(policy), [(n, None if u is None else u.isoformat()) for n, u in state]])
        return hashlib.sha256(text.encode()).hexdigest()

    def step(self) -> bool:
        """Apply if anything changed; return whether a ruleset was applied. Raises PolicyError/NftError."""
        policy = load_policy(self.policy_path)
        state = blacklist_state() if policy.blacklist else []
        fingerprint = self.fingerprint(policy, state)
        if fingerprint == self.applied and table_present(nft=self.nft):
            return False
        ruleset = render(policy, _seconds_left(state))
        apply(ruleset, nft=self.nft)
        self.applied = fingerprint
        self.applies += 1
        logger.info("host firewall applied", extra={"event": "security.firewall_applied",
                                                    "summary": summary(ruleset), "banned": len(state)})
        return True

    def run(self, *, interval: float, steps: int | None = None, sleep: Any = time.sleep) -> None:
        """Step every ``interval`` seconds (``steps`` times, or for ever); errors are logged, not fatal."""
        done = 0
        while steps is None or done < steps:
            try:
                self.step()
            except (PolicyError, NftError) as exc:
                logger.error("host firewall not applied: %s", exc, extra={"event": "security.firewall_failed"})
            except Exception:  # a database hiccup must not stop the watch: the table stays as it was
                logger.exception("host firewall watch step failed", extra={"event": "security.firewall_failed"})
            done += 1
            if steps is None or done < steps:
                sleep(interval)
