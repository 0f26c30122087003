"""Tenant-scoped getters for accounts: another tenant's member is "not found", like a missing one."""

from __future__ import annotations

import uuid
from typing import Any

from django.utils.functional import SimpleLazyObject, empty

from bindery.accounts.models import User, by_email
from bindery.control.models import LocalTenant


class MemberNotFound(LookupError):
    pass


def access_member_by_id(tenant: LocalTenant, member_id: Any, *, for_write: bool) -> User:
    """Return the tenant's user with this id; raise MemberNotFound for unknown or foreign ids."""
    try:
        pk = uuid.UUID(str(member_id))
    except ValueError:
        raise MemberNotFound(str(member_id)) from None
    queryset = User.objects.for_tenant(tenant).filter(pk=pk)
    if for_write:
        queryset = queryset.select_for_update()
    user = queryset.first()
    if user is None:
        raise MemberNotFound(str(member_id))
    return user


def list_members(tenant: LocalTenant, *, include_removed: bool = False) -> list[User]:
    queryset = User.objects.for_tenant(tenant).order_by("pk")
    if not include_removed:
        queryset = queryset.filter(is_active=True)
    return by_email(queryset[:1000])


def unwrap_user(user: Any) -> Any:
    """Return the real user behind ``request.user``'s lazy wrapper.

    Actions record ``actor_label(actor)``, which names the actor's class: the lazy wrapper would
    be logged as ``simplelazyobject:<id>`` instead of ``user:<id>``.
    """
    if isinstance(user, SimpleLazyObject):
        if user._wrapped is empty:  # type: ignore[attr-defined]  # Django's lazy object, not in the stubs
            user._setup()  # type: ignore[attr-defined]
        return user._wrapped  # type: ignore[attr-defined]
    return user
