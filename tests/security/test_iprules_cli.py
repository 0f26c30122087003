"""``bindery iprules``, ``bindery blacklist promote`` and ``bindery firewall`` through the real parser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bindery.cli import CommandFailed
from bindery.control.models import LocalTenant
from bindery.integration.actions import do_create_node
from bindery.security.models import GlobalIpRule, IpRule
from tests.privacy.test_privacy_cli import bindery

pytestmark = pytest.mark.django_db(databases="__all__")


def test_global_tenant_and_node_rules(capsys: pytest.CaptureFixture[str], tenant: LocalTenant) -> None:
    do_create_node(tenant, "erp", "hub", actor="test")
    assert bindery("iprules", "add", "deny", "203.0.113.0/24", "--note", "scanners") == 0
    assert bindery("iprules", "add", "allow", "192.0.2.0/24", "--tenant", "acme") == 0
    assert bindery("iprules", "add", "allow", "198.51.100.7", "--tenant", "acme", "--node", "erp") == 0
    capsys.readouterr()
    assert bindery("iprules", "list") == 0
    assert "203.0.113.0/24" in capsys.readouterr().out
    assert bindery("iprules", "list", "--tenant", "acme") == 0
    out = capsys.readouterr().out
    assert "192.0.2.0/24" in out
    assert "node erp" in out
    assert bindery("iprules", "remove", "198.51.100.7", "--tenant", "acme", "--node", "erp") == 0
    assert bindery("iprules", "remove", "203.0.113.0/24") == 0
    assert GlobalIpRule.objects.count() == 0
    assert IpRule.objects.for_tenant(tenant).count() == 1


def test_bad_arguments_fail_cleanly(tenant: LocalTenant) -> None:
    with pytest.raises(CommandFailed, match="host bits set"):
        bindery("iprules", "add", "deny", "10.0.0.1/8")
    with pytest.raises(CommandFailed, match="at most 64 characters"):
        bindery("iprules", "add", "deny", "1" * 100_000)
    with pytest.raises(CommandFailed, match="no tenant"):
        bindery("iprules", "add", "deny", "10.0.0.0/8", "--tenant", "nobody")
    with pytest.raises(CommandFailed, match="--node needs --tenant"):
        bindery("iprules", "add", "deny", "10.0.0.0/8", "--node", "erp")
    with pytest.raises(CommandFailed, match="no node named"):
        bindery("iprules", "add", "deny", "10.0.0.0/8", "--tenant", "acme", "--node", "nope")
    with pytest.raises(CommandFailed, match="no such rule"):
        bindery("iprules", "remove", "10.0.0.0/8")
    with pytest.raises(CommandFailed, match="no active ban"):
        bindery("blacklist", "promote", "198.51.100.1")


def test_promote_then_render(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert bindery("blacklist", "add", "2001:db8:5::1") == 0
    assert bindery("blacklist", "promote", "2001:db8:5::77") == 0
    assert "every host refuses 2001:db8:5::/64" in capsys.readouterr().out
    policy = tmp_path / "firewall.toml"
    assert bindery("firewall", "example") == 0
    policy.write_text(capsys.readouterr().out)
    assert bindery("firewall", "render", "--policy", str(policy)) == 0
    ruleset = json.loads(capsys.readouterr().out)
    banned6 = next(c["add"]["set"] for c in ruleset["nftables"]
                   if c.get("add", {}).get("set", {}).get("name") == "banned6")
    assert banned6["elem"][0]["elem"]["val"] == {"prefix": {"addr": "2001:db8:5::", "len": 64}}
    with pytest.raises(CommandFailed, match="no firewall policy"):
        bindery("firewall", "render", "--policy", str(tmp_path / "missing.toml"))
    policy.write_text("[inbound]\nallow = [{ ports = [70000], from = [\"::/0\"] }]\n")
    with pytest.raises(CommandFailed, match=r"inbound.allow\[0\].ports: port 70000"):
        bindery("firewall", "check", "--policy", str(policy))


def test_security_events_filters_and_counts_per_hour(capsys: pytest.CaptureFixture[str], tenant: LocalTenant) -> None:
    from bindery.security.bruteforce import record_event, tenant_account

    record_event("sign_in_failed", ip="198.51.100.1", account=tenant_account("acme", "owner@acme.example"))
    record_event("sign_in_failed", ip="198.51.100.2", account=tenant_account("globex", "ceo@globex.example"))
    assert bindery("security", "events", "--tenant", "acme") == 0
    out = capsys.readouterr().out
    assert "198.51.100.1" in out
    assert "198.51.100.2" not in out
    assert bindery("security", "events", "--account", "globex:CEO@globex.example", "--per-hour", "--hours", "3") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[-1].split()[2] == "1"
    with pytest.raises(CommandFailed, match="--kind: unknown kind"):
        bindery("security", "events", "--kind", "nope")
