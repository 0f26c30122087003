"""IP allow/deny rules: parsing hostile input, matching, and the three scopes at work (issue 8 item 1)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.conf import settings
from django.utils import timezone

from bindery.accounts.models import User
from bindery.control.models import LocalTenant
from bindery.integration.actions import do_create_node
from bindery.security import iprules
from bindery.security.actions import (
    MAX_TENANT_RULES,
    do_add_global_ip_rule,
    do_add_ip_rule,
    do_promote_ban,
    do_remove_global_ip_rule,
    do_remove_ip_rule,
)
from bindery.security.bruteforce import ban
from bindery.security.iprules import IpRuleError, RuleSet, node_admits, parse_network, tenant_admits
from bindery.security.models import BanScope, GlobalIpRule, IpRule, SecurityEvent
from tests.api.sales_api import make_token
from tests.conftest import PASSWORD, HttpsClient
from tests.security.conftest import no_queries

pytestmark = pytest.mark.django_db(databases="__all__")


# --- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "normalized"), [
    ("192.0.2.7", "192.0.2.7/32"), (" 192.0.2.0/24 ", "192.0.2.0/24"), ("2001:DB8::/48", "2001:db8::/48"),
    ("2001:db8::1", "2001:db8::1/128"), ("0.0.0.0/0", "0.0.0.0/0"), ("::ffff:192.0.2.0/120", "192.0.2.0/24"),
])
def test_networks_are_normalized(text: str, normalized: str) -> None:
    assert str(parse_network(text)) == normalized


@pytest.mark.parametrize(("text", "message"), [
    ("", "required"), ("10.0.0.5/8", "host bits set; did you mean 10.0.0.0/8"), ("999.1.1.1", "not an IP"),
    ("10.0.0.0/33", "not an IP"), ("10.0.0.0/-1", "must be a number"), ("10.0.0.0/ 8", "not an IP"),
    ("fe80::1%eth0", "not an IP"), ("1" * 5000, "at most 64 characters"),
    ("10.0.0.0/8\x00", "not an IP"), ("\u0661\u0660.0.0.0/8", "not an IP"), ("10.0.0.0/0008", "must be a number"),
    ("example.com", "not an IP"), ("10.0.0.0/8; drop table", "not an IP"),
])
def test_hostile_networks_get_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(IpRuleError, match=message):
        parse_network(text)


def test_deny_wins_and_allow_rules_admit_only_their_ranges() -> None:
    rules = RuleSet.build([("allow", "192.0.2.0/24"), ("allow", "2001:db8::/32"), ("deny", "192.0.2.128/25")])
    assert rules.admits("192.0.2.5")
    assert not rules.admits("192.0.2.200")  # inside the allow range, but denied: deny wins
    assert not rules.admits("198.51.100.1")  # outside every allow range
    assert rules.admits("2001:db8:1::1")
    assert not rules.admits("not an address")
    assert RuleSet().admits("203.0.113.9")  # no rules: everyone
    deny_only = RuleSet.build([("deny", "2001:db8:5::/48")])
    assert not deny_only.admits("2001:db8:5:ffff::1")
    assert deny_only.admits("2001:db8:6::1")
    assert deny_only.admits("::ffff:198.51.100.1")  # mapped IPv4 is plain IPv4


def test_matching_cost_does_not_grow_with_the_number_of_rules() -> None:
    """20,000 promoted /32 bans are one group: a check masks the address once per prefix length,
    whatever the number of rules (the cost is counted in set lookups here, timed in no test)."""
    rules = RuleSet.build([("deny", f"10.{i // 250}.{i % 250}.1/32") for i in range(20_000)])
    assert list(rules.deny.groups) == [(4, 32)]
    assert len(rules.deny.groups[(4, 32)]) == 20_000
    mixed = RuleSet.build([*(("deny", f"10.0.{i % 250}.0/24") for i in range(500)),
                           ("deny", "2001:db8::/32"), ("allow", "192.0.2.0/24")])
    assert sorted(mixed.deny.groups) == [(4, 24), (6, 32)]
    assert rules.admits("198.51.100.1")
    assert not rules.admits("10.3.7.1")
    assert not mixed.admits("10.0.249.77")
    assert mixed.admits("192.0.2.9")


# --- global rules: first middleware work ---------------------------------------------------------


def test_a_global_deny_refuses_before_any_query(client: HttpsClient) -> None:
    do_add_global_ip_rule("deny", "203.0.113.0/24", note="scanner farm", actor="test")
    client.get("/healthz", REMOTE_ADDR="198.51.100.1")  # loads the cache
    iprules._first_refusal_this_minute("203.0.113.50")  # this address's event already written this minute
    with no_queries():
        response = client.get("/login/", REMOTE_ADDR="203.0.113.50")
    assert response.status_code == 403
    assert response.json()["code"] == "ip_not_allowed"
    assert client.get("/login/", REMOTE_ADDR="198.51.100.1").status_code == 200


def test_global_refusals_are_events_at_most_once_a_minute(client: HttpsClient) -> None:
    do_add_global_ip_rule("deny", "2001:db8:bad::/48", actor="test")
    for _ in range(5):
        assert client.get("/login/", REMOTE_ADDR="2001:db8:bad::1").status_code == 403
    assert SecurityEvent.objects.filter(kind="ip_refused").count() == 1
    event = SecurityEvent.objects.get(kind="ip_refused")
    assert event.ip == "2001:db8:bad::1"
    assert event.detail["scope"] == "global"


def test_global_allow_rules_admit_only_their_ranges(client: HttpsClient) -> None:
    do_add_global_ip_rule("allow", "10.0.0.0/8", actor="test")
    assert client.get("/login/", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/login/", REMOTE_ADDR="198.51.100.1").status_code == 403


def test_removing_a_global_rule_and_expiry_take_effect() -> None:
    rule = do_add_global_ip_rule("deny", "198.51.100.0/24", actor="test")
    assert not iprules.GlobalRules.current().admits("198.51.100.9")
    do_remove_global_ip_rule(rule, actor="test")
    assert iprules.GlobalRules.current().admits("198.51.100.9")
    GlobalIpRule.objects.create(action="deny", network="198.51.100.0/24", created_by="test",
                                expires_at=timezone.now() - dt.timedelta(seconds=1))
    iprules.GlobalRules.forget()
    assert iprules.GlobalRules.current().admits("198.51.100.9")


def test_a_host_keeps_the_last_global_rules_when_the_control_plane_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """The snapshot on disk lets a restarted host enforce rules while the control database is down."""
    do_add_global_ip_rule("deny", "192.0.2.0/24", actor="test")
    assert not iprules.GlobalRules.current().admits("192.0.2.1")
    snapshot = settings.BINDERY_VAR_DIR / "security" / "global-ip-rules.json"
    assert ["deny", "192.0.2.0/24"] in json.loads(snapshot.read_text())["rules"]

    def down() -> list[tuple[str, str]]:
        raise ConnectionError("control plane down")

    monkeypatch.setattr(iprules, "active_global_rules", down)
    iprules.GlobalRules.forget()
    assert not iprules.GlobalRules.current().admits("192.0.2.1")  # the process's last copy
    monkeypatch.setattr(iprules.GlobalRules, "_ever_loaded", False)  # as after a restart
    monkeypatch.setattr(iprules.GlobalRules, "_rules", iprules.EMPTY)
    iprules.GlobalRules.forget()
    assert not iprules.GlobalRules.current().admits("192.0.2.1")  # from the snapshot on disk


def test_global_rule_limits_and_duplicates() -> None:
    do_add_global_ip_rule("deny", "192.0.2.0/24", actor="test")
    with pytest.raises(IpRuleError, match="already exists"):
        do_add_global_ip_rule("deny", "192.0.2.0/24", actor="test")
    with pytest.raises(IpRuleError, match="allow or deny"):
        do_add_global_ip_rule("block", "192.0.2.0/24", actor="test")
    with pytest.raises(IpRuleError, match="at most 200"):
        do_add_global_ip_rule("deny", "192.0.3.0/24", note="x" * 201, actor="test")


# --- tenant rules: console and API tokens ---------------------------------------------------------


def test_tenant_allow_rules_admit_only_their_ranges_for_the_console(client: HttpsClient, owner: User,
                                                                     tenant: LocalTenant,
                                                                     other_tenant: LocalTenant) -> None:
    do_add_ip_rule(tenant, "allow", "192.0.2.0/24", note="office", actor="test")
    # Sign-in from outside: refused before any password check.
    outside = client.post("/login/", {"workspace": "acme", "email": owner.email, "password": PASSWORD},
                          REMOTE_ADDR="198.51.100.1")
    assert outside.status_code == 400
    assert not client.session.get("_auth_user_id")
    inside = client.post("/login/", {"workspace": "acme", "email": owner.email, "password": PASSWORD},
                         REMOTE_ADDR="192.0.2.10")
    assert inside.status_code == 302
    assert client.get("/", REMOTE_ADDR="192.0.2.10").status_code == 200
    # The same session from outside the range: refused on every page.
    refused = client.get("/", REMOTE_ADDR="198.51.100.1")
    assert refused.status_code == 403
    assert b"does not accept requests from your address" in refused.content
    events = SecurityEvent.objects.filter(kind="ip_refused", tenant_id=tenant.pk)
    assert events.count() >= 1
    # Another tenant's rules are not this tenant's.
    assert tenant_admits(other_tenant.pk, "198.51.100.1")


def test_tenant_rules_apply_to_api_tokens(client: HttpsClient, tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    headers = make_token(tenant, "catalog:read")
    other = make_token(other_tenant, "catalog:read")
    do_add_ip_rule(tenant, "deny", "2001:db8:66::/48", actor="test")
    refused = client.get("/api/v1/products", headers=headers, REMOTE_ADDR="2001:db8:66::5")
    assert refused.status_code == 403
    assert refused.json()["code"] == "ip_not_allowed"
    assert client.get("/api/v1/products", headers=headers, REMOTE_ADDR="2001:db8:67::5").status_code == 200
    assert client.get("/api/v1/products", headers=other, REMOTE_ADDR="2001:db8:66::5").status_code == 200


def test_node_rules_stack_on_the_tenant_rules(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    node = do_create_node(tenant, "erp", "hub", actor="test")
    foreign = do_create_node(other_tenant, "erp", "hub", actor="test")
    do_add_ip_rule(tenant, "allow", "192.0.2.0/24", node=node, actor="test")
    do_add_ip_rule(tenant, "deny", "192.0.2.66/32", actor="test")
    assert node_admits(tenant.pk, node.pk, "192.0.2.1")
    assert not node_admits(tenant.pk, node.pk, "198.51.100.1")  # outside the node's allow list
    assert not node_admits(tenant.pk, node.pk, "192.0.2.66")  # the tenant's deny applies to its nodes
    assert tenant_admits(tenant.pk, "198.51.100.1")  # node rules do not restrict the console
    with pytest.raises(IpRuleError, match="no such node"):
        do_add_ip_rule(tenant, "allow", "192.0.2.0/24", node=foreign, actor="test")


def test_tenant_rule_actions_record_events_and_limits(tenant: LocalTenant, monkeypatch: pytest.MonkeyPatch) -> None:
    rule = do_add_ip_rule(tenant, "deny", "192.0.2.0/24", actor="test")
    with pytest.raises(IpRuleError, match="already exists"):
        do_add_ip_rule(tenant, "deny", "192.0.2.0/24", actor="test")
    do_remove_ip_rule(rule, actor="test")
    assert list(SecurityEvent.objects.filter(tenant_id=tenant.pk).order_by("id").values_list("kind", flat=True)) \
        == ["ip_rule_added", "ip_rule_removed"]
    assert IpRule.objects.for_tenant(tenant).count() == 0
    monkeypatch.setattr("bindery.security.actions.MAX_TENANT_RULES", 3)
    for i in range(3):
        do_add_ip_rule(tenant, "deny", f"192.0.{i}.0/24", actor="test")
    with pytest.raises(IpRuleError, match="at most 3"):
        do_add_ip_rule(tenant, "deny", "192.0.9.0/24", actor="test")
    assert MAX_TENANT_RULES == 500


# --- promotion -----------------------------------------------------------------------------------


def test_a_promoted_ban_is_refused_by_every_host_through_the_global_rules(client: HttpsClient) -> None:
    entry = ban(BanScope.SOURCE, "2001:db8:7:7::/64", reason="over 20 failed attempts")
    rule = do_promote_ban(entry, actor="test")
    assert (rule.action, rule.network, rule.origin, rule.expires_at) == ("deny", "2001:db8:7:7::/64",
                                                                         "promoted_ban", entry.until)
    # Another host has no local ban, only the control plane's rule: simulate by lifting the local ban.
    from bindery.security.bruteforce import lift

    lift(entry, actor="test")
    assert client.get("/login/", REMOTE_ADDR="2001:db8:7:7::99").status_code == 403
    assert SecurityEvent.objects.filter(kind="ban_promoted").count() == 1
    # Promoting again never shortens; account+source bans are not promotable.
    pair = ban(BanScope.ACCOUNT_SOURCE, "192.0.2.1", "acme:owner@acme.example", reason="x")
    with pytest.raises(IpRuleError, match="only bans of a whole source"):
        do_promote_ban(pair, actor="test")
