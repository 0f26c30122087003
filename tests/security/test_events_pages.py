"""Security events and IP rules through the API, the workspace's console page and /ops/ (issue 8 item 6)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from bindery.accounts.models import Role
from bindery.control.models import LocalTenant
from bindery.security.bruteforce import record_event, tenant_account
from bindery.security.events import event_filter, events_per_hour, hourly_chart
from bindery.security.models import IpRule, SecurityEvent
from tests.api.sales_api import make_token
from tests.conftest import HttpsClient
from tests.control.conftest import ops_client  # noqa: F401 (fixture)
from tests.web.console_data import signed_in

pytestmark = pytest.mark.django_db(databases="__all__")


def _events(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    now = timezone.now()
    record_event("sign_in_failed", ip="198.51.100.1", account=tenant_account("acme", "owner@acme.example"))
    record_event("sign_in_failed", ip="198.51.100.2", account=tenant_account("acme", "owner@acme.example"))
    record_event("ip_refused", ip="203.0.113.9", tenant_id=tenant.pk, scope="tenant")
    record_event("sign_in_failed", ip="198.51.100.1", account=tenant_account("globex", "ceo@globex.example"))
    record_event("banned", ip="192.0.2.1", scope="source")  # host-wide: operators only
    old = SecurityEvent.objects.create(kind="banned", ip="192.0.2.2",
                                       account=tenant_account("acme", "old@acme.example"))
    SecurityEvent.objects.filter(pk=old.pk).update(created_at=now - dt.timedelta(hours=3, minutes=1))


def test_events_per_hour_fill_empty_hours_and_count_each_hour(tenant: LocalTenant,
                                                              other_tenant: LocalTenant) -> None:
    _events(tenant, other_tenant)
    buckets = events_per_hour(event_filter(hours=6))
    assert len(buckets) == 6
    assert buckets[-1][1] == 5
    assert buckets[-4][1] == 1 or buckets[-5][1] == 1  # the event 3 h ago, whatever the minute now
    assert sum(n for _, n in buckets) == 6
    chart = hourly_chart(buckets)
    assert chart["peak"] == 5
    assert chart["total"] == 6
    assert len(chart["bars"]) == 6


def test_the_api_lists_only_the_workspace_events_with_filters(client: HttpsClient, tenant: LocalTenant,
                                                              other_tenant: LocalTenant) -> None:
    _events(tenant, other_tenant)
    headers = make_token(tenant, "security:read")
    items = client.get("/api/v1/security/events", headers=headers).json()["items"]
    assert sorted(e["ip"] for e in items) == ["192.0.2.2", "198.51.100.1", "198.51.100.2", "203.0.113.9"]
    assert [e["ip"] for e in client.get("/api/v1/security/events?ip=198.51.100.1", headers=headers)
            .json()["items"]] == ["198.51.100.1"]
    assert len(client.get("/api/v1/security/events?kind=ip_refused", headers=headers).json()["items"]) == 1
    assert len(client.get("/api/v1/security/events?account=OWNER@acme.example", headers=headers).json()["items"]) == 2
    assert len(client.get("/api/v1/security/events?hours=2", headers=headers).json()["items"]) == 3
    per_hour = client.get("/api/v1/security/events/per-hour?hours=4", headers=headers).json()
    assert per_hour["total"] == 4
    assert len(per_hour["hours"]) == 4
    bad = client.get("/api/v1/security/events?kind=nope", headers=headers)
    assert bad.status_code == 400
    assert bad.json()["field"] == "kind"
    assert client.get("/api/v1/security/events?ip=1.2.3.999", headers=headers).status_code == 400
    assert client.get("/api/v1/security/events?hours=100000", headers=headers).status_code == 422
    assert client.get("/api/v1/security/events", headers=make_token(tenant, "catalog:read")).status_code == 403


def test_the_api_manages_ip_rules_with_clear_errors(client: HttpsClient, tenant: LocalTenant,
                                                    other_tenant: LocalTenant) -> None:
    from bindery.integration.actions import do_create_node

    headers = make_token(tenant, "security:write")
    other = make_token(other_tenant, "security:write")
    foreign_node = do_create_node(other_tenant, "erp", "hub", actor="test")
    created = client.post("/api/v1/security/ip-rules", {"action": "deny", "network": "2001:DB8::/32"},
                          content_type="application/json", headers=headers)
    assert created.status_code == 201, created.content
    assert created.json()["network"] == "2001:db8::/32"
    for body, status, field in (({"action": "deny", "network": "10.0.0.1/8"}, 400, "network"),
                                ({"action": "deny", "network": "x" * 5000}, 422, "network"),
                                ({"action": "deny", "network": "300.1.1.1"}, 400, "network"),
                                ({"action": "block", "network": "10.0.0.0/8"}, 422, "action"),
                                ({"action": "deny", "network": "2001:db8::/32"}, 409, None),
                                ({"action": "deny", "network": "10.0.0.0/8", "node_id": str(foreign_node.pk)},
                                 404, "node_id")):
        answer = client.post("/api/v1/security/ip-rules", body, content_type="application/json", headers=headers)
        assert answer.status_code == status, (body, answer.content)
        assert answer.json().get("field") == field, answer.json()
    listed = client.get("/api/v1/security/ip-rules", headers=headers).json()["items"]
    assert [r["network"] for r in listed] == ["2001:db8::/32"]
    assert client.get("/api/v1/security/ip-rules", headers=other).json()["items"] == []
    rule_id = listed[0]["id"]
    assert client.delete(f"/api/v1/security/ip-rules/{rule_id}", headers=other).status_code == 404
    assert client.delete(f"/api/v1/security/ip-rules/{rule_id}", headers=headers).status_code == 204
    assert IpRule.objects.for_tenant(tenant).count() == 0
    read_only = make_token(tenant, "security:read")
    assert client.post("/api/v1/security/ip-rules", {"action": "deny", "network": "10.0.0.0/8"},
                       content_type="application/json", headers=read_only).status_code == 403


def test_the_console_page_shows_rules_events_and_chart(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    _events(tenant, other_tenant)
    owner = signed_in(tenant, Role.OWNER)
    page = owner.get("/settings/security/?kind=sign_in_failed")
    assert page.status_code == 200
    body = page.content.decode()
    assert "<svg" in body
    assert "198.51.100.2" in body
    assert "203.0.113.9" not in body  # filtered out by kind
    assert "ceo@globex" not in body  # another workspace's account
    added = owner.post("/settings/security/", {"action": "deny", "network": "203.0.113.0/24", "note": "scanner"})
    assert added.status_code == 302
    # An allow rule that leaves out the person's own address (127.0.0.1 here) is refused.
    locked = owner.post("/settings/security/", {"action": "allow", "network": "192.0.2.0/24"})
    assert locked.status_code == 400
    assert "would refuse your own address" in locked.content.decode()
    bad = owner.post("/settings/security/", {"action": "deny", "network": "not-a-range"})
    assert bad.status_code == 400
    assert "not an IP address or CIDR range" in bad.content.decode()
    assert list(IpRule.objects.for_tenant(tenant).values_list("network", flat=True)) == ["203.0.113.0/24"]
    rule = IpRule.objects.for_tenant(tenant).get()
    admin = signed_in(tenant, Role.ADMIN)
    assert admin.get("/settings/security/").status_code == 200  # admins read
    assert admin.post(f"/settings/security/rules/{rule.pk}/remove/").status_code == 403  # owners change
    assert signed_in(tenant, Role.VIEWER).get("/settings/security/").status_code == 403
    assert signed_in(other_tenant, Role.OWNER).post(f"/settings/security/rules/{rule.pk}/remove/").status_code == 404
    assert owner.post(f"/settings/security/rules/{rule.pk}/remove/").status_code == 302
    assert IpRule.objects.for_tenant(tenant).count() == 0


def test_the_ops_page_and_api_filter_every_tenant(ops_client: HttpsClient, tenant: LocalTenant,  # noqa: F811
                                                  other_tenant: LocalTenant, client: HttpsClient) -> None:
    _events(tenant, other_tenant)
    page = ops_client.get("/ops/security/events/?ip=198.51.100.1")
    assert page.status_code == 200
    body = page.content.decode()
    assert "<svg" in body
    assert tenant_account("globex", "ceo@globex.example") in body  # the account's pseudonym ...
    assert "ceo@globex" not in body  # ... never its address
    assert "198.51.100.2" not in body
    data = ops_client.get("/ops/api/security/events?tenant=acme&hours=24").json()
    assert {e["ip"] for e in data["events"]} == {"192.0.2.2", "198.51.100.1", "198.51.100.2", "203.0.113.9"}
    assert sum(h["count"] for h in data["per_hour"]) == 4
    assert ops_client.get("/ops/api/security/events?tenant=nobody").status_code == 400
    assert ops_client.get("/ops/security/events/?kind=no-such-kind").status_code == 400
    assert ops_client.get("/ops/security/events/?kind=%3Cscript%3E").status_code == 403  # the firewall
    assert client.get("/ops/api/security/events").status_code == 403
    assert client.get("/ops/security/events/").status_code == 302  # to the operators' sign-in
