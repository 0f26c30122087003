"""Fixtures for delivery-host tests: real extra host databases on the suite's engine."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from bindery.control.routers import HOST_ALIAS_PREFIX

# Django's test case refuses connections to aliases it did not know when the test started;
# runtime host aliases are exactly that, so host tests let them through to the method Django's
# patch wraps (found in the patch's closure).


def _allow_host_aliases() -> Callable[[], None]:
    patched = BaseDatabaseWrapper.ensure_connection
    cells = dict(zip(patched.__code__.co_freevars, patched.__closure__ or (), strict=True))
    real = cells["real_ensure_connection"].cell_contents if "real_ensure_connection" in cells else patched

    def ensure_connection(self: BaseDatabaseWrapper) -> None:
        if self.alias.startswith(HOST_ALIAS_PREFIX):
            real(self)
        else:
            patched(self)

    BaseDatabaseWrapper.ensure_connection = ensure_connection  # type: ignore[method-assign]  # test harness

    def restore() -> None:
        BaseDatabaseWrapper.ensure_connection = patched  # type: ignore[method-assign]  # test harness

    return restore


def _drop_alias(alias: str) -> None:
    if alias in connections.settings:
        connections[alias].close()
        del connections.settings[alias]


@pytest.fixture
def host_database_url(tmp_path: Path, request: pytest.FixtureRequest
                      ) -> Iterator[Callable[[], str]]:
    """Return a factory of URLs for fresh, not yet existing host databases; drop them afterwards.

    On SQLite a file in the test's folder; on PostgreSQL a database on the suite's server, with
    the suite's role (which may create databases).
    """
    request.getfixturevalue("_django_db_helper")  # Django's test case first, so its patch is underneath
    restore = _allow_host_aliases()
    made: list[str] = []
    default = connections["default"].settings_dict

    def make() -> str:
        name = f"bh_extra_{uuid.uuid4().hex[:12]}"
        made.append(name)
        if connections["default"].vendor == "sqlite":
            return f"sqlite:///{tmp_path / (name + '.sqlite3')}"
        auth = default["USER"] + (f":{default['PASSWORD']}" if default.get("PASSWORD") else "")
        return f"postgres://{auth}@{default['HOST'] or '127.0.0.1'}:{default['PORT'] or 5432}/{name}"

    yield make
    restore()
    for alias in [a for a in list(connections.settings) if a.startswith(HOST_ALIAS_PREFIX)]:
        _drop_alias(alias)
    if connections["default"].vendor == "postgresql" and made:
        import psycopg
        from psycopg import sql

        kwargs = {"host": default["HOST"] or "127.0.0.1", "port": default["PORT"] or 5432,
                  "user": default["USER"], "dbname": "postgres", "autocommit": True}
        if default.get("PASSWORD"):
            kwargs["password"] = default["PASSWORD"]
        with psycopg.connect(**kwargs) as conn:
            for name in made:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(autouse=True)
def _fresh_directory() -> Iterator[None]:
    """Each test starts and ends with an empty directory cache (tenant ids repeat across tests)."""
    from bindery.control import directory

    directory.clear()
    yield
    directory.clear()


@pytest.fixture
def ops_client(db: None) -> object:
    """A client signed in as an operator through the /ops/ sign-in form.

    The one place operator sign-in happens in these tests: when /ops/ sign-in gains a second
    factor, only this fixture changes.
    """
    from bindery.accounts.actions import do_create_operator
    from tests.conftest import PASSWORD, HttpsClient, operator_sign_in

    do_create_operator("ops@bindery.example", PASSWORD, actor="test")
    client = HttpsClient()
    response = operator_sign_in(client, "ops@bindery.example", PASSWORD)
    assert response.status_code == 302, response.content
    return client
