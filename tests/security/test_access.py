"""Authenticating API tokens: hashes, states, tenants, scopes and where a request carries them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import RequestFactory, override_settings
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from bindery.control.models import LocalTenant
from bindery.security.access import (
    authenticate_api_token,
    check_api_token,
    has_scope,
    token_from_request,
)
from bindery.security.actions import do_create_api_token, do_revoke_api_token, do_rotate_api_token
from bindery.security.errors import AuthFailure
from bindery.security.models import ApiToken
from bindery.security.tokens import checksum, generate_token

pytestmark = pytest.mark.django_db(databases="__all__")

NOW = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)


def make(tenant: LocalTenant, scopes: tuple[str, ...] = ("catalog:read",), **kwargs: Any) -> tuple[ApiToken, str]:
    return do_create_api_token(tenant, "shop sync", scopes, actor="test", now=NOW, **kwargs)


def with_secret(token: str, secret: str) -> str:
    """Return the token with another secret but a valid checksum (passes the cheap checks)."""
    prefix, lookup, _, _ = token.split("_")
    body = f"{prefix}_{lookup}_{secret}"
    return f"{body}_{checksum(body)}"


def test_valid_token_authenticates(tenant: LocalTenant, django_assert_num_queries: DjangoAssertNumQueries) -> None:
    """A fresh token authenticates with one query and brings its tenant along."""
    row, plaintext = make(tenant)
    with django_assert_num_queries(1):
        found = authenticate_api_token(plaintext, now=NOW)
        assert found is not None
        assert found.tenant.slug == "acme"
    assert found.pk == row.pk


def test_wrong_secret_is_refused(tenant: LocalTenant) -> None:
    """A token with the right lookup id and checksum but another secret is refused."""
    _, plaintext = make(tenant)
    forged = with_secret(plaintext, "A" * 43)
    assert check_api_token(forged, now=NOW).failure is AuthFailure.WRONG_SECRET
    assert authenticate_api_token(forged, now=NOW) is None


def test_unknown_lookup_computes_a_dummy_hash(tenant: LocalTenant, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown lookup id runs the same HMAC work as a wrong secret, so timing does not tell them apart."""
    import bindery.security.access as access

    calls: list[str] = []
    real = access.verify_token_hash

    def counting(tenant_id: object, raw: str, stored: str) -> tuple[bool, bool]:
        calls.append(stored)
        return real(tenant_id, raw, stored)

    monkeypatch.setattr(access, "verify_token_hash", counting)
    _, plaintext = make(tenant)
    assert check_api_token(with_secret(plaintext, "B" * 43), now=NOW).failure is AuthFailure.WRONG_SECRET
    unknown = generate_token("zzzzzzzzzzzz")
    assert check_api_token(unknown, now=NOW).failure is AuthFailure.UNKNOWN
    assert len(calls) == 2


def test_revoked_token_is_refused(tenant: LocalTenant) -> None:
    """After revocation the token no longer authenticates."""
    row, plaintext = make(tenant)
    do_revoke_api_token(row, actor="test", now=NOW)
    assert check_api_token(plaintext, now=NOW + dt.timedelta(seconds=1)).failure is AuthFailure.REVOKED


def test_expired_token_is_refused(tenant: LocalTenant) -> None:
    """A token works until its expiry instant and not from then on."""
    _, plaintext = make(tenant, expires_in=dt.timedelta(days=30))
    deadline = NOW + dt.timedelta(days=30)
    assert authenticate_api_token(plaintext, now=deadline - dt.timedelta(seconds=1)) is not None
    assert check_api_token(plaintext, now=deadline).failure is AuthFailure.EXPIRED


def test_rotation_overlap(tenant: LocalTenant) -> None:
    """After rotation both tokens work until the grace deadline; then only the new one does."""
    old, old_plain = make(tenant)
    new, new_plain = do_rotate_api_token(old, overlap=dt.timedelta(hours=6), actor="test", now=NOW)
    deadline = NOW + dt.timedelta(hours=6)
    assert authenticate_api_token(old_plain, now=deadline - dt.timedelta(seconds=1)) == old
    assert authenticate_api_token(new_plain, now=deadline - dt.timedelta(seconds=1)) == new
    assert check_api_token(old_plain, now=deadline).failure is AuthFailure.ROTATED
    assert authenticate_api_token(new_plain, now=deadline + dt.timedelta(days=365)) == new


def test_token_is_bound_to_its_tenant(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    """Another tenant's token authenticates only as that tenant, never as this one."""
    _, theirs = make(other_tenant)
    _, ours = make(tenant)
    assert check_api_token(theirs, tenant=tenant, now=NOW).failure is AuthFailure.WRONG_TENANT
    found = authenticate_api_token(theirs, now=NOW)
    assert found is not None
    assert found.tenant_id == other_tenant.pk
    assert authenticate_api_token(ours, tenant=tenant.pk, now=NOW) is not None


def test_hash_copied_to_another_tenant_does_not_match(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    """Moving a token row to another tenant (tampering) breaks it: the hash is bound to the tenant."""
    row, plaintext = make(tenant)
    ApiToken.objects.unscoped().filter(pk=row.pk).update(tenant=other_tenant)
    assert check_api_token(plaintext, now=NOW).failure is AuthFailure.WRONG_SECRET


def test_fallback_key_still_works_and_is_upgraded(tenant: LocalTenant) -> None:
    """After SECRET_KEY rotation a token hashed with the old key works and is re-hashed with the new one."""
    old_key = "k" * 60
    with override_settings(SECRET_KEY=old_key):
        row, plaintext = make(tenant)
    with override_settings(SECRET_KEY="n" * 60, SECRET_KEY_FALLBACKS=[old_key]):
        assert authenticate_api_token(plaintext, now=NOW) is not None
        row.refresh_from_db()
    with override_settings(SECRET_KEY="n" * 60, SECRET_KEY_FALLBACKS=[]):
        assert authenticate_api_token(plaintext, now=NOW) is not None
    with override_settings(SECRET_KEY="z" * 60):
        assert authenticate_api_token(plaintext, now=NOW) is None


@pytest.mark.parametrize(("granted", "required", "allowed"), [
    (["catalog:read"], "catalog:read", True),
    (["catalog:read"], "catalog:write", False),
    (["catalog:read"], "sales:read", False),
    (["catalog:write"], "catalog:read", True),
    (["catalog:write"], "sales:read", False),
    (["*:read"], "sales:read", True),
    (["*:read"], "catalog:read", True),
    (["*:read"], "sales:write", False),
    (["sales:*"], "sales:write", True),
    (["sales:*"], "catalog:read", False),
    (["*:*"], "sales:write", True),
    (["catalog:read", "sales:write"], "sales:read", True),
    (["*:*"], "*:read", False),
    (["*:*"], "catalog", False),
    (["*:*"], "billing:read", False),
])
def test_scopes_and_wildcards(tenant: LocalTenant, granted: list[str], required: str, allowed: bool) -> None:
    """has_scope follows the documented rules: write implies read, * matches a side, requirements are concrete."""
    row, _ = make(tenant, tuple(granted))
    assert has_scope(row, required) is allowed


def test_stored_garbage_scopes_grant_nothing(tenant: LocalTenant) -> None:
    """Malformed scope values in the row (never written by actions) do not grant anything."""
    row, _ = make(tenant)
    row.scopes = ["*", "catalog", 7, None]
    assert not has_scope(row, "catalog:read")


# --- where a request carries the token -----------------------------------------------------------

rf = RequestFactory()


def fixed_token(lookup: str) -> str:
    """A well-formed token with a fixed secret: parametrized test ids must be the same in every xdist worker."""
    body = f"bnd_{lookup}_{'Fixed0Secret1' * 3}abcd"
    return f"{body}_{checksum(body)}"


TOKEN = fixed_token("abcdefghijkl")


@pytest.mark.parametrize(("headers", "expected"), [
    ({"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}, TOKEN),
    ({"HTTP_AUTHORIZATION": f"bearer   {TOKEN}  "}, TOKEN),
    ({"HTTP_TOKEN": TOKEN}, TOKEN),
    ({"HTTP_AUTHORIZATION": f"Bearer {TOKEN}", "HTTP_TOKEN": TOKEN}, TOKEN),
    ({"HTTP_AUTHORIZATION": f"Bearer {TOKEN}", "HTTP_TOKEN": fixed_token("zzzzzzzzzzzz")}, None),
    ({"HTTP_AUTHORIZATION": "Basic " + TOKEN}, None),
    ({"HTTP_AUTHORIZATION": TOKEN}, None),
    ({"HTTP_AUTHORIZATION": "Bearer "}, None),
    ({"HTTP_AUTHORIZATION": "Bearer " + "A" * 100_000}, None),
    ({"HTTP_X_API_TOKEN": TOKEN}, None),
    ({}, None),
])
def test_token_from_headers(headers: dict[str, str], expected: str | None) -> None:
    """Bearer and Token headers are read; Basic, bare values, other headers and conflicts are not."""
    request = rf.get("/api/")
    request.META.update(headers)
    assert token_from_request(request) == expected


def test_query_string_token_is_ignored() -> None:
    """A token in the query string is never used (URLs end up in logs and browser history)."""
    assert token_from_request(rf.get("/api/", {"token": TOKEN, "access_token": TOKEN})) is None


@pytest.mark.parametrize("value", [
    "Bearer " + "x" * 100_000,
    "Bearer bnd_abcdefghijkl_\x00" + "A" * 42 + "_aaaaaa",
    "Bearer bnd_abcdefghijkl_" + "é" * 43 + "_aaaaaa",
    "Bearer \udcff\udcfe",
    "Bearer " + "\x00" * 64,
])
def test_hostile_headers_give_none(tenant: LocalTenant, value: str) -> None:
    """A 100 KB header, NUL bytes or non-ASCII end in None, never an exception or a query."""
    from tests.security.conftest import no_queries

    request = rf.get("/api/", HTTP_AUTHORIZATION=value)
    with no_queries():
        raw = token_from_request(request)
        assert raw is None or authenticate_api_token(raw) is None


def test_clock_defaults_to_now(tenant: LocalTenant) -> None:
    """Without an injected clock, the real time decides expiry."""
    _, plaintext = do_create_api_token(tenant, "short", ["sales:read"], expires_in=dt.timedelta(minutes=5),
                                       actor="test")
    assert authenticate_api_token(plaintext) is not None
    assert authenticate_api_token(plaintext, now=timezone.now() + dt.timedelta(minutes=6)) is None
