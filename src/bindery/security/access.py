"""Reading API tokens: authenticate a presented token, check its scopes, find it in a request.

Callers (the API layer) get an :class:`ApiToken` or ``None`` and answer every failure the same
way; the reason is logged for operators (with the public lookup id, never the token).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from django.http import HttpRequest
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from bindery.control.models import LocalTenant
from bindery.security.errors import AuthFailure
from bindery.security.models import ApiToken, TokenState
from bindery.security.scopes import scope_grants
from bindery.security.tokens import MAX_TOKEN_LENGTH, hash_token, parse_token, verify_token_hash

logger = logging.getLogger(__name__)

# Hashed when the lookup id is unknown, so "no such token" costs what "wrong secret" costs.
_DUMMY_TENANT = uuid.UUID(int=0)
_DUMMY_HASH = "0" * 64

_STATE_FAILURES = {
    TokenState.REVOKED: AuthFailure.REVOKED,
    TokenState.EXPIRED: AuthFailure.EXPIRED,
    TokenState.ROTATED: AuthFailure.ROTATED,
}


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """The outcome of checking a presented token: the token, or why it was refused."""

    token: ApiToken | None
    failure: AuthFailure | None


@sensitive_variables("raw", "parsed")
def check_api_token(raw: str, *, tenant: LocalTenant | uuid.UUID | None = None,
                    now: dt.datetime | None = None) -> TokenCheck:
    """Check a presented token; see :func:`authenticate_api_token`, which most callers want."""
    parsed = parse_token(raw)
    if parsed is None:
        return TokenCheck(None, AuthFailure.MALFORMED)
    # Unscoped on purpose: the token is what tells us the tenant.
    row = ApiToken.objects.unscoped().select_related("tenant").filter(lookup=parsed.lookup).first()
    if row is None:
        verify_token_hash(_DUMMY_TENANT, parsed.raw, _DUMMY_HASH)
        return _refuse(parsed.lookup, AuthFailure.UNKNOWN)
    matches, current_key = verify_token_hash(row.tenant_id, parsed.raw, row.secret_hash)
    if not matches:
        return _refuse(parsed.lookup, AuthFailure.WRONG_SECRET)
    expected = tenant.pk if isinstance(tenant, LocalTenant) else tenant
    if expected is not None and row.tenant_id != expected:
        return _refuse(parsed.lookup, AuthFailure.WRONG_TENANT)
    state = row.state(now or timezone.now())
    if state in _STATE_FAILURES:
        return _refuse(parsed.lookup, _STATE_FAILURES[state])
    if not current_key:
        # Matched a SECRET_KEY_FALLBACKS key: re-hash with the current key, so the fallback
        # can be retired without breaking this token.
        row.secret_hash = hash_token(row.tenant_id, parsed.raw)
        ApiToken.objects.for_tenant(row.tenant_id).filter(pk=row.pk).update(secret_hash=row.secret_hash)
    return TokenCheck(row, None)


def _refuse(lookup: str, failure: AuthFailure) -> TokenCheck:
    logger.info("api token refused", extra={"event": "api_token.refused", "lookup_id": lookup,
                                             "reason": str(failure)})
    return TokenCheck(None, failure)


def authenticate_api_token(raw: str, *, tenant: LocalTenant | uuid.UUID | None = None,
                           now: dt.datetime | None = None) -> ApiToken | None:
    """Return the token ``raw`` stands for if it may be used at ``now``, else None; never raises.

    In order: shape and checksum (no database query for garbage), lookup by the public id,
    constant-time comparison of the keyed hash (a dummy hash is computed for unknown ids, so
    both failures take the same time), then revocation, expiry and the rotation deadline. Given
    ``tenant``, a token of any other tenant is refused: tokens are bound to their tenant.
    """
    return check_api_token(raw, tenant=tenant, now=now).token


def has_scope(token: ApiToken, required: str) -> bool:
    """Return whether the token grants the concrete scope ``required`` (wildcard rules: security.scopes)."""
    return any(scope_grants(granted, required) for granted in token.scopes if isinstance(granted, str))


def token_from_request(request: HttpRequest) -> str | None:
    """Return the raw token a request presents, or None.

    Accepted: ``Authorization: Bearer <token>`` (scheme case-insensitive) or a ``Token: <token>``
    header. Everything else is ignored on purpose: Basic auth, other schemes, and the query
    string (URLs end up in logs, browser history and proxies). A request presenting two
    different tokens is refused rather than guessed at; oversized headers are not parsed.
    """
    found: set[str] = set()
    authorization = request.META.get("HTTP_AUTHORIZATION")
    if isinstance(authorization, str) and authorization and len(authorization) <= MAX_TOKEN_LENGTH + 20:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            found.add(value.strip())
    header = request.META.get("HTTP_TOKEN")
    if isinstance(header, str) and header.strip() and len(header) <= MAX_TOKEN_LENGTH + 20:
        found.add(header.strip())
    return found.pop() if len(found) == 1 else None
