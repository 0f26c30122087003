"""``bindery firewall watch``: the host's nftables table follows the blacklist, in a network namespace.

A ban, a lift and a promotion each re-render and re-apply ``table inet bindery``; nothing changed
means nothing applied (though the seconds left of every ban change all the time); a table someone
removed is put back; a broken policy leaves the applied table alone. Needs root, ``nft`` and
``ip netns`` like tests/security/test_firewall.py (CI runs as root and installs nftables).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bindery.cli import CommandFailed
from bindery.ops.firewall import Watcher, blacklist_state, table_present
from bindery.security.actions import do_promote_ban
from bindery.security.bruteforce import ban, lift
from bindery.security.models import BanScope, GlobalIpRule
from tests.privacy.test_privacy_cli import bindery
from tests.security.test_firewall import INBOUND, POLICY, Namespaces, netns  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db(databases="__all__")

BANNED = {k: INBOUND[k] for k in ("banned address", "open port, any peer")}  # 10.200.0.3 and 10.200.0.2 → :8080


def reachable(spaces: Namespaces) -> set[str]:
    return {k for k, v in spaces.probe(spaces.peer, BANNED).items() if v == "ok"}


def test_bans_lifts_and_promotions_reach_the_firewall(netns: Namespaces, tmp_path: Path,  # noqa: F811
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """Figures: 6 steps apply (first, ban, lift, promotion, table removed, policy edited); 3 change nothing."""
    netns.serve(netns.host, 8080)
    policy = tmp_path / "firewall.toml"
    policy.write_text(POLICY)
    watcher = Watcher(policy, nft=("ip", "netns", "exec", netns.host, "nft"))

    assert watcher.step() is True  # first look: applies
    assert table_present(nft=watcher.nft)
    assert reachable(netns) == set(BANNED)
    assert watcher.step() is False  # nothing changed

    entry = ban(BanScope.SOURCE, "10.200.0.3", reason="spraying")
    assert watcher.step() is True
    assert reachable(netns) == {"open port, any peer"}
    assert watcher.step() is False  # the ban's seconds left changed, the ban did not

    lift(entry, actor="test")
    assert watcher.step() is True
    assert reachable(netns) == set(BANNED)

    promoted = ban(BanScope.SOURCE, "10.200.0.3", reason="spraying again")
    assert watcher.step() is True
    do_promote_ban(promoted, actor="test")
    assert GlobalIpRule.objects.filter(network="10.200.0.3/32").exists()
    assert watcher.step() is True  # the promotion adds a global deny rule: a new state
    assert ("10.200.0.3/32", promoted.until) in blacklist_state()
    lift(promoted, actor="test")  # lifted here, still denied everywhere by the promoted rule
    watcher.step()
    assert reachable(netns) == {"open port, any peer"}

    netns.run("nft", "delete", "table", "inet", "bindery", ns=netns.host)  # someone removed our table
    assert watcher.step() is True
    assert reachable(netns) == {"open port, any peer"}

    policy.write_text(POLICY.replace("blacklist = true", "blacklist = false"))
    assert watcher.step() is True
    assert reachable(netns) == set(BANNED)

    applied = watcher.applies
    policy.write_text("[inbound\n")  # broken: logged, the applied table stays
    with caplog.at_level(logging.ERROR, logger="bindery.ops.firewall"):
        watcher.run(interval=0, steps=2, sleep=lambda _: None)
    assert "not valid TOML" in caplog.text
    assert watcher.applies == applied
    assert table_present(nft=watcher.nft)
    assert reachable(netns) == set(BANNED)


def test_watch_runs_only_where_the_host_manages_its_firewall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without BINDERY_FIREWALL_MANAGE=true the command refuses to touch nftables."""
    monkeypatch.delenv("BINDERY_FIREWALL_MANAGE", raising=False)
    with pytest.raises(CommandFailed, match="BINDERY_FIREWALL_MANAGE"):
        bindery("firewall", "watch", "--once", "--policy", str(tmp_path / "none.toml"))
    monkeypatch.setenv("BINDERY_FIREWALL_MANAGE", "true")
    with pytest.raises(CommandFailed, match="no firewall policy"):
        bindery("firewall", "watch", "--once", "--policy", str(tmp_path / "none.toml"))
