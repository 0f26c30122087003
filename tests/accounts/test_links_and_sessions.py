"""Invitations, password resets, tracked sessions, timeouts, fixation and sign-in timing."""

from __future__ import annotations

import datetime as dt
import re
import statistics
import time

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from bindery.accounts import links
from bindery.accounts.actions import do_create_user
from bindery.accounts.models import (
    AccountEvent,
    LinkPurpose,
    OneTimeLink,
    Role,
    SecurityPolicy,
    User,
    UserSession,
    email_is,
)
from bindery.control.models import LocalTenant
from tests.conftest import PASSWORD, HttpsClient

pytestmark = pytest.mark.django_db(databases="__all__")

NEW_PASSWORD = "lantern orchard quietly 47"


def sign_in(client: HttpsClient, email: str = "owner@acme.example", password: str = PASSWORD) -> object:
    return client.post("/login/", {"workspace": "acme", "email": email, "password": password})


def link_in_last_mail(path: str) -> str:
    found = re.search(rf"https://[^/\s]+({path}[A-Za-z0-9_-]+/)", mail.outbox[-1].body)
    assert found is not None, mail.outbox[-1].body
    return found.group(1)


# --- invitations ------------------------------------------------------------------------------


def test_invitation_from_console_to_first_sign_in(client: HttpsClient, owner: User) -> None:
    sign_in(client)
    sent = client.post("/settings/members/invite/", {"email": "new@acme.example", "role": "operator"})
    assert sent.status_code == 302
    assert mail.outbox[-1].to == ["new@acme.example"]
    url = link_in_last_mail("/invitation/")
    token = url.rstrip("/").rsplit("/", 1)[-1]
    stored = OneTimeLink.objects.for_tenant(owner.tenant).get(email_is(owner.tenant, "new@acme.example"))
    assert stored.token_hash != token
    assert token not in stored.token_hash
    newcomer = HttpsClient()
    page = newcomer.get(url)
    assert page.status_code == 200
    assert b"Operator" in page.content
    weak = newcomer.post(url, {"name": "New", "password1": "short", "password2": "short"})
    assert weak.status_code == 400  # the password rules apply; the link is still usable
    joined = newcomer.post(url, {"name": "New Person", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert joined.status_code == 302
    assert newcomer.get("/").status_code == 200
    user = User.objects.for_tenant(owner.tenant).get(email_is(owner.tenant, "new@acme.example"))
    assert user.role == Role.OPERATOR
    assert user.check_password(NEW_PASSWORD)
    # Single use: the same link again, from anyone, is refused.
    again = HttpsClient().post(url, {"name": "X", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert again.status_code == 404
    kinds = set(AccountEvent.objects.for_tenant(owner.tenant).values_list("kind", flat=True))
    assert {"invitation.sent", "invitation.accepted"} <= kinds


def test_invitations_expire_and_can_be_withdrawn(client: HttpsClient, owner: User, tenant: LocalTenant) -> None:
    sign_in(client)
    client.post("/settings/members/invite/", {"email": "late@acme.example", "role": "viewer"})
    late = link_in_last_mail("/invitation/")
    OneTimeLink.objects.for_tenant(tenant).filter(email_is(tenant, "late@acme.example")).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert HttpsClient().get(late).status_code == 404
    client.post("/settings/members/invite/", {"email": "gone@acme.example", "role": "viewer"})
    gone = link_in_last_mail("/invitation/")
    row = OneTimeLink.objects.for_tenant(tenant).get(email_is(tenant, "gone@acme.example"), revoked_at__isnull=True)
    assert client.post(f"/settings/members/invitations/{row.pk}/revoke/").status_code == 302
    assert HttpsClient().get(gone).status_code == 404


def test_only_owners_invite_owners(tenant: LocalTenant, owner: User) -> None:
    admin = do_create_user(tenant, "admin@acme.example", PASSWORD, role=Role.ADMIN, actor="test")
    client = HttpsClient()
    sign_in(client, "admin@acme.example")
    client.post("/settings/members/invite/", {"email": "boss@acme.example", "role": "owner"})
    assert not OneTimeLink.objects.for_tenant(tenant).filter(email_is(tenant, "boss@acme.example")).exists()
    assert admin.role == Role.ADMIN


@pytest.mark.parametrize("token", ["", "x", "a" * 5000, "../../etc/passwd", "%00", "' OR '1'='1"])
def test_hostile_link_tokens_are_refused_cleanly(client: HttpsClient, owner: User, token: str) -> None:
    for path in ("/invitation/", "/password-reset/"):
        response = client.get(f"{path}{token}/")
        assert response.status_code in (403, 404)  # 403: the application firewall stopped it first
    with pytest.raises(links.LinkError):
        links.find_link(token, LinkPurpose.INVITATION)


# --- password reset ---------------------------------------------------------------------------


def test_reset_by_mail_ends_every_session_and_works_once(owner: User) -> None:
    elsewhere = HttpsClient()
    sign_in(elsewhere)
    assert elsewhere.get("/").status_code == 200
    asker = HttpsClient()
    answer = asker.post("/password-reset/", {"workspace": "acme", "email": "owner@acme.example"})
    assert answer.status_code == 200
    url = link_in_last_mail("/password-reset/")
    assert asker.post(url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}).status_code == 302
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)
    assert elsewhere.get("/").status_code == 302  # signed out everywhere
    other = "another long passphrase 9"
    reused = HttpsClient().post(url, {"password1": other, "password2": other})
    assert reused.status_code == 404
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)


def test_reset_request_says_the_same_for_unknown_accounts(client: HttpsClient, owner: User) -> None:
    known = client.post("/password-reset/", {"workspace": "acme", "email": "owner@acme.example"})
    unknown = client.post("/password-reset/", {"workspace": "acme", "email": "nobody@acme.example"})
    no_tenant = client.post("/password-reset/", {"workspace": "nowhere", "email": "owner@acme.example"})
    assert known.status_code == unknown.status_code == no_tenant.status_code == 200
    assert known.content == unknown.content == no_tenant.content
    assert len(mail.outbox) == 1


# --- sessions ---------------------------------------------------------------------------------


def test_session_key_changes_at_sign_in(client: HttpsClient, owner: User) -> None:
    """Fixation: a session key planted before sign-in is not the one used after it."""
    client.get("/login/")
    client.cookies["__Host-bindery_session"] = "plantedbyanattacker000000000000000"
    sign_in(client)
    assert client.cookies["__Host-bindery_session"].value != "plantedbyanattacker000000000000000"
    assert client.get("/").status_code == 200


def test_sessions_list_end_one_and_everywhere(owner: User) -> None:
    phone, laptop, tablet = HttpsClient(), HttpsClient(), HttpsClient()
    for c in (phone, laptop, tablet):
        sign_in(c)
    page = laptop.get("/account/sessions/")
    assert page.status_code == 200
    assert page.content.count(b"<tr") == 4  # header + three sessions
    phone_row = UserSession.objects.for_tenant(owner.tenant).filter(user=owner).order_by("created_at").first()
    assert phone_row is not None
    laptop.post("/account/sessions/", {"session": str(phone_row.pk)})
    assert phone.get("/").status_code == 302
    assert laptop.get("/").status_code == 200
    assert tablet.get("/").status_code == 200
    assert laptop.post("/account/sessions/", {"everywhere": "1"}).status_code == 302
    assert laptop.get("/").status_code == 302
    assert tablet.get("/").status_code == 302


def test_idle_and_absolute_timeouts(owner: User, tenant: LocalTenant) -> None:
    SecurityPolicy.objects.create(tenant=tenant, idle_minutes=10, absolute_hours=2)
    idle, old = HttpsClient(), HttpsClient()
    sign_in(idle)
    sign_in(old)
    rows = list(UserSession.objects.for_tenant(tenant).filter(user=owner).order_by("created_at"))
    UserSession.objects.for_tenant(tenant).filter(pk=rows[0].pk).update(
        last_seen_at=timezone.now() - dt.timedelta(minutes=11))
    UserSession.objects.for_tenant(tenant).filter(pk=rows[1].pk).update(
        created_at=timezone.now() - dt.timedelta(hours=3))
    assert idle.get("/").status_code == 302
    assert old.get("/").status_code == 302
    reasons = set(UserSession.objects.for_tenant(tenant).values_list("ended_reason", flat=True))
    assert reasons == {"idle", "expired"}


def test_session_cookie_flags(client: HttpsClient, owner: User) -> None:
    response = sign_in(client)
    cookie = response.cookies["__Host-bindery_session"]  # type: ignore[attr-defined]
    assert cookie["secure"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"


@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.Argon2PasswordHasher"])
def test_unknown_account_takes_as_long_as_a_wrong_password(owner: User) -> None:
    """Unknown account within 20% of a wrong password for a known one (medians, measured interleaved).

    Interleaving the two kinds of attempt gives both the same share of whatever else the machine
    is doing; each attempt comes from its own address so the brute-force guard treats them alike.
    """
    samples: dict[str, list[float]] = {"owner@acme.example": [], "nobody@acme.example": []}
    for n in range(24):
        for email_address, times in samples.items():
            client = HttpsClient(REMOTE_ADDR=f"198.51.{100 + n % 2}.{n + 1}")
            started = time.perf_counter()
            client.post("/login/", {"workspace": "acme", "email": email_address, "password": "wrong password 123"})
            times.append(time.perf_counter() - started)
    known = statistics.median(samples["owner@acme.example"][4:])  # the first rounds warm caches up
    unknown = statistics.median(samples["nobody@acme.example"][4:])
    assert abs(unknown - known) / known < 0.2, (known, unknown)


# --- outbox -----------------------------------------------------------------------------------


def test_outbox_backend_keeps_one_file_per_message(tmp_path: object, owner: User) -> None:
    from pathlib import Path

    from django.core.mail import send_mail

    from bindery.accounts.outbox import list_messages

    folder = Path(str(tmp_path)) / "outbox"
    with override_settings(EMAIL_BACKEND="bindery.accounts.outbox.OutboxBackend", BINDERY_OUTBOX_DIR=folder):
        send_mail("Hello", "first body", None, ["a@example.com"])
        send_mail("Again", "second body with a link https://x/invitation/abc/", None, ["b@example.com"])
        messages = list_messages()
        assert [m.subject for m in messages] == ["Again", "Hello"]
        assert "second body" in messages[0].body
        assert all(oct(p.stat().st_mode)[-3:] == "600" for p in folder.glob("*.eml"))
