"""What every sales route shares: the scope-checking auth, the SalesError → HTTP mapping and the
declared error responses.

Each sales operation passes
``auth=sales_auth(scope)``: the token is authenticated and its scope checked *before* ninja
validates the query and the body, so a token without the scope learns nothing about the
input rules (403 before any 422), and no view can forget the check.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest

from bindery.api import auth
from bindery.api.auth import management_token, require_scope
from bindery.api.schemas.common import ErrorOut
from bindery.sales.errors import SalesError, SalesErrorCode

READ = "sales:read"
WRITE = "sales:write"

_NOT_FOUND = frozenset({SalesErrorCode.ORDER_NOT_FOUND, SalesErrorCode.CUSTOMER_NOT_FOUND,
                        SalesErrorCode.SHIPMENT_NOT_FOUND, SalesErrorCode.ORDER_STATUS_NOT_FOUND})
# The request is well-formed but the hub's state refuses it.
_CONFLICT = frozenset({SalesErrorCode.PLAN_LIMIT_EXCEEDED})


def sales_error_status(code: str) -> int:
    """Return the HTTP status of a sales error code: 404, 409, or 422 for invalid input."""
    if code in _NOT_FOUND:
        return 404
    if code in _CONFLICT:
        return 409
    if code in SalesErrorCode.__members__.values():
        return 422
    return 400


def api_field(field: str | None) -> str | None:
    """Spell an action's field path (``rows[0].quantity``) the way schema errors do (``rows.0.quantity``)."""
    return None if field is None else re.sub(r"\[(\d+)\]", r".\1", field)


def sales_error_body(exc: SalesError) -> dict[str, Any]:
    """Return the API error shape for a sales error; not-found errors never name a field."""
    message = str(exc.args[0]) if exc.args else str(exc.code)
    field = None if exc.code in _NOT_FOUND else api_field(exc.field)
    body: dict[str, Any] = {"code": str(exc.code), "message": f"{field}: {message}" if field else message}
    if field:
        body["field"] = field
    return body


class BearerTokenAuth(auth.BearerTokenAuth):
    """``Authorization: Bearer`` with a required scope (same class name: one OpenAPI scheme)."""

    def __init__(self, scope: str) -> None:
        super().__init__()
        self.scope = scope

    def __call__(self, request: HttpRequest) -> Any:
        return _authenticate_with_scope(request, self.scope)


class TokenHeaderAuth(auth.TokenHeaderAuth):
    """A ``token`` header with a required scope (same class name: one OpenAPI scheme)."""

    def __init__(self, scope: str) -> None:
        super().__init__()
        self.scope = scope

    def __call__(self, request: HttpRequest) -> Any:
        return _authenticate_with_scope(request, self.scope)


def _authenticate_with_scope(request: HttpRequest, scope: str) -> Any:
    token = management_token(request)
    if token is None:
        return None  # ninja answers 401
    request.auth = token  # type: ignore[attr-defined]  # require_scope reads it; ninja sets it too
    require_scope(request, scope)  # ApiError 403, answered by the API's handler
    return token


def sales_auth(scope: str) -> list[Any]:
    """Return the auth of an operation needing ``scope``: a valid token granting it."""
    return [BearerTokenAuth(scope), TokenHeaderAuth(scope)]


# Declared on every operation, so the OpenAPI document lists the failures a client must handle.
READ_ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut, 422: ErrorOut}
ONE_ERRORS: dict[int, Any] = {**READ_ERRORS, 404: ErrorOut}
WRITE_ERRORS: dict[int, Any] = {400: ErrorOut, **ONE_ERRORS, 409: ErrorOut, 413: ErrorOut}
