"""Writes to API tokens: create, revoke, rotate and record use.

Plaintext tokens are returned to the caller exactly once and never stored or logged; log
lines name tokens by their row id and public lookup id only. (Log field names avoid the word
"token": the log filter redacts any field whose name contains it.)
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from bindery.control.actors import actor_label
from bindery.control.models import LocalTenant
from bindery.control.routers import HOST
from bindery.security.errors import TokenActionError, TokenError
from bindery.security.models import ApiToken, TokenState
from bindery.security.scopes import normalize_scopes
from bindery.security.tokens import generate_token, hash_token, new_lookup

logger = logging.getLogger(__name__)

MAX_LIFETIME = dt.timedelta(days=3650)
MAX_OVERLAP = dt.timedelta(days=30)
# last_used_at is for people ("is this integration still alive?"): minute precision is plenty
# and saves a write on every API request.
USE_RECORD_INTERVAL = dt.timedelta(minutes=1)


def _check_lifetime(expires_in: dt.timedelta | None) -> None:
    if expires_in is not None and not dt.timedelta(0) < expires_in <= MAX_LIFETIME:
        raise TokenActionError(TokenError.INVALID_EXPIRY, "expiry must be between now and 10 years from now")


@sensitive_variables("plaintext")
def _insert_token(tenant_id: Any, *, name: str, scopes: list[str], now: dt.datetime,
                  lifetime: dt.timedelta | None, created_by: str) -> tuple[ApiToken, str]:
    expires_at = now + lifetime if lifetime is not None else None
    for attempt in range(5):
        lookup = new_lookup()
        plaintext = generate_token(lookup)
        row = ApiToken(tenant_id=tenant_id, name=name, lookup=lookup, secret_hash=hash_token(tenant_id, plaintext),
                       scopes=scopes, expires_at=expires_at, lifetime=lifetime, created_by=created_by)
        try:
            with transaction.atomic(using=HOST):  # a savepoint, so a lookup collision can be retried
                row.save(force_insert=True)
        except IntegrityError:
            if attempt == 4:
                raise
            continue
        return row, plaintext
    raise AssertionError("unreachable")


@sensitive_variables("plaintext")
def do_create_api_token(tenant: LocalTenant, name: str, scopes: Iterable[str], *,
                        expires_in: dt.timedelta | None = None, actor: Any,
                        now: dt.datetime | None = None) -> tuple[ApiToken, str]:
    """Create a token; return the row and the plaintext, which the caller shows once and forgets."""
    name = name.strip()
    if not name or len(name) > 100:
        raise TokenActionError(TokenError.INVALID_NAME, "a token needs a name of 1-100 characters")
    clean_scopes = normalize_scopes(scopes)
    _check_lifetime(expires_in)
    row, plaintext = _insert_token(tenant.pk, name=name, scopes=clean_scopes, now=now or timezone.now(),
                                   lifetime=expires_in, created_by=actor_label(actor))
    logger.info("api token created", extra={"event": "api_token.created", "tenant": tenant.slug,
                                             "row_id": str(row.pk), "lookup_id": row.lookup,
                                             "scopes": ",".join(clean_scopes), "actor": actor_label(actor)})
    return row, plaintext


def do_revoke_api_token(token: ApiToken, *, actor: Any, now: dt.datetime | None = None) -> bool:
    """Revoke a token at once; return False if it was already revoked (revoking is idempotent)."""
    now = now or timezone.now()
    changed = ApiToken.objects.for_tenant(token.tenant_id).filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=actor_label(actor), modified_at=now)
    if changed:
        token.revoked_at, token.revoked_by = now, actor_label(actor)
        logger.info("api token revoked", extra={"event": "api_token.revoked", "row_id": str(token.pk),
                                                 "lookup_id": token.lookup, "actor": actor_label(actor)})
    return bool(changed)


@sensitive_variables("plaintext")
def do_rotate_api_token(token: ApiToken, *, overlap: dt.timedelta, actor: Any,
                        expires_in: dt.timedelta | None = None,
                        now: dt.datetime | None = None) -> tuple[ApiToken, str]:
    """Replace a token by a new one with the same name and scopes; return it and its plaintext once.

    The old token keeps working for ``overlap`` (so integrations can be switched without an
    outage; zero stops it at once), never past its own expiry. The new token gets ``expires_in``
    or, by default, the same lifetime the old one was created with.
    """
    if not dt.timedelta(0) <= overlap <= MAX_OVERLAP:
        raise TokenActionError(TokenError.INVALID_OVERLAP, "the overlap must be between 0 and 30 days")
    _check_lifetime(expires_in)
    now = now or timezone.now()
    with transaction.atomic(using=HOST):
        # Lock the row: two concurrent rotations must not both create a successor.
        old = ApiToken.objects.for_tenant(token.tenant_id).select_for_update().get(pk=token.pk)
        state = old.state(now)
        if state is TokenState.REVOKED:
            raise TokenActionError(TokenError.REVOKED, f"token {old.display_prefix} is revoked")
        if state is TokenState.EXPIRED:
            raise TokenActionError(TokenError.EXPIRED, f"token {old.display_prefix} has expired")
        if old.replaced_by_id is not None:
            raise TokenActionError(TokenError.ALREADY_ROTATED, f"token {old.display_prefix} was already rotated")
        new, plaintext = _insert_token(old.tenant_id, name=old.name, scopes=list(old.scopes), now=now,
                                       lifetime=expires_in if expires_in is not None else old.lifetime,
                                       created_by=actor_label(actor))
        grace = now + overlap
        if old.expires_at is not None:
            grace = min(grace, old.expires_at)
        old.replaced_by, old.rotation_grace_until = new, grace
        old.save(update_fields=["replaced_by", "rotation_grace_until", "modified_at"])
    token.replaced_by, token.rotation_grace_until = new, grace
    logger.info("api token rotated", extra={"event": "api_token.rotated", "row_id": str(old.pk),
                                             "lookup_id": old.lookup, "new_row_id": str(new.pk),
                                             "new_lookup_id": new.lookup, "grace_until": grace.isoformat(),
                                             "actor": actor_label(actor)})
    return new, plaintext


def do_record_token_use(token: ApiToken, ip: str | None, *, now: dt.datetime | None = None) -> bool:
    """Record when and from where a token was last used, at most once a minute; return whether it wrote.

    The conditional UPDATE makes concurrent requests (several workers) write at most once per
    interval, and a recent in-memory value skips the database altogether.
    """
    now = now or timezone.now()
    threshold = now - USE_RECORD_INTERVAL
    if token.last_used_at is not None and token.last_used_at > threshold:
        return False
    try:
        clean_ip: str | None = str(ipaddress.ip_address(ip)) if ip else None
    except ValueError:
        clean_ip = None
    changed = (ApiToken.objects.for_tenant(token.tenant_id)
               .filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=threshold), pk=token.pk)
               .update(last_used_at=now, last_used_ip=clean_ip))
    token.last_used_at = now
    if changed:
        token.last_used_ip = clean_ip
    return bool(changed)
