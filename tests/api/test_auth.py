"""API authentication and the error shape, through the real URL configuration."""

from __future__ import annotations

import datetime as dt

import pytest

from bindery.control.models import LocalTenant
from bindery.security.actions import do_create_api_token, do_revoke_api_token
from tests.conftest import HttpsClient

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def token(tenant: LocalTenant) -> str:
    _, plaintext = do_create_api_token(tenant, "erp", ["catalog:read"], actor="test")
    return plaintext


def test_bearer_and_token_header_both_authenticate(client: HttpsClient, token: str) -> None:
    """`Authorization: Bearer` and a `token` header are both accepted and name the token's tenant."""
    for headers in ({"Authorization": f"Bearer {token}"}, {"token": token}):
        response = client.get("/api/v1/me", headers=headers)
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["tenant"] == "acme"
        assert body["scopes"] == ["catalog:read"]
        assert body["token_prefix"].startswith("bnd_")
        assert token not in response.content.decode()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer bnd_nothing_real"},
        {"token": "x" * 100_000},
        {"token": "bnd_\x00\x01"},
    ],
)
def test_missing_or_bad_tokens_get_401(client: HttpsClient, headers: dict[str, str]) -> None:
    """No token, a malformed one, Basic auth or an oversized header: 401 with the error shape."""
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_token_in_query_string_is_ignored(client: HttpsClient, token: str) -> None:
    """A token in the URL is not accepted (URLs end up in logs and histories)."""
    assert client.get(f"/api/v1/me?token={token}").status_code == 401


def test_revoked_token_stops_working(client: HttpsClient, tenant: LocalTenant) -> None:
    """A revoked token is refused at once."""
    row, plaintext = do_create_api_token(tenant, "old", ["catalog:read"], actor="test")
    assert client.get("/api/v1/me", headers={"token": plaintext}).status_code == 200
    do_revoke_api_token(row, actor="test")
    assert client.get("/api/v1/me", headers={"token": plaintext}).status_code == 401


def test_last_use_is_recorded(client: HttpsClient, tenant: LocalTenant) -> None:
    """Using a token records when and from where it was last used."""
    row, plaintext = do_create_api_token(tenant, "erp", ["catalog:read"], actor="test")
    client.get("/api/v1/me", headers={"token": plaintext}, REMOTE_ADDR="203.0.113.9")
    row.refresh_from_db()
    assert row.last_used_ip == "203.0.113.9"
    assert row.last_used_at is not None
    assert row.last_used_at > dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)


def test_openapi_document_and_docs_page(client: HttpsClient) -> None:
    """The OpenAPI document lists both token schemes; the docs page loads without inline scripts."""
    doc = client.get("/api/v1/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert {"BearerTokenAuth", "TokenHeaderAuth"} <= set(schemes)
    assert schemes["TokenHeaderAuth"] == {"type": "apiKey", "in": "header", "name": "token"}
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert b"<script>" not in page.content  # the strict CSP forbids inline scripts
