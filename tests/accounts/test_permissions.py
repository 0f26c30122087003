"""The roles matrix, walked: every console page with every role, and the members API."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import URLPattern, reverse

from bindery.accounts.actions import do_change_role, do_create_operator, do_create_user
from bindery.accounts.links import do_invite
from bindery.accounts.models import AccountEvent, Role, User
from bindery.accounts.permissions import Access, Area, grantable_scopes, has_permission, scope_within_role
from bindery.accounts.support import do_grant_support_access
from bindery.control.models import LocalTenant
from bindery.integration.actions import do_create_connector, do_create_node, do_create_procedure, do_enqueue_run
from bindery.security.actions import do_add_ip_rule, do_create_api_token
from bindery.web import urls as web_urls
from tests.conftest import PASSWORD, HttpsClient
from tests.web.console_data import make_catalog, make_sales, signed_in

pytestmark = pytest.mark.django_db(databases="__all__")

PUBLIC = {"login", "logout", "login_code", "password_reset", "password_reset_confirm", "invitation",
          "login_passkey_options", "login_passkey"}
ANY_SIGNED_IN = {"home", "password_change", "mfa", "confirm", "sessions", "passkey_options", "passkey_register",
                 "passkey_remove"}


def _kwargs(pattern: URLPattern, ids: dict[str, Any]) -> dict[str, Any]:
    return {name: ids[name] for name in pattern.pattern.converters}


@pytest.mark.parametrize("role", list(Role))
def test_every_console_page_follows_the_matrix(tenant: LocalTenant, role: Role) -> None:
    """GET needs read and POST needs write on the page's area; denied is 403/405, never a 5xx."""
    catalog, sales = make_catalog(tenant), make_sales(tenant)
    victim = do_create_user(tenant, "victim@acme.example", PASSWORD, role=Role.VIEWER, actor="test")
    do_create_user(tenant, "first-owner@acme.example", PASSWORD, role=Role.OWNER, actor="test")
    token, _ = do_create_api_token(tenant, "erp", ["catalog:read"], actor="test")
    node = do_create_node(tenant, "acme-node", "hub", actor="test")
    connector = do_create_connector(tenant, "acme-connector", node, "stock_copy",
                                    config={"source_warehouse": "a", "target_warehouse": "b"}, actor="test")
    procedure = do_create_procedure(tenant, "acme-procedure", [connector], actor="test")
    run = do_enqueue_run(connector=connector, actor="test")
    invitation = do_invite(tenant, "invited@acme.example", Role.VIEWER, actor="test")
    rule = do_add_ip_rule(tenant, "deny", "203.0.113.0/24", actor="test")
    grant = do_grant_support_access(do_create_operator("ops@bindery.example", PASSWORD, actor="test"), tenant,
                                    "ticket 42: look at runs", 1)
    ids = {"grant_id": grant.pk, "link_id": invitation.pk, "rule_id": rule.pk, "product_id": catalog.product.pk,
           "customer_id": sales.customer.pk,
           "order_id": sales.order.pk,
           "member_id": victim.pk, "token_id": token.pk, "connector_id": connector.pk,
           "procedure_id": procedure.pk, "run_id": run.pk, "node_id": node.pk}
    client = signed_in(tenant, role)
    patterns = [p for p in web_urls.urlpatterns if isinstance(p, URLPattern)]
    for pattern in patterns:
        name = pattern.name or ""
        if name in PUBLIC | ANY_SIGNED_IN:
            continue
        area = getattr(pattern.callback, "bindery_area", None)
        assert isinstance(area, Area), f"console page {name} declares no area of the roles matrix"
        url = reverse(f"web:{name}", kwargs=_kwargs(pattern, ids))
        got = client.get(url)
        # a page to create something is read only by whoever may write (console_view(write=True))
        read_access = getattr(pattern.callback, "bindery_read_access", Access.READ)
        if has_permission(role, area, read_access):
            assert got.status_code in (200, 405), (name, role, got.status_code)
        else:
            assert got.status_code in (403, 405), (name, role, got.status_code)
    for pattern in patterns:
        name = pattern.name or ""
        if name in PUBLIC | ANY_SIGNED_IN:
            continue
        area = pattern.callback.bindery_area  # type: ignore[attr-defined]
        url = reverse(f"web:{name}", kwargs=_kwargs(pattern, ids))
        posted = client.post(url, {})
        assert posted.status_code < 500, (name, role, posted.status_code)
        if has_permission(role, area, Access.WRITE):
            assert posted.status_code != 403, (name, role)
        else:
            assert posted.status_code in (403, 405), (name, role, posted.status_code)


def test_matrix_rows() -> None:
    """Owners hold everything; viewers only read catalog, sales and integration runs; the activity log is owners'."""
    assert all(has_permission(Role.OWNER, a, Access.READ) for a in Area)
    assert not has_permission(Role.VIEWER, Area.CATALOG, Access.WRITE)
    assert has_permission(Role.OPERATOR, Area.SALES, Access.WRITE)
    assert not has_permission(Role.ADMIN, Area.ACTIVITY, Access.READ)
    assert not has_permission("nonsense", Area.CATALOG, Access.READ)
    assert grantable_scopes(Role.VIEWER) == {"catalog:read", "sales:read", "integration:read"}
    assert not has_permission(Role.OPERATOR, Area.PRIVACY, Access.READ)
    assert scope_within_role("*:*", Role.OWNER)
    assert not scope_within_role("*:read", Role.OPERATOR)
    assert not scope_within_role("catalog:write", Role.VIEWER)


def test_owner_rules(tenant: LocalTenant, owner: User) -> None:
    """An admin cannot touch an owner or make one; the last owner cannot step down; changes are logged."""
    from bindery.accounts.actions import MemberActionError, MemberError, do_remove_user

    admin = do_create_user(tenant, "admin@acme.example", PASSWORD, role=Role.ADMIN, actor="test")
    with pytest.raises(MemberActionError) as err:
        do_change_role(owner, Role.VIEWER, actor=admin)
    assert err.value.code == MemberError.OWNERS_ONLY
    with pytest.raises(MemberActionError):
        do_change_role(admin, Role.OWNER, actor=admin)
    with pytest.raises(MemberActionError) as err:
        do_change_role(owner, Role.ADMIN, actor=owner)
    assert err.value.code == MemberError.LAST_OWNER
    with pytest.raises(MemberActionError):
        do_remove_user(owner, actor=owner)
    do_change_role(admin, Role.OWNER, actor=owner)
    do_change_role(owner, Role.VIEWER, actor=admin)
    kinds = list(AccountEvent.objects.for_tenant(tenant).values_list("kind", flat=True))
    assert kinds.count("member.role_changed") == 2


def test_removed_member_session_ends(tenant: LocalTenant, owner: User) -> None:
    """Removing a member ends their open session at once."""
    viewer_client = signed_in(tenant, Role.VIEWER)
    assert viewer_client.get("/catalog/products/").status_code == 200
    owner_client = HttpsClient()
    owner_client.post("/login/", {"workspace": "acme", "email": owner.email, "password": PASSWORD})
    viewer = User.objects.for_tenant(tenant).get(role=Role.VIEWER)
    assert owner_client.post(f"/settings/members/{viewer.pk}/remove/").status_code == 302
    assert viewer_client.get("/catalog/products/").status_code == 302


def test_members_api(client: HttpsClient, tenant: LocalTenant, owner: User, other_tenant: LocalTenant) -> None:
    """members:read lists, members:write changes roles but never an owner's; other tenants are 404."""
    viewer = do_create_user(tenant, "v@acme.example", PASSWORD, role=Role.VIEWER, actor="test")
    stranger = do_create_user(other_tenant, "s@globex.example", PASSWORD, role=Role.VIEWER, actor="test")
    _, read = do_create_api_token(tenant, "r", ["members:read"], actor="test")
    _, write = do_create_api_token(tenant, "w", ["members:write"], actor="test")
    _, catalog = do_create_api_token(tenant, "c", ["catalog:read"], actor="test")
    listed = client.get("/api/v1/members", headers={"Authorization": f"Bearer {read}"})
    assert listed.status_code == 200
    assert {m["email"] for m in listed.json()["items"]} == {owner.email, viewer.email}
    assert client.get("/api/v1/members", headers={"Authorization": f"Bearer {catalog}"}).status_code == 403
    w = {"Authorization": f"Bearer {write}"}
    patched = client.patch(f"/api/v1/members/{viewer.pk}", {"role": "operator"}, content_type="application/json",
                           headers=w)
    assert patched.status_code == 200
    assert patched.json()["role"] == "operator"
    assert client.patch(f"/api/v1/members/{owner.pk}", {"role": "viewer"}, content_type="application/json",
                        headers=w).status_code == 403
    assert client.patch(f"/api/v1/members/{viewer.pk}", {"role": "god"}, content_type="application/json",
                        headers=w).status_code == 422
    assert client.patch(f"/api/v1/members/{stranger.pk}", {"role": "admin"}, content_type="application/json",
                        headers=w).status_code == 404
    assert client.delete(f"/api/v1/members/{viewer.pk}", headers=w).status_code == 204
    assert client.get(f"/api/v1/members/{viewer.pk}", headers=w).status_code == 404


def test_token_scopes_limited_to_role(tenant: LocalTenant) -> None:
    """The token form refuses scopes beyond the creator's role (all API areas are an admin's today)."""
    client = signed_in(tenant, Role.ADMIN)
    response = client.post("/settings/tokens/", {"name": "x", "scopes": ["members:write"]})
    assert response.status_code == 200
    assert b"bnd_" in response.content
