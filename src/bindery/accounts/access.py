"""Tenant-scoped getters for accounts: another tenant's member is "not found", like a missing one."""

from __future__ import annotations

import uuid
from typing import Any

from bindery.accounts.models import User
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
    queryset = User.objects.for_tenant(tenant).order_by("email")
    if not include_removed:
        queryset = queryset.filter(is_active=True)
    return list(queryset[:1000])
