"""Two-step sign-in: after the password, a pending state in the session until the second factor.

The account is *not* signed in between the steps (``auth.login`` runs only after the code), so
skipping the second page reaches nothing. The pending state lives in a new session key, expires
after :data:`PENDING_LIFETIME`, and five wrong codes end it (and count as failures for the
brute-force guard's records).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import auth
from django.http import HttpRequest
from django.utils import timezone

from bindery.accounts import mfa
from bindery.accounts.models import Operator, User
from bindery.security import bruteforce
from bindery.security.models import SecurityEventKind

PENDING_KEY = "bindery_mfa_pending"
PENDING_LIFETIME = dt.timedelta(minutes=5)
MAX_WRONG_CODES = 5


def _realm(account: User | Operator) -> str:
    return "operator" if isinstance(account, Operator) else "user"


def _guard_account(account: User | Operator) -> str:
    """The account name the brute-force guard records (a pseudonym, never the e-mail)."""
    if isinstance(account, User):
        return bruteforce.tenant_account(account.tenant.slug, account.email)
    return bruteforce.operator_account(account.email)


def begin(request: HttpRequest, account: User | Operator) -> None:
    """Remember who passed the password step; nothing is signed in yet."""
    request.session.cycle_key()  # a new key at each privilege step (no fixation)
    request.session[PENDING_KEY] = {
        "realm": _realm(account), "id": str(account.pk),
        "backend": getattr(account, "backend", ""), "at": timezone.now().isoformat(),
    }


def pending(request: HttpRequest, realm: str) -> User | Operator | None:
    """Return the account waiting for its second factor, or None (none, expired, other realm)."""
    state = request.session.get(PENDING_KEY)
    if not isinstance(state, dict) or state.get("realm") != realm:
        return None
    try:
        started = dt.datetime.fromisoformat(str(state.get("at")))
    except ValueError:
        return None
    if timezone.now() - started > PENDING_LIFETIME:
        request.session.pop(PENDING_KEY, None)
        return None
    model: Any = Operator if realm == "operator" else User
    manager = model.objects if realm == "operator" else model.objects.unscoped().select_related("tenant")
    account: User | Operator | None = manager.filter(pk=state.get("id"), is_active=True).first()
    if account is not None:
        account.backend = state.get("backend", "")  # type: ignore[union-attr]
    return account


def cancel(request: HttpRequest) -> None:
    request.session.pop(PENDING_KEY, None)


def finish(request: HttpRequest, account: User | Operator) -> None:
    """Sign the account in (rotating the session key) after its second step."""
    request.session.pop(PENDING_KEY, None)
    auth.login(request, account, backend=getattr(account, "backend", None) or None)  # type: ignore[arg-type]


def check_code(request: HttpRequest, account: User | Operator, code: str) -> mfa.Method | None:
    """Verify a code for the pending account; too many wrong ones end the pending state.

    After :data:`MAX_WRONG_CODES` wrong codes in the guard's window no code is checked at all,
    so an attacker who has the password cannot keep guessing by starting over.
    """
    key = f"mfa:{_realm(account)}:{account.pk}"
    if bruteforce.count(key) >= MAX_WRONG_CODES:
        cancel(request)
        return None
    method = mfa.verify(account, code)
    if method is not None:
        return method
    bruteforce.record_event(SecurityEventKind.SIGN_IN_FAILED, ip=bruteforce.client_ip(request),
                            account=_guard_account(account), step="mfa")
    if bruteforce.hit(key) >= MAX_WRONG_CODES:
        cancel(request)
    return None
