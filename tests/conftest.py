"""Fixtures shared by the whole suite.

The Makefile runs the suite twice, on SQLite and on PostgreSQL, by setting the BINDERY_*
database URLs; pytest-django creates throw-away test databases for both aliases.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from bindery.accounts.actions import do_create_user
from bindery.accounts.models import Role, User
from bindery.control.actions import do_create_tenant
from bindery.control.models import LocalTenant

PASSWORD = "correct horse battery staple"


class HttpsClient(Client):
    """Django's test client speaking as if over TLS, the only way requests reach Django."""

    def request(self, **request: Any) -> Any:
        request["wsgi.url_scheme"] = "https"
        request.setdefault("SERVER_PORT", "443")
        return super().request(**request)


@pytest.fixture
def client() -> HttpsClient:
    return HttpsClient()


@pytest.fixture
def tenant(db: None) -> LocalTenant:
    do_create_tenant("acme", "Acme Ltd", actor="test")
    return LocalTenant.objects.get(slug="acme")


@pytest.fixture
def other_tenant(db: None) -> LocalTenant:
    do_create_tenant("globex", "Globex Corp", actor="test")
    return LocalTenant.objects.get(slug="globex")


@pytest.fixture
def owner(tenant: LocalTenant) -> User:
    return do_create_user(tenant, "owner@acme.example", PASSWORD, role=Role.OWNER, actor="test")


@pytest.fixture(autouse=True)
def _fresh_ban_cache() -> None:
    """Each test starts without another test's bans in the process-wide blacklist copy."""
    from bindery.security import iprules
    from bindery.security.bruteforce import BannedSources

    BannedSources.forget()
    iprules.GlobalRules.forget()
    iprules.TenantRules.forget()
    iprules._last_event.clear()
