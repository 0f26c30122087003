"""The account activity log: how actions record events, and how the console reads them."""

from __future__ import annotations

import logging
import uuid
from enum import StrEnum
from typing import Any

from django.http import HttpRequest

from bindery.accounts.models import AccountEvent, User
from bindery.control.actors import actor_label
from bindery.security.client_ip import client_ip as resolve_client_ip

logger = logging.getLogger("bindery.accounts.activity")


class EventKind(StrEnum):
    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in.failed"
    SIGN_OUT = "sign_out"
    PASSWORD_CHANGED = "password.changed"  # noqa: S105  # an event name, not a password
    PASSWORD_RESET_REQUESTED = "password.reset_requested"  # noqa: S105
    PASSWORD_RESET = "password.reset"  # noqa: S105
    MFA_ENABLED = "mfa.enabled"
    MFA_DISABLED = "mfa.disabled"
    MFA_FAILED = "mfa.failed"
    RECOVERY_CODE_USED = "mfa.recovery_code_used"
    RECOVERY_CODES_REGENERATED = "mfa.recovery_codes_regenerated"
    MFA_POLICY_CHANGED = "mfa.policy_changed"
    INVITATION_SENT = "invitation.sent"
    INVITATION_ACCEPTED = "invitation.accepted"
    INVITATION_REVOKED = "invitation.revoked"
    ROLE_CHANGED = "member.role_changed"
    MEMBER_REMOVED = "member.removed"
    SESSIONS_ENDED = "sessions.ended"
    TOKEN_CREATED = "token.created"  # noqa: S105
    SUPPORT_ACCESS = "support_access.granted"
    SUPPORT_ACCESS_ENDED = "support_access.ended"


def client_ip(request: HttpRequest | None) -> str | None:
    """Return the client's address (through trusted proxies only: bindery.security.client_ip)."""
    if request is None:
        return None
    return resolve_client_ip(request) or None


def record_event(tenant_id: uuid.UUID, kind: EventKind | str, *, actor: Any, user: User | None = None,
                 email: str = "", request: HttpRequest | None = None,
                 detail: dict[str, Any] | None = None) -> AccountEvent:
    """Write one activity row (inside the caller's transaction) and log the same event."""
    event = AccountEvent.objects.create(
        tenant_id=tenant_id, kind=str(kind), actor=actor_label(actor), user=user,
        email=(email or (user.email if user is not None else ""))[:254], ip=client_ip(request),
        detail=detail or {})
    logger.info("account event", extra={"event": f"account.{kind}", "tenant_id": str(tenant_id),
                                          "user_id": str(user.pk) if user else None,
                                          "actor": event.actor})
    return event
