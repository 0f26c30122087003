"""Who may call a connector URL: node tokens, legacy credentials plus allowed addresses; every refusal is an event."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone

from bindery.control.models import LocalTenant
from bindery.integration.models import Run
from bindery.security.actions import do_create_api_token, do_revoke_api_token, do_rotate_api_token
from bindery.security.models import ApiToken, SecurityEvent, SecurityEventKind
from tests.api.connector_calls import (
    BASE,
    LEGACY_PASSWORD,
    api_node,
    basic,
    connector,
    legacy_node,
    node_token,
)
from tests.conftest import HttpsClient
from tests.sales.factories import store

pytestmark = pytest.mark.django_db(databases="__all__")


def _events(kind: str) -> int:
    return SecurityEvent.objects.filter(kind=kind).count()


@pytest.fixture
def export(tenant: LocalTenant) -> tuple[str, str]:
    """An export-orders URL and a token of its node."""
    node = api_node(tenant)
    store(tenant)
    return f"{BASE}/{connector(tenant, node, 'export_orders').pk}/orders", node_token(tenant, node, "sales:read")


def test_without_credentials_the_answer_is_401_in_the_endpoints_error_shape(client: HttpsClient,
                                                                           export: tuple[str, str]) -> None:
    response = client.get(export[0])
    assert response.status_code == 401
    assert b"<errorCode>unauthenticated</errorCode>" in response.content
    assert "Bearer" in response["WWW-Authenticate"]


@pytest.mark.parametrize("how", ["wrong", "expired", "revoked", "rotated"])
def test_unusable_tokens_are_401_and_a_security_event(client: HttpsClient, tenant: LocalTenant,
                                                      export: tuple[str, str], how: str) -> None:
    url, token = export
    row = ApiToken.objects.for_tenant(tenant).get(node__isnull=False)
    if how == "wrong":
        token = token[:-8] + ("A" if token[-8] != "A" else "B") + token[-7:]
    elif how == "expired":
        ApiToken.objects.for_tenant(tenant).filter(pk=row.pk).update(expires_at=timezone.now() - dt.timedelta(1))
    elif how == "revoked":
        do_revoke_api_token(row, actor="test")
    else:
        do_rotate_api_token(row, overlap=dt.timedelta(0), actor="test")
    before = _events(SecurityEventKind.TOKEN_FAILED)
    response = client.get(url, HTTP_TOKEN=token)
    assert response.status_code == 401
    assert _events(SecurityEventKind.TOKEN_FAILED) == before + 1
    assert not Run.objects.for_tenant(tenant).exists()  # refused before any work


def test_a_rotated_token_works_during_its_overlap_and_the_new_one_too(client: HttpsClient, tenant: LocalTenant,
                                                                      export: tuple[str, str]) -> None:
    url, old = export
    row = ApiToken.objects.for_tenant(tenant).get(node__isnull=False)
    new_row, new = do_rotate_api_token(row, overlap=dt.timedelta(hours=1), actor="test")
    assert new_row.node_id == row.node_id
    assert client.get(url, HTTP_TOKEN=old).status_code == 200
    assert client.get(url, HTTP_TOKEN=new).status_code == 200
    row.refresh_from_db()
    assert row.last_used_at is not None


def test_wrong_scope_workspace_token_and_other_nodes_token_are_403_events(client: HttpsClient, tenant: LocalTenant,
                                                                          export: tuple[str, str]) -> None:
    url, _ = export
    node = api_node(tenant, "Second ERP")
    _, workspace = do_create_api_token(tenant, "management", ["*:*"], actor="test")
    cases = {
        "scope": node_token(tenant, ApiToken.objects.for_tenant(tenant).get(node__isnull=False).node,
                            "catalog:write"),
        "workspace": workspace,
        "other node": node_token(tenant, node, "*:*"),
    }
    for name, token in cases.items():
        before = _events(SecurityEventKind.CALL_REFUSED)
        response = client.get(url, HTTP_TOKEN=token)
        assert response.status_code == 403, name
        assert _events(SecurityEventKind.CALL_REFUSED) == before + 1, name


def test_a_node_token_does_not_open_the_management_api(client: HttpsClient, export: tuple[str, str]) -> None:
    response = client.get("/api/v1/orders", HTTP_TOKEN=export[1])
    assert response.status_code == 403
    assert response.json()["code"] == "wrong_token"


def test_another_tenants_connector_is_404(client: HttpsClient, tenant: LocalTenant, other_tenant: LocalTenant,
                                         export: tuple[str, str]) -> None:
    theirs = connector(other_tenant, api_node(other_tenant), "export_orders")
    response = client.get(f"{BASE}/{theirs.pk}/orders", HTTP_TOKEN=export[1])
    assert response.status_code == 404
    assert client.get(f"{BASE}/not-a-uuid/orders", HTTP_TOKEN=export[1]).status_code == 404


def test_node_ip_rules_apply_to_token_calls(client: HttpsClient, tenant: LocalTenant) -> None:
    from bindery.security.actions import do_add_ip_rule

    node = api_node(tenant)
    url = f"{BASE}/{connector(tenant, node, 'export_orders').pk}/orders"
    token = node_token(tenant, node, "sales:read")
    do_add_ip_rule(tenant, "allow", "192.0.2.0/24", node=node, actor="test")
    assert client.get(url, HTTP_TOKEN=token, REMOTE_ADDR="192.0.2.9").status_code == 200
    before = _events(SecurityEventKind.IP_REFUSED)
    assert client.get(url, HTTP_TOKEN=token, REMOTE_ADDR="198.51.100.9").status_code == 403
    assert _events(SecurityEventKind.IP_REFUSED) == before + 1


# --- legacy ERP: credentials AND an allowed address -----------------------------------------------


@pytest.fixture
def legacy(tenant: LocalTenant) -> str:
    node = legacy_node(tenant)
    store(tenant)
    return f"{BASE}/{connector(tenant, node, 'order_download').pk}/orders"


def test_legacy_credentials_from_an_allowed_address_download_orders(client: HttpsClient, legacy: str) -> None:
    response = client.get(legacy, HTTP_AUTHORIZATION=basic("erp-user", LEGACY_PASSWORD), REMOTE_ADDR="192.0.2.20")
    assert response.status_code == 200
    assert b"<bindCommerceNumber>" in response.content


def test_legacy_password_is_stored_only_as_an_argon2id_hash(tenant: LocalTenant) -> None:
    from bindery.integration.actions import read_node_credentials

    node = legacy_node(tenant, name="Hashed")
    stored = read_node_credentials(node)
    assert set(stored) == {"login", "password_hash"}
    assert stored["password_hash"].startswith("argon2$argon2id$")
    assert LEGACY_PASSWORD not in str(stored)


def test_correct_legacy_credentials_from_a_foreign_address_are_403_without_hashing(
        client: HttpsClient, legacy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import bindery.api.connector_auth as auth

    hashed: list[str] = []
    real = auth.check_password
    monkeypatch.setattr(auth, "check_password", lambda *a: hashed.append("x") or real(*a))
    before = _events(SecurityEventKind.IP_REFUSED)
    response = client.get(legacy, HTTP_AUTHORIZATION=basic("erp-user", LEGACY_PASSWORD), REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 403
    assert _events(SecurityEventKind.IP_REFUSED) == before + 1
    assert hashed == []


def test_wrong_legacy_credentials_from_an_allowed_address_are_401_and_counted(client: HttpsClient,
                                                                              legacy: str) -> None:
    for login, password in (("erp-user", "wrong-password-123"), ("someone-else", LEGACY_PASSWORD)):
        before = _events(SecurityEventKind.SIGN_IN_FAILED)
        response = client.get(legacy, HTTP_AUTHORIZATION=basic(login, password), REMOTE_ADDR="192.0.2.20")
        assert response.status_code == 401
        assert "Basic" in response["WWW-Authenticate"]
        assert _events(SecurityEventKind.SIGN_IN_FAILED) == before + 1


def test_repeated_wrong_legacy_passwords_get_the_source_refused(client: HttpsClient, legacy: str) -> None:
    statuses = [client.get(legacy, HTTP_AUTHORIZATION=basic("erp-user", f"guess-number-{n:04d}"),
                           REMOTE_ADDR="192.0.2.30").status_code for n in range(12)]
    assert statuses[0] == 401
    assert statuses[-1] == 403  # the pair is banned: even the right password is refused now
    assert client.get(legacy, HTTP_AUTHORIZATION=basic("erp-user", LEGACY_PASSWORD),
                      REMOTE_ADDR="192.0.2.30").status_code == 403
    # the real ERP's own address is not locked out
    assert client.get(legacy, HTTP_AUTHORIZATION=basic("erp-user", LEGACY_PASSWORD),
                      REMOTE_ADDR="192.0.2.31").status_code == 200


def test_a_legacy_node_without_allowed_addresses_refuses_everything(client: HttpsClient,
                                                                    tenant: LocalTenant) -> None:
    node = legacy_node(tenant, allow=(), name="Open ERP")
    url = f"{BASE}/{connector(tenant, node, 'order_download').pk}/orders"
    response = client.get(url, HTTP_AUTHORIZATION=basic("erp-user", LEGACY_PASSWORD), REMOTE_ADDR="192.0.2.20")
    assert response.status_code == 403
    assert SecurityEvent.objects.filter(kind=SecurityEventKind.CALL_REFUSED, detail__reason="no_allow_list").exists()


def test_basic_credentials_do_not_open_a_token_node(client: HttpsClient, export: tuple[str, str]) -> None:
    response = client.get(export[0], HTTP_AUTHORIZATION=basic("erp-user", LEGACY_PASSWORD))
    assert response.status_code == 401


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(client: HttpsClient, legacy: str) -> None:
    spoofed = client.get(legacy, HTTP_AUTHORIZATION=basic("erp-user", LEGACY_PASSWORD), REMOTE_ADDR="198.51.100.7",
                         HTTP_X_FORWARDED_FOR="192.0.2.20")
    assert spoofed.status_code == 403
    with override_settings(BINDERY_TRUSTED_PROXIES=("198.51.100.7/32",)):
        proxied = client.get(legacy, HTTP_AUTHORIZATION=basic("erp-user", LEGACY_PASSWORD),
                             REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="192.0.2.20")
    assert proxied.status_code == 200


@pytest.mark.parametrize("header", ["Basic", "Basic !!!", "Basic " + "QQ==" * 200, "Basic dXNlcg=="])
def test_malformed_basic_headers_are_401(client: HttpsClient, legacy: str, header: str) -> None:
    assert client.get(legacy, HTTP_AUTHORIZATION=header, REMOTE_ADDR="192.0.2.20").status_code == 401
