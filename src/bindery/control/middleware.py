"""Set the database's tenant scope (row-level security) for requests made by a tenant's user."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from bindery.control.rls import set_request_scope


class TenantScopeMiddleware:
    """After authentication: a tenant user's request runs inside that tenant's scope.

    API requests authenticate inside the API layer, which sets the scope itself and marks the
    request; either way the scope is cleared when the response leaves, so a pooled connection
    never carries one request's tenant into the next.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from bindery.accounts.models import User

        user = getattr(request, "user", None)
        if isinstance(user, User):
            enter_request_scope(request, user.tenant_id)
        try:
            return self.get_response(request)
        finally:
            if getattr(request, "_bindery_scoped", False):
                set_request_scope(None)


def enter_request_scope(request: HttpRequest, tenant_id: object) -> None:
    import uuid

    assert isinstance(tenant_id, uuid.UUID)
    set_request_scope(tenant_id)
    request._bindery_scoped = True  # type: ignore[attr-defined]
