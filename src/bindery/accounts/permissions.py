"""Who may do what in a tenant: one matrix of roles by areas by access, used everywhere.

Console pages ask :func:`require_permission` (through ``bindery.web.permissions.console_view``
and the people pages), API routes ask :func:`require_api_permission`, which turns the same area
and access into the token scope ``<area>:<access>``; and a person creating an API token may only
grant scopes their own role holds (:func:`grantable_scopes`), so a token never reaches further
than the person who made it.

The matrix (``W`` = read and write, ``R`` = read only, ``-`` = nothing)::

    role       catalog  sales  tokens  members  activity  security  integration  privacy
    owner      W        W      W       W        R         W         W            W
    admin      W        W      W       W        -         R         W            W
    operator   W        W      -       -        -         -         W            -
    viewer     R        R      -       -        -         -         R            -

Business rules beyond the matrix live in :mod:`bindery.accounts.members` (an admin cannot
change or remove an owner, nor make one; a tenant always keeps an active owner).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied

from bindery.accounts.models import Role


class Area(StrEnum):
    CATALOG = "catalog"
    SALES = "sales"
    TOKENS = "tokens"
    MEMBERS = "members"
    ACTIVITY = "activity"
    SECURITY = "security"  # the tenant's security policy: IP rules, security events (MFA, session limits)
    INTEGRATION = "integration"  # connectors, procedures, runs
    PRIVACY = "privacy"  # data-subject requests and the personal-data access log


class Access(StrEnum):
    READ = "read"
    WRITE = "write"


_R = frozenset({Access.READ})
_W = frozenset({Access.READ, Access.WRITE})
_NONE: frozenset[Access] = frozenset()

MATRIX: dict[Role, dict[Area, frozenset[Access]]] = {
    Role.OWNER: {Area.CATALOG: _W, Area.SALES: _W, Area.TOKENS: _W, Area.MEMBERS: _W,
                 Area.ACTIVITY: _R, Area.SECURITY: _W, Area.INTEGRATION: _W, Area.PRIVACY: _W},
    Role.ADMIN: {Area.CATALOG: _W, Area.SALES: _W, Area.TOKENS: _W, Area.MEMBERS: _W,
                 Area.ACTIVITY: _NONE, Area.SECURITY: _R, Area.INTEGRATION: _W, Area.PRIVACY: _W},
    Role.OPERATOR: {Area.CATALOG: _W, Area.SALES: _W, Area.TOKENS: _NONE, Area.MEMBERS: _NONE,
                    Area.ACTIVITY: _NONE, Area.SECURITY: _NONE, Area.INTEGRATION: _W, Area.PRIVACY: _NONE},
    Role.VIEWER: {Area.CATALOG: _R, Area.SALES: _R, Area.TOKENS: _NONE, Area.MEMBERS: _NONE,
                  Area.ACTIVITY: _NONE, Area.SECURITY: _NONE, Area.INTEGRATION: _R, Area.PRIVACY: _NONE},
}

# Areas an API token can reach, and so the scopes a token may carry.
API_AREAS = (Area.CATALOG, Area.SALES, Area.MEMBERS, Area.INTEGRATION, Area.PRIVACY, Area.SECURITY)


def role_of(user: Any) -> Role | None:
    """Return the tenant role of ``user``, or None for anyone who is not an active tenant user."""
    role = getattr(user, "role", None)
    if role is None or not getattr(user, "is_active", False):
        return None
    try:
        return Role(role)
    except ValueError:
        return None


def has_permission(role: Role | str | None, area: Area, access: Access) -> bool:
    """Return whether ``role`` holds ``access`` on ``area``; unknown roles hold nothing."""
    if role is None:
        return False
    try:
        return access in MATRIX[Role(role)][area]
    except (KeyError, ValueError):
        return False


def can(user: Any, area: Area, access: Access) -> bool:
    """Return whether this signed-in tenant user may ``access`` ``area``."""
    return has_permission(role_of(user), area, access)


def require_permission(user: Any, area: Area, access: Access) -> None:
    """Raise PermissionDenied (403) unless ``user`` may ``access`` ``area``."""
    if not can(user, area, access):
        raise PermissionDenied(f"your role may not {access} {area}")


def permissions_for(role: Role | str | None) -> dict[str, list[str]]:
    """Return the role's row of the matrix as plain data (for the API and the console)."""
    if role is None:
        return {}
    row = MATRIX.get(Role(role), {})
    return {str(area): sorted(str(a) for a in row.get(area, _NONE)) for area in Area}


def grantable_scopes(role: Role | str | None) -> set[str]:
    """Return the concrete token scopes a person of ``role`` may put on a new API token."""
    return {f"{area}:{access}" for area in API_AREAS for access in Access
            if has_permission(role, area, access)}


def scope_within_role(scope: str, role: Role | str | None) -> bool:
    """Return whether a (possibly wildcard) scope only grants what ``role`` holds.

    ``*`` stands for every area (or action), including ones added later, so a wildcard is
    within a role only if the role holds every concrete scope it expands to today *and* the
    role holds everything on every API area (owners and admins).
    """
    resource, _, action = scope.partition(":")
    areas = [a for a in API_AREAS if resource in ("*", str(a))]
    actions = [a for a in Access if action in ("*", str(a))]
    if not areas or not actions:
        return False
    grantable = grantable_scopes(role)
    return all(f"{area}:{act}" in grantable for area in areas for act in actions)


def api_scope(area: Area, access: Access) -> str:
    """Return the token scope an API route of ``area`` needs for ``access`` (``members:write``)."""
    if area not in API_AREAS:
        raise ValueError(f"{area} is not reachable through the API")
    return f"{area}:{access}"
