"""Invitations and password resets: e-mailed, single-use, expiring links.

The link carries 256 random bits; the database keeps only a keyed hash (HMAC-SHA256 with the
secret key), so a copy of the database opens no account. Acting on a link locks its row and sets
``used_at`` in the same transaction: a second click, or two clicks at once, find it used.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from bindery.accounts import sessions
from bindery.accounts.actions import MemberActionError, MemberError, clean_email
from bindery.accounts.activity import EventKind, record_event
from bindery.accounts.models import LinkPurpose, OneTimeLink, Role, User, email_is
from bindery.control.actors import actor_label
from bindery.control.models import LocalTenant
from bindery.control.routers import HOST

logger = logging.getLogger(__name__)

INVITATION_LIFETIME = dt.timedelta(days=7)
RESET_LIFETIME = dt.timedelta(hours=1)
TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 100  # a longer "token" is refused before hashing
HASH_SALT = "bindery.accounts.one_time_link"


class LinkError(ValueError):
    """The link cannot be used (unknown, used, expired or revoked); one message for all."""


def hash_link_token(token: str) -> str:
    return salted_hmac(HASH_SALT, token, algorithm="sha256").hexdigest()


def _absolute(path: str) -> str:
    return f"{settings.BINDERY_PUBLIC_URL}{path}"


def _open_link(token: str, purpose: LinkPurpose, *, lock: bool) -> OneTimeLink:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise LinkError("this link is not valid")
    queryset = OneTimeLink.objects.unscoped().select_related("tenant").filter(
        token_hash=hash_link_token(token), purpose=purpose)
    if lock:
        queryset = queryset.select_for_update()
    link = queryset.first()
    if link is None or link.used_at or link.revoked_at or link.expires_at <= timezone.now():
        raise LinkError("this link is not valid any more; ask for a new one")
    return link


def find_link(token: str, purpose: LinkPurpose) -> OneTimeLink:
    """Return the open link for this token, or raise LinkError."""
    return _open_link(token, purpose, lock=False)


# --- invitations ------------------------------------------------------------------------------


def do_invite(tenant: LocalTenant, email: str, role: Role | str, *, actor: Any,
              request: HttpRequest | None = None) -> OneTimeLink:
    """Invite ``email`` to join with ``role``; an earlier open invitation for it is revoked."""
    email = clean_email(email)
    try:
        new_role = Role(role)
    except ValueError:
        raise MemberActionError(MemberError.UNKNOWN_ROLE, f"unknown role {role!r}") from None
    if new_role == Role.OWNER and getattr(actor, "role", Role.ADMIN) != Role.OWNER:
        raise MemberActionError(MemberError.OWNERS_ONLY, "only an owner can invite an owner")
    if User.objects.for_tenant(tenant).filter(email_is(tenant, email), is_active=True).exists():
        raise MemberActionError(MemberError.ALREADY_MEMBER, f"{email} is already a member")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    with transaction.atomic(using=HOST):
        OneTimeLink.objects.for_tenant(tenant).filter(
            email_is(tenant, email), purpose=LinkPurpose.INVITATION, used_at__isnull=True,
            revoked_at__isnull=True).update(revoked_at=now)
        link = OneTimeLink.objects.create(
            tenant=tenant, purpose=LinkPurpose.INVITATION, email=email, role=new_role,
            token_hash=hash_link_token(token), created_by=actor_label(actor),
            expires_at=now + INVITATION_LIFETIME)
        record_event(tenant.pk, EventKind.INVITATION_SENT, actor=actor, email=email, request=request,
                     detail={"role": str(new_role)})
    url = _absolute(reverse("web:invitation", args=[token]))
    send_mail(f"You are invited to {tenant.name} on Bindery",
              f"{getattr(actor, 'email', 'Someone')} invited you to the workspace {tenant.name} "
              f"({tenant.slug}) as {new_role.label}.\n\nAccept within 7 days:\n{url}\n\n"
              "If you did not expect this, ignore this message.",
              None, [email])
    return link


def do_revoke_invitation(link: OneTimeLink, *, actor: Any) -> None:
    with transaction.atomic(using=HOST):
        updated = OneTimeLink.objects.unscoped().filter(pk=link.pk, used_at__isnull=True,
                                                        revoked_at__isnull=True).update(revoked_at=timezone.now())
        if updated:
            record_event(link.tenant_id, EventKind.INVITATION_REVOKED, actor=actor, email=link.email)


def open_invitations(tenant: LocalTenant) -> list[OneTimeLink]:
    return list(OneTimeLink.objects.for_tenant(tenant).filter(
        purpose=LinkPurpose.INVITATION, used_at__isnull=True, revoked_at__isnull=True,
        expires_at__gt=timezone.now()).order_by("-created_at")[:200])


def do_accept_invitation(token: str, *, name: str, password: str, request: HttpRequest | None = None) -> User:
    """Create (or bring back) the invited account; the link works once."""
    with transaction.atomic(using=HOST):
        link = _open_link(token, LinkPurpose.INVITATION, lock=True)
        user = User.objects.for_tenant(link.tenant).select_for_update().filter(
            email_is(link.tenant, link.email)).first()
        if user is not None and user.is_active:
            raise LinkError("this account exists already; sign in instead")
        if user is None:
            user = User(tenant=link.tenant, email=link.email)
        user.name = name.strip()[:200]
        user.role = link.role or Role.VIEWER
        user.is_active = True
        user.must_change_password = False
        validate_password(password, user)
        user.set_password(password)
        user.save()
        link.used_at = timezone.now()
        link.user = user
        link.save(update_fields=["used_at", "user"])
        record_event(link.tenant_id, EventKind.INVITATION_ACCEPTED, actor=user, user=user, request=request,
                     detail={"role": str(user.role), "invited_by": link.created_by})
    return user


# --- password resets --------------------------------------------------------------------------


def do_request_password_reset(tenant_slug: str, email: str, *, request: HttpRequest | None = None) -> None:
    """E-mail a reset link if the account exists; say nothing either way (no account discovery)."""
    tenant = LocalTenant.objects.filter(slug=str(tenant_slug).strip().lower()[:63]).first()
    user = (User.objects.for_tenant(tenant).filter(email_is(tenant, str(email)[:254]), is_active=True).first()
            if tenant else None)
    if user is None:
        logger.info("password reset for an unknown account", extra={"event": "account.reset_unknown"})
        return
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with transaction.atomic(using=HOST):
        OneTimeLink.objects.create(
            tenant_id=user.tenant_id, purpose=LinkPurpose.PASSWORD_RESET, email=user.email, user=user,
            token_hash=hash_link_token(token), created_by=actor_label(user),
            expires_at=timezone.now() + RESET_LIFETIME)
        record_event(user.tenant_id, EventKind.PASSWORD_RESET_REQUESTED, actor=user, user=user, request=request)
    url = _absolute(reverse("web:password_reset_confirm", args=[token]))
    send_mail("Reset your Bindery password",
              f"Someone asked to reset the password of {user.email} in the workspace {user.tenant.slug}.\n\n"
              f"Choose a new password within an hour:\n{url}\n\n"
              "If it was not you, ignore this message: your password stays as it is.",
              None, [user.email])


def do_reset_password(token: str, password: str, *, request: HttpRequest | None = None) -> User:
    """Set a new password through a reset link; every session of the account ends."""
    with transaction.atomic(using=HOST):
        link = _open_link(token, LinkPurpose.PASSWORD_RESET, lock=True)
        user = User.objects.for_tenant(link.tenant).select_for_update().filter(pk=link.user_id, is_active=True).first()
        if user is None:
            raise LinkError("this link is not valid any more; ask for a new one")
        validate_password(password, user)
        user.set_password(password)
        user.must_change_password = False
        user.save(update_fields=["password", "must_change_password"])
        now = timezone.now()
        # Every other reset link of this account dies with this one.
        OneTimeLink.objects.for_tenant(link.tenant).filter(
            purpose=LinkPurpose.PASSWORD_RESET, user=user, used_at__isnull=True).update(used_at=now)
        sessions.end_sessions(user, reason="password_reset")
        record_event(link.tenant_id, EventKind.PASSWORD_RESET, actor=user, user=user, request=request)
    return user
