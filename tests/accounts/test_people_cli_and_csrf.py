"""``bindery users`` / ``bindery operators reset-mfa`` in-process, and CSRF on every console form."""

from __future__ import annotations

import re

import pyotp
import pytest
from django.core import mail
from django.urls import URLPattern, reverse

from bindery.accounts import mfa
from bindery.accounts.actions import do_create_operator
from bindery.accounts.models import AccountEvent, Operator, User
from bindery.cli import CommandFailed
from bindery.control.models import LocalTenant
from bindery.security.actions import do_create_api_token
from bindery.web import urls as web_urls
from tests.conftest import PASSWORD, HttpsClient
from tests.privacy.test_privacy_cli import bindery

pytestmark = pytest.mark.django_db(databases="__all__")


def _enrol(account: User | Operator) -> None:
    enrolment = mfa.start_enrolment(account)
    mfa.confirm_enrolment(account, pyotp.TOTP(enrolment.secret).now())


def test_users_cli_lists_invites_and_resets(owner: User, capsys: pytest.CaptureFixture[str]) -> None:
    _enrol(owner)
    assert bindery("users", "list", "--tenant", "acme") == 0
    listed = capsys.readouterr().out
    assert "owner@acme.example" in listed
    assert "mfa=on" in listed
    assert bindery("users", "invite", "--tenant", "acme", "--email", "cli@acme.example", "--role", "admin") == 0
    assert mail.outbox[-1].to == ["cli@acme.example"]
    assert bindery("users", "reset-mfa", "--tenant", "acme", "--email", "owner@acme.example") == 0
    assert not mfa.has_mfa(owner)
    assert AccountEvent.objects.for_tenant(owner.tenant).filter(kind="mfa.disabled").exists()
    with pytest.raises(CommandFailed, match="no tenant"):
        bindery("users", "list", "--tenant", "nowhere")
    with pytest.raises(CommandFailed, match="no member"):
        bindery("users", "reset-mfa", "--tenant", "acme", "--email", "ghost@acme.example")
    with pytest.raises(CommandFailed, match="already a member"):
        bindery("users", "invite", "--tenant", "acme", "--email", "owner@acme.example")


def test_operator_reset_mfa(capsys: pytest.CaptureFixture[str]) -> None:
    operator = do_create_operator("ops@bindery.example", PASSWORD, actor="test")
    _enrol(operator)
    assert bindery("operators", "reset-mfa", "ops@bindery.example") == 0
    assert "Removed" in capsys.readouterr().out
    assert not mfa.has_mfa(operator)
    with pytest.raises(CommandFailed):
        bindery("operators", "reset-mfa", "nobody@bindery.example")


def test_token_creation_is_in_the_activity_log(tenant: LocalTenant) -> None:
    do_create_api_token(tenant, "erp", ["catalog:read"], actor="test")
    event = AccountEvent.objects.for_tenant(tenant).get(kind="token.created")
    assert event.detail["scopes"] == ["catalog:read"]
    assert "bnd_" not in str(event.detail)


def test_every_console_form_refuses_a_post_without_csrf_token(owner: User) -> None:
    """A signed-in browser tricked into posting (no CSRF token) changes nothing, on every route."""
    client = HttpsClient(enforce_csrf_checks=True)
    form = client.get("/login/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    assert token is not None
    signed = client.post("/login/", {"workspace": "acme", "email": "owner@acme.example", "password": PASSWORD,
                                     "csrfmiddlewaretoken": token.group(1)}, HTTP_REFERER="https://testserver:80/login/")
    assert signed.status_code == 302
    assert client.get("/settings/members/").status_code == 200
    patterns = [p for p in web_urls.urlpatterns if isinstance(p, URLPattern)]
    sample = {"uuid": "00000000-0000-7000-8000-000000000000", "str": "x" * 10}
    refused = []
    for pattern in patterns:
        kwargs = {name: sample["uuid" if "id" in name else "str"] for name in pattern.pattern.converters}
        url = reverse(f"web:{pattern.name}", kwargs=kwargs)
        #
        response = client.post(url, {"name": "x", "everywhere": "1", "action": "disable"},
                               HTTP_REFERER="https://testserver:80/")
        assert response.status_code == 403, (url, response.status_code)
        refused.append(pattern.name)
    assert len(refused) == len(patterns) > 40
    assert client.get("/settings/members/").status_code == 200  # still signed in: nothing was done
    assert mfa.has_mfa(owner) is False
    assert User.objects.for_tenant(owner.tenant).count() == 1
