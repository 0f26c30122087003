"""Creating, revoking, rotating tokens and recording their use."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from pytest_django import DjangoAssertNumQueries

from bindery.control.models import LocalTenant
from bindery.security.actions import (
    do_create_api_token,
    do_record_token_use,
    do_revoke_api_token,
    do_rotate_api_token,
)
from bindery.security.errors import TokenActionError, TokenError
from bindery.security.models import ApiToken, TokenState

pytestmark = pytest.mark.django_db(databases="__all__")

NOW = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)


def make(tenant: LocalTenant, **kwargs: Any) -> tuple[ApiToken, str]:
    kwargs.setdefault("now", NOW)
    return do_create_api_token(tenant, "erp", ["catalog:write", "sales:read"], actor="test", **kwargs)


def test_create_stores_only_a_hash(tenant: LocalTenant) -> None:
    """The row holds a 64-hex keyed hash; neither the token nor its secret appears in any column."""
    row, plaintext = make(tenant)
    secret = plaintext.split("_")[2]
    assert row.secret_hash != plaintext
    assert len(row.secret_hash) == 64
    stored = ApiToken.objects.for_tenant(tenant).filter(pk=row.pk).values().get()
    text = repr(stored)
    assert plaintext not in text
    assert secret not in text
    assert stored["lookup"] == plaintext.split("_")[1]
    assert stored["scopes"] == ["catalog:write", "sales:read"]
    assert stored["created_by"] == "test"
    assert row.state(NOW) is TokenState.ACTIVE


def test_plaintext_never_logged(tenant: LocalTenant, caplog: pytest.LogCaptureFixture) -> None:
    """Creating, rotating, revoking and authenticating never put the token or secret in a log record."""
    from bindery.security.access import authenticate_api_token

    caplog.set_level(logging.DEBUG)
    row, plaintext = make(tenant)
    new, new_plain = do_rotate_api_token(row, overlap=dt.timedelta(hours=1), actor="test", now=NOW)
    authenticate_api_token(plaintext, now=NOW)
    authenticate_api_token(new_plain[:-3] + "abc", now=NOW)
    do_revoke_api_token(new, actor="test", now=NOW)
    authenticate_api_token(new_plain, now=NOW)
    assert {r.__dict__.get("event") for r in caplog.records} >= {
        "api_token.created", "api_token.rotated", "api_token.revoked", "api_token.refused"}
    dumped = "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in caplog.records)
    for token in (plaintext, new_plain):
        assert token not in dumped
        assert token.split("_")[2] not in dumped


@pytest.mark.parametrize("scopes", [["catalog:delete"], ["billing:read"], ["catalog"], ["*"], ["Catalog:read"], []])
def test_unknown_scopes_are_refused(tenant: LocalTenant, scopes: list[str]) -> None:
    """Unknown or empty scopes give a coded error and create nothing."""
    with pytest.raises(TokenActionError) as caught:
        do_create_api_token(tenant, "x", scopes, actor="test")
    assert caught.value.code in (TokenError.UNKNOWN_SCOPE, TokenError.NO_SCOPES)
    assert ApiToken.objects.for_tenant(tenant).count() == 0


def test_scopes_are_normalized(tenant: LocalTenant) -> None:
    """Scopes are stripped, de-duplicated and sorted."""
    row, _ = do_create_api_token(tenant, "x", [" sales:read", "*:read", "sales:read", ""], actor="test")
    assert row.scopes == ["*:read", "sales:read"]


@pytest.mark.parametrize(("name", "expires_in", "code"), [
    ("", None, TokenError.INVALID_NAME),
    ("n" * 101, None, TokenError.INVALID_NAME),
    ("ok", dt.timedelta(0), TokenError.INVALID_EXPIRY),
    ("ok", dt.timedelta(days=-1), TokenError.INVALID_EXPIRY),
    ("ok", dt.timedelta(days=3651), TokenError.INVALID_EXPIRY),
])
def test_invalid_name_or_expiry(tenant: LocalTenant, name: str, expires_in: dt.timedelta | None,
                                code: TokenError) -> None:
    """A blank or long name and a non-positive or absurd lifetime are refused with a code."""
    with pytest.raises(TokenActionError) as caught:
        do_create_api_token(tenant, name, ["sales:read"], expires_in=expires_in, actor="test")
    assert caught.value.code == code


def test_revoke_is_idempotent(tenant: LocalTenant) -> None:
    """Revoking records when and by whom; revoking again changes nothing."""
    row, _ = make(tenant)
    assert do_revoke_api_token(row, actor="cli", now=NOW) is True
    assert do_revoke_api_token(row, actor="other", now=NOW + dt.timedelta(hours=1)) is False
    row.refresh_from_db()
    assert (row.revoked_at, row.revoked_by) == (NOW, "cli")
    assert row.state(NOW) is TokenState.REVOKED


def test_rotate_links_tokens_and_keeps_name_scopes_lifetime(tenant: LocalTenant) -> None:
    """The successor has the same name, scopes and lifetime; the old row points to it with a deadline."""
    old, old_plain = make(tenant, expires_in=dt.timedelta(days=90))
    later = NOW + dt.timedelta(days=10)
    new, new_plain = do_rotate_api_token(old, overlap=dt.timedelta(hours=2), actor="test", now=later)
    old.refresh_from_db()
    assert new_plain != old_plain
    assert (new.name, new.scopes, new.tenant_id) == (old.name, old.scopes, tenant.pk)
    assert new.expires_at == later + dt.timedelta(days=90)
    assert old.replaced_by_id == new.pk
    assert old.rotation_grace_until == later + dt.timedelta(hours=2)
    assert old.state(later) is TokenState.ROTATING
    assert old.state(later + dt.timedelta(hours=2)) is TokenState.ROTATED


def test_rotation_grace_never_outlives_expiry(tenant: LocalTenant) -> None:
    """An overlap longer than the old token's remaining life ends at its expiry."""
    old, _ = make(tenant, expires_in=dt.timedelta(hours=1))
    do_rotate_api_token(old, overlap=dt.timedelta(days=3), actor="test", now=NOW)
    assert old.rotation_grace_until == NOW + dt.timedelta(hours=1)


@pytest.mark.parametrize("case", ["revoked", "expired", "rotated", "negative", "too-long"])
def test_rotation_refusals(tenant: LocalTenant, case: str) -> None:
    """Revoked, expired and already-rotated tokens cannot be rotated; overlaps must be 0-30 days."""
    old, _ = make(tenant, expires_in=dt.timedelta(days=1))
    overlap, when = dt.timedelta(hours=1), NOW
    expected = {"revoked": TokenError.REVOKED, "expired": TokenError.EXPIRED, "rotated": TokenError.ALREADY_ROTATED,
                "negative": TokenError.INVALID_OVERLAP, "too-long": TokenError.INVALID_OVERLAP}[case]
    if case == "revoked":
        do_revoke_api_token(old, actor="test", now=NOW)
    elif case == "expired":
        when = NOW + dt.timedelta(days=2)
    elif case == "rotated":
        do_rotate_api_token(old, overlap=overlap, actor="test", now=NOW)
    elif case == "negative":
        overlap = dt.timedelta(seconds=-1)
    else:
        overlap = dt.timedelta(days=31)
    before = ApiToken.objects.for_tenant(tenant).count()
    with pytest.raises(TokenActionError) as caught:
        do_rotate_api_token(old, overlap=overlap, actor="test", now=when)
    assert caught.value.code == expected
    assert ApiToken.objects.for_tenant(tenant).count() == before


def test_record_use_is_throttled(tenant: LocalTenant, django_assert_num_queries: DjangoAssertNumQueries) -> None:
    """Use is written at most once a minute; inside the minute no query runs at all."""
    row, _ = make(tenant)
    assert do_record_token_use(row, "203.0.113.7", now=NOW) is True
    with django_assert_num_queries(0):
        assert do_record_token_use(row, "203.0.113.8", now=NOW + dt.timedelta(seconds=59)) is False
    assert do_record_token_use(row, "2001:db8::1", now=NOW + dt.timedelta(seconds=60)) is True
    row.refresh_from_db()
    assert (row.last_used_at, row.last_used_ip) == (NOW + dt.timedelta(seconds=60), "2001:db8::1")


def test_record_use_by_two_workers_writes_once(tenant: LocalTenant) -> None:
    """Two copies of the row (two workers) inside one minute produce a single write."""
    row, _ = make(tenant)
    twin = ApiToken.objects.for_tenant(tenant).get(pk=row.pk)
    assert do_record_token_use(row, "198.51.100.1", now=NOW) is True
    assert do_record_token_use(twin, "198.51.100.2", now=NOW + dt.timedelta(seconds=5)) is False
    row.refresh_from_db()
    assert row.last_used_ip == "198.51.100.1"


def test_record_use_ignores_malformed_ip(tenant: LocalTenant) -> None:
    """A malformed client address is stored as unknown instead of failing the request."""
    row, _ = make(tenant)
    assert do_record_token_use(row, "not-an-ip\x00", now=NOW) is True
    row.refresh_from_db()
    assert (row.last_used_at, row.last_used_ip) == (NOW, None)


def test_lookup_collision_is_retried(tenant: LocalTenant, monkeypatch: pytest.MonkeyPatch) -> None:
    """If a new lookup id is already taken, another is drawn instead of failing."""
    import bindery.security.actions as actions

    first, _ = make(tenant)
    ids = iter([first.lookup, "fresh0000000"])
    monkeypatch.setattr(actions, "new_lookup", lambda: next(ids))
    second, plaintext = make(tenant)
    assert second.lookup == "fresh0000000"
    assert plaintext.startswith("bnd_fresh0000000_")
