"""PostgreSQL row-level security: the database itself keeps a tenant's scope to its own rows."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from bindery.accounts.actions import do_create_user
from bindery.accounts.models import Role, User
from bindery.control.models import LocalTenant
from bindery.control.rls import POLICY, install_policies, tenant_scope, tenant_tables
from tests.conftest import PASSWORD, HttpsClient

pytestmark = pytest.mark.django_db(databases="__all__")
on_postgres = pytest.mark.skipif("connection.vendor != 'postgresql'",
                                 reason="row-level security is a PostgreSQL feature; SQLite is single-tenant-file")


def raw_user_ids() -> set[str]:
    """Bypass the ORM and its manager entirely (ids: members' e-mails are encrypted at rest)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM accounts_user")
        return {str(row[0]) for row in cursor.fetchall()}


@pytest.fixture
def users(tenant: LocalTenant, other_tenant: LocalTenant) -> tuple[User, User]:
    return (do_create_user(tenant, "a@acme.example", PASSWORD, role=Role.OWNER, actor="test"),
            do_create_user(other_tenant, "b@globex.example", PASSWORD, role=Role.OWNER, actor="test"))


def test_sqlite_has_no_policies_to_install() -> None:
    """On SQLite installing policies is a no-op (each host file is the wall); on PostgreSQL it covers every table."""
    count = install_policies()
    if connection.vendor == "postgresql":
        assert count == len(tenant_tables()) > 0
    else:
        assert count == 0


@on_postgres
def test_suite_does_not_run_as_superuser() -> None:
    """The suite's database role is not a superuser (superusers bypass row-level security)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False), "connect the suite as a non-superuser role (make pg-role)"


@on_postgres
def test_every_tenant_table_has_the_policy() -> None:
    """Migrations leave the isolation policy, enabled and forced, on every tenant-owned table."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_policies WHERE policyname = %s", [POLICY])
        covered = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT relname FROM pg_class WHERE relrowsecurity AND relforcerowsecurity")
        forced = {row[0] for row in cursor.fetchall()}
    assert set(tenant_tables()) <= covered
    assert set(tenant_tables()) <= forced


@on_postgres
def test_raw_sql_inside_a_scope_sees_one_tenant(users: tuple[User, User], tenant: LocalTenant) -> None:
    """Raw SQL that ignores the manager still sees only the scoped tenant's rows."""
    a, b = (str(user.pk) for user in users)
    assert raw_user_ids() == {a, b}
    with tenant_scope(tenant.pk):
        assert raw_user_ids() == {a}
    assert raw_user_ids() == {a, b}


@on_postgres
def test_writes_into_another_tenant_are_refused(users: tuple[User, User], tenant: LocalTenant,
                                                other_tenant: LocalTenant) -> None:
    """Inside tenant A's scope, moving or writing a row into tenant B fails in the database."""
    with tenant_scope(tenant.pk):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE accounts_user SET tenant_id = %s", [other_tenant.pk])
        with connection.cursor() as cursor:
            cursor.execute("UPDATE accounts_user SET name = 'x'")
            assert cursor.rowcount == 1  # B's row is invisible, so untouched


@on_postgres
def test_console_request_runs_in_the_users_scope(users: tuple[User, User], client: HttpsClient) -> None:
    """A signed-in user's request is scoped, and the scope is cleared when the response leaves."""
    from django.urls import path

    seen: list[set[str]] = []

    def probe(request: object) -> object:
        from django.http import HttpResponse

        seen.append(raw_user_ids())
        return HttpResponse("ok")

    from django.test import override_settings

    import bindery.urls

    urls = type("urls", (), {"urlpatterns": [path("probe/", probe), *bindery.urls.urlpatterns]})
    client.post("/login/", {"workspace": "acme", "email": "a@acme.example", "password": PASSWORD})
    with override_settings(ROOT_URLCONF=urls):
        assert client.get("/probe/").status_code == 200
    assert seen == [{str(users[0].pk)}]
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('bindery.tenant_id', true)")
        assert cursor.fetchone()[0] in ("", None)
