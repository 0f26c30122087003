"""API authentication: a tenant's API token, as ``Authorization: Bearer`` or a ``token`` header.

Two ninja auth classes exist so the OpenAPI document shows both ways; they share one check,
done once per request. A successful check binds the request to the token's tenant and enters
that tenant's database scope (row-level security on PostgreSQL).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import APIKeyHeader, HttpBearer

from bindery.api.errors import ApiError, ApiErrorCode
from bindery.control.middleware import enter_request_scope
from bindery.security.access import authenticate_api_token, has_scope, token_from_request
from bindery.security.actions import do_record_token_use
from bindery.security.bruteforce import token_failure
from bindery.security.client_ip import client_ip
from bindery.security.iprules import note_tenant_refusal, tenant_admits
from bindery.security.models import ApiToken

_CHECKED = "_bindery_api_token"


def authenticate_request(request: HttpRequest) -> ApiToken | None:
    if hasattr(request, _CHECKED):
        return getattr(request, _CHECKED)
    raw = token_from_request(request)
    token = authenticate_api_token(raw) if raw else None
    setattr(request, _CHECKED, token)
    if raw and token is None:
        token_failure(request)  # wrong, expired or revoked: counts toward the source's ban
    if token is not None:
        # Routing first: a tenant served elsewhere gets a redirect (and its token's use is
        # recorded by the host that owns it).
        enter_request_scope(request, token.tenant_id)
        if not tenant_admits(token.tenant_id, client_ip(request)):
            note_tenant_refusal(request, token.tenant_id)
            raise ApiError(403, ApiErrorCode.IP_NOT_ALLOWED,
                           "this workspace does not accept requests from your address")
        do_record_token_use(token, client_ip(request))
        request.tenant = token.tenant  # type: ignore[attr-defined]
    return token


def management_token(request: HttpRequest) -> ApiToken | None:
    """The request's token, if it is a workspace token: a node's token opens only its connector URLs."""
    token = authenticate_request(request)
    if token is not None and token.node_id is not None:
        raise ApiError(403, ApiErrorCode.WRONG_TOKEN, "this token belongs to an API node: it opens only "
                       "that node's connector URLs (/api/connectors/...), not the management API")
    return token


class BearerTokenAuth(HttpBearer):
    """``Authorization: Bearer <token>``."""

    def __call__(self, request: HttpRequest) -> Any:
        # Not HttpBearer.__call__: it logs unexpected Authorization values in debug mode.
        return management_token(request)

    def authenticate(self, request: HttpRequest, token: str) -> Any:  # pragma: no cover - unused
        return authenticate_request(request)


class TokenHeaderAuth(APIKeyHeader):
    """``token: <token>`` (the header bindCommerce clients send)."""

    param_name = "token"

    def __call__(self, request: HttpRequest) -> Any:
        return management_token(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:  # pragma: no cover - unused
        return authenticate_request(request)


def require_scope(request: HttpRequest, scope: str) -> ApiToken:
    """Return the request's token if it grants ``scope``; otherwise refuse with 403."""
    token = request.auth  # type: ignore[attr-defined]
    if not isinstance(token, ApiToken) or not has_scope(token, scope):
        raise ApiError(403, ApiErrorCode.FORBIDDEN_SCOPE, f"this token lacks the {scope} scope")
    return token
