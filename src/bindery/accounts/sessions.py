"""Signed-in browsers of tenant users: listed, ended one by one or everywhere, timed out.

Every sign-in (``user_logged_in``) records a :class:`UserSession` under a keyed hash of the
session key. :class:`SessionGuardMiddleware` checks that row on each request, so ending a session
takes effect on its next request whatever the session store holds, and the tenant's idle and
absolute timeouts apply. "Sudo mode" is a time stamp in the session: sensitive actions ask for the
password (and second factor) again when it is older than :data:`SUDO_LIFETIME`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

from django.contrib import auth
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from bindery.accounts.access import unwrap_user
from bindery.accounts.models import SecurityPolicy, User, UserSession
from bindery.security.client_ip import client_ip

V = TypeVar("V", bound=Callable[..., HttpResponseBase])

SUDO_LIFETIME = dt.timedelta(minutes=15)
TOUCH_EVERY = dt.timedelta(seconds=60)  # last_seen_at is written at most this often
SUDO_KEY = "bindery_sudo_until"
HASH_SALT = "bindery.accounts.session_key"
DEFAULT_POLICY = SecurityPolicy()  # the model's field defaults, for tenants that never changed them


def key_hash(session_key: str) -> str:
    return salted_hmac(HASH_SALT, session_key, algorithm="sha256").hexdigest()


def policy_for(tenant_id: Any) -> SecurityPolicy:
    return SecurityPolicy.objects.for_tenant(tenant_id).first() or DEFAULT_POLICY


def grant_sudo(request: HttpRequest) -> None:
    request.session[SUDO_KEY] = (timezone.now() + SUDO_LIFETIME).isoformat()


def in_sudo(request: HttpRequest) -> bool:
    until = request.session.get(SUDO_KEY)
    try:
        return bool(until) and dt.datetime.fromisoformat(str(until)) > timezone.now()
    except (TypeError, ValueError):
        return False


@receiver(user_logged_in)
def record_session(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """Every sign-in of a tenant user opens a session row; a fresh sign-in counts as sudo."""
    if request is None or not isinstance(user, User) or not hasattr(request, "session"):
        return
    if request.session.session_key is None:
        request.session.save()
    key = request.session.session_key
    assert key is not None
    now = timezone.now()
    UserSession.objects.for_tenant(user.tenant_id).update_or_create(
        key_hash=key_hash(key),
        defaults={"tenant_id": user.tenant_id, "user": user, "ip": client_ip(request) or None,
                  "user_agent": request.headers.get("User-Agent", "")[:300], "last_seen_at": now,
                  "ended_at": None, "ended_reason": ""})
    grant_sudo(request)


@receiver(user_logged_out)
def close_session(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """Signing out ends the row too, so the sessions list shows only browsers still signed in."""
    if request is None or not isinstance(user, User) or not hasattr(request, "session"):
        return
    key = request.session.session_key
    if key:
        UserSession.objects.for_tenant(user.tenant_id).filter(key_hash=key_hash(key), ended_at__isnull=True).update(
            ended_at=timezone.now(), ended_reason="signed_out")


def active_sessions(user: User) -> list[UserSession]:
    return list(UserSession.objects.for_tenant(user.tenant_id).filter(user=user, ended_at__isnull=True)
                .order_by("-last_seen_at")[:100])


def current_session_id(request: HttpRequest) -> Any:
    key = request.session.session_key
    if not key:
        return None
    return UserSession.objects.unscoped().filter(key_hash=key_hash(key)).values_list("pk", flat=True).first()


def follow_new_key(request: HttpRequest, old_key: str | None) -> None:
    """After Django rotated this request's session key (password change), move its row along."""
    new_key = request.session.session_key
    if old_key and new_key and old_key != new_key:
        UserSession.objects.unscoped().filter(key_hash=key_hash(old_key)).update(key_hash=key_hash(new_key))


def end_sessions(user: User, *, reason: str, keep: HttpRequest | None = None) -> int:
    """End every open session of ``user`` (but ``keep``'s own); return how many ended."""
    sessions = UserSession.objects.for_tenant(user.tenant_id).filter(user=user, ended_at__isnull=True)
    if keep is not None and keep.session.session_key:
        sessions = sessions.exclude(key_hash=key_hash(keep.session.session_key))
    return sessions.update(ended_at=timezone.now(), ended_reason=reason[:40])


def end_session(user: User, session_id: Any, *, reason: str) -> bool:
    return bool(UserSession.objects.for_tenant(user.tenant_id).filter(
        user=user, pk=session_id, ended_at__isnull=True).update(ended_at=timezone.now(), ended_reason=reason[:40]))


def _expired_reason(row: UserSession, policy: SecurityPolicy, now: dt.datetime) -> str | None:
    if row.ended_at is not None:
        return row.ended_reason or "ended"
    if now - row.last_seen_at > dt.timedelta(minutes=policy.idle_minutes):
        return "idle"
    if now - row.created_at > dt.timedelta(hours=policy.absolute_hours):
        return "expired"
    return None


class SessionGuardMiddleware:
    """After authentication: refuse ended, idle and too-old sessions; enforce the MFA policy."""

    # Pages a member whose tenant requires MFA may still use before setting it up.
    MFA_SETUP_PATHS = ("/account/mfa/", "/logout/", "/static/", "/privacy-notice")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            real = unwrap_user(user)
            if isinstance(real, User):
                refused = self._check(request, real)
                if refused is not None:
                    return refused
        return self.get_response(request)

    def _check(self, request: HttpRequest, user: User) -> HttpResponse | None:
        key = request.session.session_key
        row = (UserSession.objects.unscoped().filter(key_hash=key_hash(key)).first() if key else None)
        policy = policy_for(user.tenant_id)
        now = timezone.now()
        reason = "unknown" if row is None or row.user_id != user.pk else _expired_reason(row, policy, now)
        if reason is not None:
            if row is not None and row.ended_at is None:
                UserSession.objects.unscoped().filter(pk=row.pk).update(ended_at=now, ended_reason=reason)
            auth.logout(request)
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": "your session ended; sign in again"}, status=401)
            return redirect(f"{reverse('web:login')}?{urlencode({'next': request.get_full_path()})}")
        assert row is not None
        if now - row.last_seen_at > TOUCH_EVERY:
            UserSession.objects.unscoped().filter(pk=row.pk).update(last_seen_at=now)
        if policy.require_mfa and not request.path.startswith(self.MFA_SETUP_PATHS):
            from bindery.accounts import mfa

            if not mfa.has_mfa(user):
                return redirect("web:mfa")
        return None


def sudo_required(view: V) -> V:
    """Ask for the password again before a sensitive action when the last proof is old."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method == "POST" and not in_sudo(request):
            return ask_to_confirm(request)
        return view(request, *args, **kwargs)

    return cast(V, wrapped)


def ask_to_confirm(request: HttpRequest) -> HttpResponse:
    """Send the person to re-enter their password, then back to the page they were on."""
    return redirect(f"{reverse('web:confirm')}?{urlencode({'next': _safe_back(request)})}")


def _safe_back(request: HttpRequest) -> str:
    """Where to return after confirming: the page the form was on (same origin), else home."""
    referer = request.headers.get("Referer", "")
    origin = f"{request.scheme}://{request.get_host()}"
    if referer.startswith(origin + "/"):
        return referer[len(origin):]
    return reverse("web:home")
