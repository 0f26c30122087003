"""Authentication backends: tenant users and operators are looked up in different databases.

Django tries each backend whose ``authenticate`` signature fits the credentials given, so the
console's sign-in (tenant, email, password) only reaches :class:`TenantUserBackend` and the
operators' admin (username, password) only :class:`OperatorBackend`.
"""

from __future__ import annotations

import functools
import secrets
import uuid
from typing import Any

from django.contrib.auth.hashers import check_password, make_password
from django.http import HttpRequest

from bindery.accounts.models import Operator, User, email_is
from bindery.control.models import LocalTenant


@functools.cache
def _dummy_hash() -> str:
    return make_password(secrets.token_urlsafe(32))  # a real hash (an unusable one skips the work)


def _spend_hash_time(password: str) -> None:
    """Verify against a dummy hash: an unknown account does the same work as a wrong password.

    Verifying (not hashing anew) mirrors the known-account path operation for operation; the
    sign-in timing test showed hashing anew about 20% slower than a verification.
    """
    check_password(password, _dummy_hash())


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


class TenantUserBackend:
    def authenticate(
        self, request: HttpRequest | None, *, tenant_slug: str, email: str, password: str
    ) -> User | None:
        tenant = LocalTenant.objects.filter(slug=tenant_slug.strip().lower()).first()
        user = (
            User.objects.for_tenant(tenant).filter(email_is(tenant, email)).first()
            if tenant
            else None
        )
        if user is None:
            _spend_hash_time(password)
            return None
        if user.check_password(password) and user.is_active:
            return user
        return None

    def get_user(self, user_id: Any) -> User | None:
        pk = _uuid(user_id)
        if pk is None:
            return None
        return User.objects.unscoped().select_related("tenant").filter(pk=pk, is_active=True).first()


class OperatorBackend:
    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None
    ) -> Operator | None:
        if not username or password is None:
            return None
        operator = Operator.objects.filter(email__iexact=username.strip()).first()
        if operator is None:
            _spend_hash_time(password)
            return None
        if operator.check_password(password) and operator.is_active:
            return operator
        return None

    def get_user(self, user_id: Any) -> Operator | None:
        pk = _uuid(user_id)
        if pk is None:
            return None
        return Operator.objects.filter(pk=pk, is_active=True).first()
