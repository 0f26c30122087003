"""The host firewall: policy parsing, rendering, and the ruleset at work in network namespaces.

The namespace test builds two namespaces joined by a veth pair, applies the rendered ruleset in
one ("host") with ``bindery.ops.firewall.apply`` and proves with real sockets that allowed ports
and peers pass and everything else is dropped, inbound and outbound, and that banned addresses
and /64s are dropped. It needs root, ``nft`` and ``ip netns`` (CI runs as root and installs
nftables); elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bindery.ops.firewall import (
    PolicyError,
    apply,
    blacklisted_networks,
    example_policy,
    parse_policy,
    render,
    run_nft,
)
from bindery.security.actions import do_add_global_ip_rule, do_promote_ban
from bindery.security.bruteforce import ban
from bindery.security.models import BanScope

# --- parsing and rendering ------------------------------------------------------------------------


def test_the_example_policy_parses_and_renders_one_replacing_transaction() -> None:
    policy = parse_policy(example_policy(https_port=443, http_port=80))
    assert policy.outbound_restricted
    ruleset = render(policy, ["198.51.100.7", ("2001:db8:1:2::/64", 600)])
    commands = ruleset["nftables"]
    table = {"family": "inet", "name": "bindery"}
    # add + delete + add of our table only: atomic replacement, no flush of other tables.
    assert commands[1:4] == [{"add": {"table": table}}, {"delete": {"table": table}}, {"add": {"table": table}}]
    assert not any("flush" in c for c in commands)
    assert all(c["add"]["rule"]["table"] == "bindery" for c in commands if "rule" in c.get("add", {}))
    sets = {c["add"]["set"]["name"]: c["add"]["set"] for c in commands if "set" in c.get("add", {})}
    assert sets["banned4"]["elem"] == ["198.51.100.7"]
    assert sets["banned6"]["elem"] == [{"elem": {"val": {"prefix": {"addr": "2001:db8:1:2::", "len": 64}},
                                                 "timeout": 600}}]


def test_overlapping_bans_are_merged_and_last_as_long_as_the_longest() -> None:
    policy = parse_policy("[bans]\nextra = [\"203.0.113.0/25\"]\n")
    ruleset = render(policy, [("203.0.113.5", 60), ("203.0.113.128/25", 900), ("198.51.100.1", 30),
                              ("198.51.100.0/31", 90)])
    banned4 = next(c["add"]["set"] for c in ruleset["nftables"] if c.get("add", {}).get("set", {}).get("name")
                   == "banned4")
    assert banned4["elem"] == [
        {"elem": {"val": {"prefix": {"addr": "198.51.100.0", "len": 31}}, "timeout": 90}},
        {"prefix": {"addr": "203.0.113.0", "len": 24}},  # an extra (permanent) ban merged in: permanent
    ]


@pytest.mark.parametrize(("text", "message"), [
    ("[inbound\n", "not valid TOML"),
    ("[firewall]\n", "unknown section 'firewall'"),
    ("[inbound]\nallow = [{ ports = [0], from = [\"0.0.0.0/0\"] }]\n", r"inbound.allow\[0\].ports: port 0"),
    ("[inbound]\nallow = [{ ports = [\"9-3\"], from = [\"0.0.0.0/0\"] }]\n", "low < high"),
    ("[inbound]\nallow = [{ ports = [\"22; rm -rf /\"], from = [\"0.0.0.0/0\"] }]\n", "neither a port"),
    ("[inbound]\nallow = [{ ports = [22], from = [\"10.0.0.1/8\"] }]\n", "host bits set"),
    ("[inbound]\nallow = [{ ports = [22], from = [\"a\" ] }]\n", r"inbound.allow\[0\].from: 'a' is not"),
    ("[inbound]\nallow = [{ ports = [22] }]\n", "from is required"),
    ("[inbound]\nallow = [{ from = [\"0.0.0.0/0\"] }]\n", "say which ports"),
    ("[inbound]\nallow = [{ ports = [22], from = [\"0.0.0.0/0\"], protocol = \"icmp\" }]\n", "tcp or udp"),
    ("[inbound]\nallow = [{ ports = [22], from = [\"0.0.0.0/0\"], to = [] }]\n", "unknown key 'to'"),
    ("[outbound]\nmode = \"open\"\n", "allow-all or restrict"),
    ("[bans]\nblacklist = \"yes\"\n", "true or false"),
    ("[bans]\nextra = [\"" + "1" * 10_000 + "\"]\n", "at most 64 characters"),
    ("[inbound]\nallow = [" + "{ ports = [1], from = [\"::/0\"] }," * 501 + "]\n", "at most 500 entries"),
])
def test_a_wrong_policy_says_where(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(text)


@pytest.mark.django_db(databases="__all__")
def test_the_render_includes_local_bans_and_promoted_and_global_denies() -> None:
    local = ban(BanScope.SOURCE, "198.51.100.7", reason="spraying")
    other_host = ban(BanScope.SOURCE, "2001:db8:9:9::/64", reason="spraying")
    do_promote_ban(other_host, actor="test")
    do_add_global_ip_rule("deny", "203.0.113.0/24", actor="test")
    do_add_global_ip_rule("allow", "192.0.2.0/24", actor="test")  # allow rules are not firewall drops
    ban(BanScope.ACCOUNT_SOURCE, "192.0.2.99", "acme:a@b.example", reason="pair")  # not a whole-source ban
    banned = dict(blacklisted_networks())
    assert set(banned) == {"198.51.100.7", "2001:db8:9:9::/64", "203.0.113.0/24"}
    assert banned["203.0.113.0/24"] is None
    assert 0 < (banned["198.51.100.7"] or 0) <= (local.until - local.created_at).total_seconds()


# --- in network namespaces ------------------------------------------------------------------------


def _why_not_netns() -> str | None:
    if sys.platform != "linux":
        return "network namespaces are Linux-only"
    if os.geteuid() != 0:
        return "needs root (CI runs the suite as root) to create network namespaces and load nftables"
    for tool in ("nft", "ip"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (apt-get install {'nftables' if tool == 'nft' else 'iproute2'})"
    return None


SERVER = textwrap.dedent("""
    import socket, sys, threading
    def serve(sock):
        while True:
            conn, _ = sock.accept()
            conn.sendall(b"ok"); conn.close()
    for port in map(int, sys.argv[1:]):
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::", port)); s.listen(16)
        threading.Thread(target=serve, args=(s,), daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()
""")

CLIENT = textwrap.dedent("""
    import json, socket, sys, threading
    checks, results = json.loads(sys.argv[1]), {}
    def probe(key, src, dst, port):
        family = socket.AF_INET6 if ":" in dst else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM); s.settimeout(1.5)
        try:
            if src: s.bind((src, 0))
            s.connect((dst, port)); results[key] = s.recv(2).decode() or "closed"
        except socket.timeout: results[key] = "timeout"
        except OSError as exc: results[key] = type(exc).__name__
        finally: s.close()
    threads = [threading.Thread(target=probe, args=(k, *v)) for k, v in checks.items()]
    [t.start() for t in threads]; [t.join() for t in threads]
    print(json.dumps(results))
""")


class Namespaces:
    def __init__(self) -> None:
        tag = f"{os.getpid() % 100000}"
        self.host, self.peer = f"bfh{tag}", f"bfp{tag}"
        self.servers: list[subprocess.Popen[str]] = []

    def run(self, *argv: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        full = ["ip", "netns", "exec", ns, *argv] if ns else list(argv)
        return subprocess.run(full, capture_output=True, text=True, timeout=30, check=check)

    def setup(self) -> None:
        self.run("ip", "netns", "add", self.host)
        self.run("ip", "netns", "add", self.peer)
        self.run("ip", "-n", self.host, "link", "add", "vh", "type", "veth", "peer", "name", "vp", "netns", self.peer)
        for ns, dev, addrs in ((self.host, "vh", ["10.200.0.1/24"]),
                               (self.peer, "vp", ["10.200.0.2/24", "10.200.0.3/24", "10.200.0.4/24"])):
            for addr in addrs:
                self.run("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            last = "1" if ns == self.host else "2"
            for prefix in ("fd00:a::", "fd00:b::"):
                self.run("ip", "-n", ns, "addr", "add", f"{prefix}{last}/64", "dev", dev, "nodad")
            self.run("ip", "-n", ns, "link", "set", "lo", "up")
            self.run("ip", "-n", ns, "link", "set", dev, "up")

    def serve(self, ns: str, *ports: int) -> None:
        proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, *map(str, ports)],
                                stdout=subprocess.PIPE, text=True)
        self.servers.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"

    def probe(self, ns: str, checks: dict[str, tuple[str, str, int]]) -> dict[str, str]:
        done = self.run(sys.executable, "-c", CLIENT, json.dumps(checks), ns=ns)
        return dict(json.loads(done.stdout))

    def teardown(self) -> None:
        for proc in self.servers:
            proc.kill()
            proc.wait(timeout=10)
        for ns in (self.host, self.peer):
            self.run("ip", "netns", "del", ns, check=False)


@pytest.fixture
def netns() -> Iterator[Namespaces]:
    reason = _why_not_netns()
    if reason:
        pytest.skip(reason)
    spaces = Namespaces()
    try:
        spaces.setup()
    except subprocess.CalledProcessError as exc:
        spaces.teardown()
        pytest.skip(f"cannot create network namespaces here: {exc.stderr.strip()[:200]}")
    try:
        yield spaces
    finally:
        spaces.teardown()


POLICY = """
[inbound]
icmp = false
allow = [
  { protocol = "tcp", ports = [8080], from = ["0.0.0.0/0", "::/0"] },
  { protocol = "tcp", ports = [2222], from = ["10.200.0.2", "fd00:a::2"] },
]
[outbound]
mode = "restrict"
allow = [{ protocol = "tcp", ports = [7070], to = ["10.200.0.2", "fd00:a::2"] }]
[bans]
blacklist = true
"""

INBOUND = {  # from the peer namespace to the firewalled host: (source, destination, port)
    "open port, any peer": ("10.200.0.2", "10.200.0.1", 8080),
    "open port, any peer, IPv6": ("fd00:a::2", "fd00:a::1", 8080),
    "restricted port, allowed peer": ("10.200.0.2", "10.200.0.1", 2222),
    "restricted port, allowed peer, IPv6": ("fd00:a::2", "fd00:a::1", 2222),
    "restricted port, other peer": ("10.200.0.4", "10.200.0.1", 2222),
    "restricted port, other peer, IPv6": ("fd00:b::2", "fd00:b::1", 2222),
    "closed port": ("10.200.0.2", "10.200.0.1", 9090),
    "closed port, IPv6": ("fd00:a::2", "fd00:a::1", 9090),
    "banned address": ("10.200.0.3", "10.200.0.1", 8080),
    "banned /64": ("fd00:b::2", "fd00:b::1", 8080),
}
OUTBOUND = {  # from the firewalled host to the peer
    "allowed destination": ("", "10.200.0.2", 7070),
    "allowed destination, IPv6": ("", "fd00:a::2", 7070),
    "other port": ("", "10.200.0.2", 7071),
    "other destination": ("", "10.200.0.4", 7070),
    "banned destination": ("", "10.200.0.3", 7070),
}
PASS_IN = {"open port, any peer", "open port, any peer, IPv6", "restricted port, allowed peer",
           "restricted port, allowed peer, IPv6"}
PASS_OUT = {"allowed destination", "allowed destination, IPv6"}


@pytest.mark.django_db(databases="__all__")
def test_the_applied_ruleset_passes_allowed_traffic_and_drops_the_rest(netns: Namespaces) -> None:
    """Figures: 4 of 10 inbound probes and 2 of 5 outbound probes pass; every other one is dropped."""
    netns.serve(netns.host, 8080, 2222, 9090)
    netns.serve(netns.peer, 7070, 7071)
    # Without Bindery's table everything connects: what follows is the firewall's doing.
    assert set(netns.probe(netns.peer, INBOUND).values()) == {"ok"}
    assert set(netns.probe(netns.host, OUTBOUND).values()) == {"ok"}

    ban(BanScope.SOURCE, "10.200.0.3", reason="spraying")  # a ban of this host
    do_promote_ban(ban(BanScope.SOURCE, "fd00:b::/64", reason="rotation in a /64"), actor="test")  # promoted
    nft = ("ip", "netns", "exec", netns.host, "nft")
    netns.run("nft", "add", "table", "inet", "someone_else", ns=netns.host)
    ruleset = render(parse_policy(POLICY), blacklisted_networks())
    run_nft(ruleset, check_only=True, nft=nft)
    assert "bindery" not in netns.run("nft", "list", "tables", ns=netns.host).stdout  # -c applied nothing
    started = time.monotonic()
    apply(ruleset, nft=nft)
    apply(ruleset, nft=nft)  # replacing our own table again is fine
    assert time.monotonic() - started < 10

    inbound = netns.probe(netns.peer, INBOUND)
    outbound = netns.probe(netns.host, OUTBOUND)
    assert {k for k, v in inbound.items() if v == "ok"} == PASS_IN, inbound
    assert {k for k, v in outbound.items() if v == "ok"} == PASS_OUT, outbound
    # Inbound drops are silent (the peer times out), not rejections that reveal the port.
    assert {inbound[k] for k in set(INBOUND) - PASS_IN} == {"timeout"}, inbound
    tables = netns.run("nft", "list", "tables", ns=netns.host).stdout
    assert "table inet someone_else" in tables
    assert tables.count("table inet bindery") == 1

    # A new render without the bans replaces the table: the banned peers get through again.
    apply(render(parse_policy(POLICY.replace("blacklist = true", "blacklist = false")), []), nft=nft)
    again = netns.probe(netns.peer, {k: INBOUND[k] for k in ("banned address", "banned /64")})
    assert set(again.values()) == {"ok"}, again


def test_check_reports_what_nft_refuses(netns: Namespaces) -> None:
    """A ruleset nft refuses is reported with nft's message and nothing is applied."""
    from bindery.ops.firewall import NftError

    bad: dict[str, Any] = render(parse_policy(POLICY), [])
    bad["nftables"].append({"add": {"rule": {"family": "inet", "table": "bindery", "chain": "nowhere",
                                             "expr": [{"accept": None}]}}})
    nft = ("ip", "netns", "exec", netns.host, "nft")
    with pytest.raises(NftError):
        apply(bad, nft=nft)
    assert "bindery" not in netns.run("nft", "list", "tables", ns=netns.host).stdout
