"""API token scopes: ``<resource>:<action>``, with ``*`` as a wildcard on either side.

Rules (checked by :func:`bindery.security.access.has_scope`):

- ``catalog:read`` grants exactly that; ``catalog:write`` grants writing *and reading* the
  catalog (an integration that writes products must be able to read them back);
- ``*:read`` grants reading every resource, ``catalog:*`` everything on the catalog, ``*:*``
  everything (including resources added later, so grant it sparingly);
- a required scope is always concrete (``catalog:write``); wildcards only appear in grants.
"""

from __future__ import annotations

from collections.abc import Iterable

from bindery.security.errors import TokenActionError, TokenError

RESOURCES = ("catalog", "sales", "integration", "privacy", "members", "security")
ACTIONS = ("read", "write")
WILDCARD = "*"


def split_scope(scope: str) -> tuple[str, str] | None:
    """Return (resource, action) of a well-formed scope, wildcards allowed; None otherwise."""
    resource, sep, action = scope.partition(":")
    if not sep or (resource not in RESOURCES and resource != WILDCARD):
        return None
    if action not in ACTIONS and action != WILDCARD:
        return None
    return resource, action


def all_scopes() -> list[str]:
    """Return every grantable scope, for help texts and error messages."""
    concrete = [f"{r}:{a}" for r in RESOURCES for a in ACTIONS]
    wild = [f"{WILDCARD}:{a}" for a in ACTIONS] + [f"{r}:{WILDCARD}" for r in RESOURCES]
    return [*concrete, *wild, f"{WILDCARD}:{WILDCARD}"]


def normalize_scopes(scopes: Iterable[str]) -> list[str]:
    """Return the scopes stripped, de-duplicated and sorted; raise TokenActionError on an unknown one."""
    cleaned = sorted({s.strip() for s in scopes if s.strip()})
    if not cleaned:
        raise TokenActionError(TokenError.NO_SCOPES, "a token needs at least one scope")
    unknown = [s for s in cleaned if split_scope(s) is None]
    if unknown:
        raise TokenActionError(
            TokenError.UNKNOWN_SCOPE,
            f"unknown scope {', '.join(repr(s) for s in unknown)}; use {', '.join(all_scopes())}",
        )
    return cleaned


def scope_grants(granted: str, required: str) -> bool:
    """Return whether one granted scope covers one concrete required scope."""
    have, need = split_scope(granted), split_scope(required)
    if have is None or need is None or WILDCARD in need:
        return False
    resource_ok = have[0] in (need[0], WILDCARD)
    action_ok = have[1] in (need[1], WILDCARD) or (need[1] == "read" and have[1] == "write")
    return resource_ok and action_ok
