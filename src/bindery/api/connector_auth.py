"""Who may call a connector's URL: a token of the connector's node, or legacy credentials plus an allowed IP.

Two ways in, decided by the connector's node (SECURITY.md §2, Systems):

- **token** (``bindery_api`` and ``logistics`` nodes): a token created for that very node,
  in a ``token`` header or ``Authorization: Bearer``, with the endpoint's scope. Tenant tokens
  (made for the management API) do not open connector URLs, and node tokens do not open the
  management API: each token does one job.
- **legacy credentials** (``legacy_erp`` nodes): HTTP Basic login and password **and** a source
  address on the node's allow-list, both on every call. A node with no allowed network refuses
  every call. The address is checked first, so a foreign address costs no password hash.

Every refusal is answered 401 (who are you?) or 403 (not allowed) and written as a security
event; wrong secrets also count toward the brute-force guard's ban of the source.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass

from django.contrib.auth.hashers import check_password
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare
from django.views.decorators.debug import sensitive_variables

from bindery.api.errors import ApiError, ApiErrorCode
from bindery.control.middleware import enter_request_scope
from bindery.control.models import LocalTenant
from bindery.integration.actions import read_node_credentials
from bindery.integration.errors import IntegrationError
from bindery.integration.models import Connector
from bindery.security import bruteforce
from bindery.security.access import authenticate_api_token, has_scope, token_from_request
from bindery.security.actions import TOKEN_NODE_TECHNOLOGIES, do_record_token_use
from bindery.security.client_ip import client_ip
from bindery.security.iprules import TenantRules, node_admits, record_refusal
from bindery.security.models import ApiToken, SecurityEventKind

LEGACY_TECHNOLOGY = "legacy_erp"
MAX_BASIC_HEADER = 600
_CHECKED = "_bindery_connector_call"


@dataclass(frozen=True)
class ConnectorCaller:
    """An authenticated call: the connector it is for, and who is calling (for runs and logs)."""

    connector: Connector
    tenant: LocalTenant
    actor: str
    token: ApiToken | None = None


def _refused(request: HttpRequest, status: int, code: str, message: str, *, reason: str,
             tenant_id: uuid.UUID | None = None, account: str = "") -> ApiError:
    bruteforce.record_event(SecurityEventKind.CALL_REFUSED, ip=client_ip(request), account=account,
                            tenant_id=tenant_id, reason=reason, path=request.path[:200])
    return ApiError(status, code, message)


def _connector_id(request: HttpRequest) -> uuid.UUID:
    match = request.resolver_match
    raw = match.kwargs.get("connector_id") if match is not None else None
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise ApiError(404, ApiErrorCode.NOT_FOUND, "no such connector") from None


@sensitive_variables("header", "decoded")
def basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    """Return (login, password) from ``Authorization: Basic``, or None when absent or malformed."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if not isinstance(header, str) or len(header) > MAX_BASIC_HEADER:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, sep, password = decoded.partition(":")
    if not sep or not login or not password:
        return None
    return login, password


def authenticate_call(request: HttpRequest) -> ConnectorCaller:
    """Authenticate a call to ``/api/connectors/<connector_id>/...``; raise ApiError when refused."""
    cached = getattr(request, _CHECKED, None)
    if cached is not None:
        return cached
    connector_id = _connector_id(request)
    raw = token_from_request(request)
    basic = basic_credentials(request) if raw is None else None
    caller = _legacy_caller(request, connector_id, basic) if basic is not None else \
        _token_caller(request, connector_id, raw)
    setattr(request, _CHECKED, caller)
    return caller


@sensitive_variables("raw")
def _token_caller(request: HttpRequest, connector_id: uuid.UUID, raw: str | None) -> ConnectorCaller:
    if raw is None:
        raise ApiError(401, ApiErrorCode.UNAUTHENTICATED, "this connector needs its node's token "
                       "(token header or Authorization: Bearer) or, for a legacy ERP node, Basic credentials")
    token = authenticate_api_token(raw)
    if token is None:
        bruteforce.token_failure(request)  # wrong, expired, revoked or rotated: counts toward a ban
        raise ApiError(401, ApiErrorCode.UNAUTHENTICATED, "the token is not valid (wrong, expired or revoked)")
    enter_request_scope(request, token.tenant_id)  # a tenant served by another host: 307 there
    connector = Connector.objects.for_tenant(token.tenant_id).select_related("node").filter(pk=connector_id).first()
    if connector is None:
        raise ApiError(404, ApiErrorCode.NOT_FOUND, "no such connector")
    if token.node_id is None:
        raise _refused(request, 403, ApiErrorCode.WRONG_TOKEN, "this is a workspace token for the management "
                       "API; connector URLs take a token of the connector's node", reason="workspace_token",
                       tenant_id=token.tenant_id, account=token.display_prefix)
    if token.node_id != connector.node_id or connector.node.technology not in TOKEN_NODE_TECHNOLOGIES:
        raise _refused(request, 403, ApiErrorCode.WRONG_TOKEN, "this token belongs to another node",
                       reason="other_node", tenant_id=token.tenant_id, account=token.display_prefix)
    _check_address(request, connector)
    do_record_token_use(token, client_ip(request))
    return ConnectorCaller(connector=connector, tenant=token.tenant, actor=f"token:{token.display_prefix}",
                           token=token)


def _check_address(request: HttpRequest, connector: Connector) -> None:
    ip = client_ip(request)
    if not node_admits(connector.tenant_id, connector.node_id, ip):
        record_refusal(ip, scope="node", tenant_id=connector.tenant_id, path=request.path, node_id=connector.node_id)
        raise ApiError(403, ApiErrorCode.IP_NOT_ALLOWED, "this node does not accept calls from your address")


def node_has_allow_list(connector: Connector) -> bool:
    rules = TenantRules.for_tenant(connector.tenant_id).get(connector.node_id)
    return rules is not None and bool(rules.allow)


@sensitive_variables("basic", "password", "secrets")
def _legacy_caller(request: HttpRequest, connector_id: uuid.UUID, basic: tuple[str, str]) -> ConnectorCaller:
    login, password = basic
    # Unscoped on purpose: the connector is what tells us the tenant (as a token does elsewhere).
    connector = Connector.objects.unscoped().select_related("node", "tenant").filter(pk=connector_id).first()
    if connector is None or connector.node.technology != LEGACY_TECHNOLOGY:
        bruteforce.token_failure(request)
        raise ApiError(401, ApiErrorCode.UNAUTHENTICATED, "wrong login or password")
    enter_request_scope(request, connector.tenant_id)
    account = f"legacy:{connector.node_id}:{login.strip().lower()[:100]}"
    if not node_has_allow_list(connector):
        raise _refused(request, 403, ApiErrorCode.IP_NOT_ALLOWED, "this node has no allowed addresses yet: "
                       "add an allow rule for the ERP's address to the node", reason="no_allow_list",
                       tenant_id=connector.tenant_id, account=account)
    _check_address(request, connector)
    try:
        bruteforce.before_password_check(request, account)
    except PermissionDenied:
        raise ApiError(403, ApiErrorCode.TOO_MANY_ATTEMPTS, "too many failed attempts; try again later") from None
    try:
        secrets = read_node_credentials(connector.node)
    except IntegrationError:
        secrets = {}
    stored_login, stored_hash = str(secrets.get("login", "")), str(secrets.get("password_hash", ""))
    # Both checks always run, so a wrong login takes as long as a wrong password.
    # (Django runs a dummy hash for an unusable one.)
    password_ok = check_password(password, stored_hash or "!")
    if not (constant_time_compare(login, stored_login) and password_ok and stored_hash):
        bruteforce.after_failure(request, account)
        raise ApiError(401, ApiErrorCode.UNAUTHENTICATED, "wrong login or password")
    bruteforce.after_success(request, account)
    return ConnectorCaller(connector=connector, tenant=connector.tenant, actor=f"legacy:{login[:60]}")


def require_call_scope(caller: ConnectorCaller, request: HttpRequest, scope: str) -> None:
    """Token callers need the endpoint's scope; legacy credentials open their node's endpoints."""
    if caller.token is not None and not has_scope(caller.token, scope):
        raise _refused(request, 403, ApiErrorCode.FORBIDDEN_SCOPE, f"this token lacks the {scope} scope",
                       reason="scope", tenant_id=caller.connector.tenant_id, account=caller.token.display_prefix)
