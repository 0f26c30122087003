"""Access audit: every console view, API read and export of personal data is recorded.

Recorded in one place, a middleware, from a table of the routes that show personal data,
rather than by each view: a new view on one of these paths is audited without remembering to.
The purpose comes from the ``X-Bindery-Purpose`` header (API clients) and otherwise defaults
to what the channel is for.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from bindery.privacy.models import AccessAction
from bindery.security.client_ip import client_ip

# (path pattern, action). Paths are matched from the start; a named group "id" is the object.
PERSONAL_DATA_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^/api/v1/(customers|orders|shipments)(/(?P<id>[0-9a-f-]{36}))?/?$"), AccessAction.API_READ),
    (re.compile(r"^/sales/(customers|orders|shipments)\.csv$"), AccessAction.EXPORT),
    (re.compile(r"^/sales/(customers|orders|shipments)/((?P<id>[0-9a-f-]{36})/)?$"), AccessAction.VIEW),
]
PURPOSE_HEADER = "HTTP_X_BINDERY_PURPOSE"
DEFAULT_PURPOSE: dict[str, str] = {AccessAction.API_READ: "integration (API)", AccessAction.EXPORT: "console export",
                   AccessAction.VIEW: "console"}


def classify(path: str) -> tuple[str, str] | None:
    """Return (action, object id) when the path shows personal data, else None."""
    for pattern, action in PERSONAL_DATA_ROUTES:
        match = pattern.match(path)
        if match:
            return action, match.groupdict().get("id") or ""
    return None


def _tenant_and_actor(request: HttpRequest) -> tuple[object, object] | None:
    from bindery.accounts.models import User

    tenant = getattr(request, "tenant", None)  # set by API token authentication
    token = getattr(request, "auth", None)
    if tenant is not None and token is not None:
        return tenant, token
    user = getattr(request, "user", None)
    if isinstance(user, User):
        return user.tenant_id, user
    return None


class PersonalDataAuditMiddleware:
    """Record successful reads of personal data (after authentication and the tenant scope)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.method in ("GET", "HEAD") and response.status_code == 200:
            found = classify(request.path)
            if found is not None:
                who = _tenant_and_actor(request)
                if who is not None:
                    from bindery.privacy.subjects import record_access

                    action, object_id = found
                    purpose = request.META.get(PURPOSE_HEADER, "").strip()[:200] or DEFAULT_PURPOSE[action]
                    tenant, actor = who
                    record_access(tenant, actor, action, request.path, object_id=object_id,  # type: ignore[arg-type]
                                  purpose=purpose, ip=client_ip(request))
        return response
