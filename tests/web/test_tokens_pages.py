"""Console pages for API tokens: owners and admins create (shown once), list and revoke."""

from __future__ import annotations

import re

import pytest

from bindery.accounts.actions import do_create_user
from bindery.accounts.models import Role, User
from bindery.control.models import LocalTenant
from bindery.security.access import authenticate_api_token
from bindery.security.actions import do_create_api_token
from bindery.security.models import ApiToken
from tests.conftest import PASSWORD, HttpsClient

pytestmark = pytest.mark.django_db(databases="__all__")
TOKEN_RE = re.compile(r"bnd_[a-z0-9]{12}_[A-Za-z0-9]+_[A-Za-z0-9]{6}")


def signed_in(tenant: LocalTenant, role: Role, email: str) -> HttpsClient:
    do_create_user(tenant, email, PASSWORD, role=role, actor="test")
    client = HttpsClient()
    client.post("/login/", {"workspace": tenant.slug, "email": email, "password": PASSWORD})
    return client


def test_owner_creates_a_token_shown_once(tenant: LocalTenant, owner: User, client: HttpsClient) -> None:
    """Creating a token shows it once; it works; the list never shows it again."""
    client.post("/login/", {"workspace": "acme", "email": owner.email, "password": PASSWORD})
    response = client.post("/settings/tokens/", {"name": "ERP", "scopes": ["catalog:read", "sales:write"],
                                                 "expires_days": "30"})
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    plaintext = TOKEN_RE.search(response.content.decode()).group(0)
    token = authenticate_api_token(plaintext)
    assert token is not None
    assert token.tenant_id == tenant.pk
    assert token.scopes == ["catalog:read", "sales:write"]
    listing = client.get("/settings/tokens/").content.decode()
    assert "ERP" in listing
    assert token.display_prefix in listing
    assert plaintext not in listing


def test_revoke_from_the_console(tenant: LocalTenant, owner: User, client: HttpsClient) -> None:
    """Revoking a token from its list stops it at once."""
    row, plaintext = do_create_api_token(tenant, "old", ["catalog:read"], actor="test")
    client.post("/login/", {"workspace": "acme", "email": owner.email, "password": PASSWORD})
    assert client.post(f"/settings/tokens/{row.pk}/revoke/").status_code == 302
    assert authenticate_api_token(plaintext) is None


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.VIEWER])
def test_only_owners_and_admins_manage_tokens(tenant: LocalTenant, role: Role) -> None:
    """Operators and viewers cannot see, create or revoke tokens (403)."""
    row, _ = do_create_api_token(tenant, "erp", ["catalog:read"], actor="test")
    client = signed_in(tenant, role, f"{role}@acme.example")
    assert client.get("/settings/tokens/").status_code == 403
    assert client.post("/settings/tokens/", {"name": "x", "scopes": ["catalog:read"]}).status_code == 403
    assert client.post(f"/settings/tokens/{row.pk}/revoke/").status_code == 403
    assert ApiToken.objects.for_tenant(tenant).get(pk=row.pk).revoked_at is None


def test_admin_manages_tokens(tenant: LocalTenant) -> None:
    """Admins may manage tokens too."""
    client = signed_in(tenant, Role.ADMIN, "admin@acme.example")
    assert client.get("/settings/tokens/").status_code == 200


def test_other_tenants_tokens_are_invisible(tenant: LocalTenant, other_tenant: LocalTenant, owner: User,
                                            client: HttpsClient) -> None:
    """Another tenant's token is absent from the list and its revoke URL is 404."""
    theirs, plaintext = do_create_api_token(other_tenant, "their-erp", ["*:*"], actor="test")
    client.post("/login/", {"workspace": "acme", "email": owner.email, "password": PASSWORD})
    assert "their-erp" not in client.get("/settings/tokens/").content.decode()
    assert client.post(f"/settings/tokens/{theirs.pk}/revoke/").status_code == 404
    assert client.post("/settings/tokens/not-a-uuid/revoke/").status_code == 404
    assert authenticate_api_token(plaintext) is not None


@pytest.mark.parametrize(
    "data",
    [{"name": "", "scopes": ["catalog:read"]}, {"name": "x" * 101, "scopes": ["catalog:read"]},
     {"name": "x", "scopes": []}, {"name": "x", "scopes": ["root:everything"]},
     {"name": "x", "scopes": ["catalog:read"], "expires_days": "-4"}, {"name": "x\x00", "scopes": ["catalog:read"]}],
    ids=["empty-name", "long-name", "no-scope", "unknown-scope", "negative-expiry", "nul-name"],
)
def test_bad_token_forms_create_nothing(tenant: LocalTenant, owner: User, client: HttpsClient,
                                        data: dict[str, object]) -> None:
    """Invalid forms answer 400 with field errors and create no token."""
    client.post("/login/", {"workspace": "acme", "email": owner.email, "password": PASSWORD})
    response = client.post("/settings/tokens/", data)
    assert response.status_code == 400
    assert not ApiToken.objects.for_tenant(tenant).exists()


def test_owner_creates_a_node_token_that_opens_only_that_nodes_connector_urls(
        tenant: LocalTenant, other_tenant: LocalTenant, owner: User, client: HttpsClient) -> None:
    from bindery.integration.actions import do_create_node

    node = do_create_node(tenant, "ERP API", "bindery_api", actor="test")
    do_create_node(tenant, "Hub", "hub", actor="test")
    theirs = do_create_node(other_tenant, "Their API", "bindery_api", actor="test")
    client.post("/login/", {"workspace": "acme", "email": owner.email, "password": PASSWORD})
    page = client.get("/settings/tokens/").content.decode()
    assert "ERP API" in page
    assert "Their API" not in page
    assert ">Hub<" not in page  # only developer-API and logistics nodes hold tokens
    response = client.post("/settings/tokens/", {"name": "ERP", "scopes": ["sales:read"], "node": str(node.pk)})
    token = authenticate_api_token(TOKEN_RE.search(response.content.decode()).group(0))
    assert token is not None
    assert token.node_id == node.pk
    refused = client.post("/settings/tokens/", {"name": "x", "scopes": ["sales:read"], "node": str(theirs.pk)})
    assert refused.status_code == 400
    assert ApiToken.objects.for_tenant(tenant).count() == 1
