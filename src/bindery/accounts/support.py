"""Support access: the only way an operator reads a tenant's data, with a reason and an expiry.

A grant is written in the tenant's own database (so it moves with the tenant), recorded in its
activity log, and e-mailed to its owners. Owners can end a grant at any time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from bindery.accounts.activity import EventKind, record_event
from bindery.accounts.models import Operator, Role, SupportGrant, User
from bindery.control.actors import actor_label
from bindery.control.models import LocalTenant
from bindery.control.routers import HOST

MAX_HOURS = 72
MIN_REASON = 10


class SupportError(ValueError):
    """The grant was refused; the message says why."""


def do_grant_support_access(operator: Operator, tenant: LocalTenant, reason: str, hours: int) -> SupportGrant:
    reason = " ".join(str(reason).split())
    if len(reason) < MIN_REASON or len(reason) > 500:
        raise SupportError(f"give a reason of {MIN_REASON}-500 characters (a ticket number and what you will look at)")
    if not 1 <= int(hours) <= MAX_HOURS:
        raise SupportError(f"access lasts 1 to {MAX_HOURS} hours")
    with transaction.atomic(using=HOST):
        grant = SupportGrant.objects.create(
            tenant=tenant, operator_id=operator.pk, operator_email=operator.email, reason=reason,
            expires_at=timezone.now() + dt.timedelta(hours=int(hours)))
        record_event(tenant.pk, EventKind.SUPPORT_ACCESS, actor=operator, email=operator.email,
                     detail={"reason": reason, "hours": int(hours), "grant": str(grant.pk)})
    owners = list(User.objects.for_tenant(tenant).filter(role=Role.OWNER, is_active=True)
                  .values_list("email", flat=True))
    if owners:
        send_mail(f"Bindery support opened access to {tenant.name}",
                  f"{operator.email} of the Bindery support team can read the data of {tenant.name} "
                  f"until {grant.expires_at:%Y-%m-%d %H:%M} UTC.\n\nReason: {reason}\n\n"
                  "You can end this access on the Activity page of the console.", None, owners)
    return grant


def active_grant(operator: Operator, grant_id: Any) -> SupportGrant | None:
    """Return the operator's own grant if it is still running."""
    return (SupportGrant.objects.unscoped().select_related("tenant")
            .filter(pk=grant_id, operator_id=operator.pk, ended_at__isnull=True, expires_at__gt=timezone.now())
            .first())


def active_grants_for(tenant: LocalTenant) -> list[SupportGrant]:
    return list(SupportGrant.objects.for_tenant(tenant).filter(ended_at__isnull=True, expires_at__gt=timezone.now()))


def do_end_support_access(grant: SupportGrant, *, actor: Any) -> None:
    with transaction.atomic(using=HOST):
        ended = SupportGrant.objects.for_tenant(grant.tenant_id).filter(pk=grant.pk, ended_at__isnull=True).update(
            ended_at=timezone.now(), ended_by=actor_label(actor))
        if ended:
            record_event(grant.tenant_id, EventKind.SUPPORT_ACCESS_ENDED, actor=actor, email=grant.operator_email,
                         detail={"grant": str(grant.pk)})
