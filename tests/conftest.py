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
from tests.support.pgcluster import private_postgres  # noqa: F401  (a fixture, for every test folder)

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


def operator_sign_in(client: HttpsClient, email: str, password: str) -> object:
    """Sign an operator in to /ops/ as a person does: password, then the second step.

    At the first sign-in the page shows a new authenticator key; the code is computed from it.
    Later sign-ins compute the code from the key the device was enrolled with (kept on the client).
    Returns the password step's response (200 with errors when the password is wrong).
    """
    import re
    import time

    import pyotp

    first = client.post("/ops/login/?next=/ops/", {"username": email, "password": password})
    if first.status_code != 302 or not first["Location"].startswith("/ops/mfa/"):
        return first
    page = client.get("/ops/mfa/")
    found = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.content.decode())
    secrets_by_email = getattr(client, "_operator_totp", {})
    secret = found.group(1) if found else secrets_by_email[email]
    client._operator_totp = {**secrets_by_email, email: secret}  # type: ignore[attr-defined]
    code = pyotp.TOTP(secret).now() if found else pyotp.TOTP(secret).at(time.time() + 30)
    second = client.post("/ops/mfa/", {"code": code})
    assert second.status_code in (200, 302), second.content
    return first
