"""Tenant isolation: unscoped queries on tenant-owned models refuse to run."""

from __future__ import annotations

import uuid

import pytest

from bindery.accounts.actions import do_create_user
from bindery.accounts.models import Role, User
from bindery.control.models import LocalTenant
from bindery.control.tenancy import UnscopedQueryError, new_id
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def two_users(tenant: LocalTenant, other_tenant: LocalTenant) -> tuple[User, User]:
    mine = do_create_user(tenant, "a@acme.example", PASSWORD, role=Role.ADMIN, actor="test")
    theirs = do_create_user(other_tenant, "a@globex.example", PASSWORD, role=Role.ADMIN, actor="test")
    return mine, theirs


@pytest.mark.parametrize(
    "query",
    [
        lambda: list(User.objects.all()),
        lambda: User.objects.filter(role__contains="a").first(),  # e-mails are encrypted: no SQL match on them
        lambda: User.objects.get(role="admin"),
        lambda: User.objects.count(),
        lambda: User.objects.exists(),
        lambda: User.objects.filter(role="admin").update(role="viewer"),
        lambda: User.objects.all().delete(),
        lambda: User.objects.values_list("email", flat=True)[0],
        lambda: list(User.objects.iterator()),
        lambda: User.objects.aggregate(n=__import__("django.db.models", fromlist=["Count"]).Count("id")),
    ],
)
def test_unscoped_queries_raise(two_users: tuple[User, User], query: object) -> None:
    """Every way of running an unscoped query raises instead of reading all tenants."""
    with pytest.raises(UnscopedQueryError):
        query()  # type: ignore[operator]
    assert User.objects.unscoped().count() == 2  # nothing was changed by the refused writes


def test_scoped_queries_see_only_their_tenant(two_users: tuple[User, User], tenant: LocalTenant,
                                              other_tenant: LocalTenant) -> None:
    """for_tenant limits reads and writes to one tenant; another tenant's row is simply absent."""
    mine, theirs = two_users
    assert list(User.objects.for_tenant(tenant)) == [mine]
    assert not User.objects.for_tenant(tenant).filter(pk=theirs.pk).exists()
    assert User.objects.for_tenant(tenant).update(role="viewer") == 1
    theirs.refresh_from_db()
    assert theirs.role == "admin"
    assert User.objects.for_tenant(tenant.pk).count() == 1  # a bare id works too
    assert User.objects.for_tenant(None).count() == 0  # no tenant resolved means nothing


def test_ids_are_uuid7_and_time_ordered() -> None:
    """Ids are version-7 UUIDs that sort by creation time."""
    ids = [new_id() for _ in range(50)]
    assert all(isinstance(i, uuid.UUID) and i.version == 7 for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == 50


def test_email_is_unique_per_tenant_only(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    """The same e-mail may exist in two tenants but not twice (any case) in one."""
    from django.db import IntegrityError, transaction

    do_create_user(tenant, "same@x.example", PASSWORD, role=Role.VIEWER, actor="test")
    do_create_user(other_tenant, "same@x.example", PASSWORD, role=Role.VIEWER, actor="test")
    with pytest.raises(IntegrityError), transaction.atomic():
        do_create_user(tenant, "SAME@x.example", PASSWORD, role=Role.VIEWER, actor="test")
