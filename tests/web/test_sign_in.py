"""Console sign-in through Django's test client: the happy path and everything hostile."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from bindery.accounts.models import User
from tests.conftest import PASSWORD, HttpsClient

pytestmark = pytest.mark.django_db(databases="__all__")

GENERIC_ERROR = "The workspace, e-mail or password is not right."


def sign_in(client: Client, workspace: str, email: str, password: str, **extra: str) -> object:
    return client.post("/login/", {"workspace": workspace, "email": email, "password": password, **extra})


def test_sign_in_lands_on_home(client: HttpsClient, owner: User) -> None:
    """Right workspace, e-mail (any case) and password sign in and show the tenant's home."""
    response = sign_in(client, "acme", "OWNER@acme.example", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert b"Acme Ltd" in home.content


def test_session_is_rotated_at_sign_in(client: HttpsClient, owner: User) -> None:
    """The session key before sign-in is not the one after (no session fixation)."""
    client.get("/login/")
    session = client.session
    session["probe"] = 1
    session.save()
    before = session.session_key
    sign_in(client, "acme", "owner@acme.example", PASSWORD)
    assert client.session.session_key != before


@pytest.mark.parametrize(
    ("workspace", "email", "password"),
    [
        ("acme", "owner@acme.example", "wrong password!!"),
        ("acme", "nobody@acme.example", PASSWORD),
        ("globex", "owner@acme.example", PASSWORD),
        ("missing", "owner@acme.example", PASSWORD),
    ],
)
def test_wrong_credentials_get_one_generic_answer(client: HttpsClient, owner: User, workspace: str,
                                                 email: str, password: str) -> None:
    """Unknown workspace, unknown e-mail and wrong password look exactly the same."""
    response = sign_in(client, workspace, email, password)
    assert response.status_code == 400
    assert GENERIC_ERROR.encode() in response.content
    assert "_auth_user_id" not in client.session


def test_inactive_user_cannot_sign_in(client: HttpsClient, owner: User) -> None:
    """A deactivated account is refused with the same generic answer."""
    User.objects.for_tenant(owner.tenant).filter(pk=owner.pk).update(is_active=False)
    assert sign_in(client, "acme", "owner@acme.example", PASSWORD).status_code == 400


@pytest.mark.parametrize(
    "fields",
    [
        {"workspace": "a" * 10_000, "email": "x@y.z", "password": "p"},
        {"workspace": "acme", "email": "not-an-email", "password": "p"},
        {"workspace": "acme' OR 1=1 --", "email": "owner@acme.example", "password": "' OR ''='"},
        {"workspace": "acme", "email": "owner@acme.example", "password": "x" * 100_000},
        {"workspace": "acme\x00", "email": "owner@acme.example\x00", "password": "\x00"},
        {},
    ],
)
def test_hostile_input_is_a_clear_400(client: HttpsClient, owner: User, fields: dict[str, str],
                                      settings: Any) -> None:
    """Oversized, malformed and injection-shaped fields give a 400 form, never a 500 or a session.

    The form's own checks, behind the application firewall (which would refuse the SQL first).
    """
    settings.BINDERY_WAF_MODE = "detect"
    response = client.post("/login/", fields)
    assert response.status_code == 400
    assert "_auth_user_id" not in client.session


def test_open_redirect_is_refused(client: HttpsClient, owner: User) -> None:
    """A `next` pointing at another site is ignored after sign-in."""
    response = sign_in(client, "acme", "owner@acme.example", PASSWORD, next="https://evil.example/")
    assert response["Location"] == "/"


def test_csrf_is_enforced() -> None:
    """A sign-in POST without the CSRF token is refused."""
    csrf_client = HttpsClient(enforce_csrf_checks=True)
    response = csrf_client.post("/login/", {"workspace": "acme", "email": "a@b.c", "password": "x"})
    assert response.status_code == 403


def test_home_requires_sign_in(client: HttpsClient) -> None:
    """Anonymous visitors are sent to the sign-in page."""
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_must_change_password_then_other_sessions_end(owner: User) -> None:
    """A flagged account is sent to change its password; changing it ends its other sessions."""
    User.objects.for_tenant(owner.tenant).filter(pk=owner.pk).update(must_change_password=True)
    first, second = HttpsClient(), HttpsClient()
    sign_in(first, "acme", "owner@acme.example", PASSWORD)
    sign_in(second, "acme", "owner@acme.example", PASSWORD)
    assert first.get("/")["Location"] == "/account/password/"
    new = "a much longer new passphrase"
    response = first.post("/account/password/", {"old_password": PASSWORD, "new_password1": new,
                                                  "new_password2": new})
    assert response.status_code == 302
    assert first.get("/").status_code == 200  # the changing session stays
    assert second.get("/").status_code == 302  # the other one is over
    owner.refresh_from_db()
    assert owner.check_password(new)
    assert not owner.must_change_password


def test_common_and_short_passwords_are_refused(client: HttpsClient, owner: User) -> None:
    """The password rules refuse short and common passwords."""
    sign_in(client, "acme", "owner@acme.example", PASSWORD)
    for bad in ("short", "password1234"):
        response = client.post("/account/password/", {"old_password": PASSWORD, "new_password1": bad,
                                                       "new_password2": bad})
        assert response.status_code == 200
        assert b"error" in response.content
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


def test_plain_http_is_redirected_to_https(owner: User) -> None:
    """A request that did not come over TLS is redirected by Django too (defence in depth)."""
    response = Client().get("/login/")
    assert response.status_code == 301
    assert response["Location"].startswith("https://")


def test_sign_out_needs_post(client: HttpsClient, owner: User) -> None:
    """Signing out is a POST (a link or image cannot sign a user out)."""
    sign_in(client, "acme", "owner@acme.example", PASSWORD)
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302
