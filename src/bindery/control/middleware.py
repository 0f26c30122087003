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
        from bindery.control.directory import TenantElsewhere
        from bindery.security.iprules import refuse_for_tenant

        user = getattr(request, "user", None)
        if isinstance(user, User):
            try:
                enter_request_scope(request, user.tenant_id)
            except TenantElsewhere as elsewhere:
                return tenant_elsewhere_response(request, elsewhere)
            refused = refuse_for_tenant(request, user.tenant_id)
            if refused is not None:
                set_request_scope(None)
                return refused
        try:
            return self.get_response(request)
        finally:
            if getattr(request, "_bindery_scoped", False):
                set_request_scope(None)


def tenant_elsewhere_response(request: HttpRequest, elsewhere: object) -> HttpResponse:
    """307 to the owning host: the method and body are kept, for pages and APIs alike.

    A tenant that moved away while the directory cannot say where gets 503 with Retry-After:
    its fenced copy here must not be served as if it were current.
    """
    from bindery.control.directory import TenantElsewhere, redirect_url

    assert isinstance(elsewhere, TenantElsewhere)
    if elsewhere.entry is None:
        unavailable = HttpResponse("This workspace has moved to another host and the directory is unreachable; "
                                   "try again shortly.\n", status=503, content_type="text/plain; charset=utf-8")
        unavailable["Retry-After"] = "30"
        unavailable["Cache-Control"] = "no-store"
        return unavailable
    response = HttpResponse(status=307)
    response["Location"] = redirect_url(elsewhere.entry, request.get_full_path())
    response["Cache-Control"] = "no-store"
    return response


def enter_request_scope(request: HttpRequest, tenant_id: object) -> None:
    """Serve this request in the tenant's scope, or raise TenantElsewhere if another host owns it."""
    import uuid

    from bindery.control.directory import check_served_here

    assert isinstance(tenant_id, uuid.UUID)
    check_served_here(tenant_id)
    set_request_scope(tenant_id)
    request._bindery_scoped = True  # type: ignore[attr-defined]
