"""The incident register (GDPR art. 33): record a breach, watch the 72-hour clock, notify.

The deadline alert runs as a periodic job: an open incident whose authority notification is
due within :data:`ALERT_BEFORE` (or overdue) e-mails the operators once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from bindery.control.actors import actor_label
from bindery.control.routers import CONTROL
from bindery.privacy.models import Incident, IncidentState
from bindery.privacy.registry import DECLARATIONS

ALERT_BEFORE = dt.timedelta(hours=24)


class IncidentError(ValueError):
    """An incident change that cannot be made; the message says why."""


def _known_data_classes() -> set[str]:
    return {f"{d.model}.{d.field}" for d in DECLARATIONS}


def do_open_incident(title: str, *, discovered_at: dt.datetime, actor: Any, description: str = "",
                     tenant_ids: Iterable[str] = (), data_classes: Iterable[str] = ()) -> Incident:
    title = title.strip()
    if not title or len(title) > 200:
        raise IncidentError("a title of 1 to 200 characters is required")
    if timezone.is_naive(discovered_at):
        raise IncidentError("the discovery time needs a time zone")
    if discovered_at > timezone.now() + dt.timedelta(minutes=5):
        raise IncidentError("the discovery time is in the future")
    classes = sorted(set(data_classes))
    unknown = sorted(set(classes) - _known_data_classes())
    if unknown:
        raise IncidentError(f"unknown data class {', '.join(unknown)}; use app.Model.field from the registry")
    return Incident.objects.create(title=title, description=description, discovered_at=discovered_at,
                                   recorded_by=actor_label(actor), tenant_ids=sorted(set(tenant_ids)),
                                   data_classes=classes)


def do_add_incident_action(incident: Incident, text: str, *, actor: Any) -> None:
    text = " ".join(text.split())
    if not text:
        raise IncidentError("describe the action")
    stamp = timezone.now().strftime("%Y-%m-%d %H:%M UTC")
    incident.actions = (incident.actions + "\n" if incident.actions else "") + f"{stamp} {actor_label(actor)}: {text}"
    incident.save(update_fields=["actions"])


def do_mark_authority_notified(incident: Incident, *, actor: Any) -> None:
    if incident.state == IncidentState.CLOSED:
        raise IncidentError("the incident is closed")
    incident.state = IncidentState.NOTIFIED
    incident.authority_notified_at = timezone.now()
    incident.save(update_fields=["state", "authority_notified_at"])
    do_add_incident_action(incident, "supervisory authority notified", actor=actor)


def do_close_incident(incident: Incident, *, actor: Any) -> None:
    incident.state = IncidentState.CLOSED
    incident.closed_at = timezone.now()
    incident.save(update_fields=["state", "closed_at"])
    do_add_incident_action(incident, "closed", actor=actor)


def do_notify_tenant_owners(incident: Incident, *, actor: Any) -> int:
    """E-mail the owners of the affected tenants served by this host; return how many were sent."""
    from bindery.accounts.models import Role, User

    owners = list(User.objects.unscoped().filter(tenant_id__in=incident.tenant_ids, role=Role.OWNER,
                                                 is_active=True).values_list("email", flat=True))
    body = (f"A personal-data incident may affect your account.\n\n{incident.title}\n\n{incident.description}\n\n"
            f"Discovered: {incident.discovered_at:%Y-%m-%d %H:%M} UTC\n"
            f"Data concerned: {', '.join(incident.data_classes) or 'under investigation'}\n")
    sent = 0
    for email in owners:
        sent += send_mail(f"[Bindery] Data incident: {incident.title}", body, settings.DEFAULT_FROM_EMAIL, [email])
    with transaction.atomic(using=CONTROL):
        incident.tenants_notified_at = timezone.now()
        incident.save(update_fields=["tenants_notified_at"])
        do_add_incident_action(incident, f"{sent} tenant owner(s) notified", actor=actor)
    return sent


def alert_due_incidents(now: dt.datetime | None = None) -> list[Incident]:
    """E-mail the operators once about each open incident whose notification deadline is near."""
    from bindery.accounts.models import Operator

    now = now or timezone.now()
    due = [i for i in Incident.objects.filter(state=IncidentState.OPEN, alerted_at__isnull=True)
           if i.notify_by - now <= ALERT_BEFORE]
    recipients = list(Operator.objects.filter(is_active=True).values_list("email", flat=True))
    for incident in due:
        hours = incident.hours_left(now)
        when = f"in {hours:.0f} hours" if hours > 0 else f"{-hours:.0f} hours ago"
        if recipients:
            send_mail(f"[Bindery] Incident notification due {when}: {incident.title}",
                      f"Notify the supervisory authority by {incident.notify_by:%Y-%m-%d %H:%M} UTC "
                      f"(72 hours after discovery).", settings.DEFAULT_FROM_EMAIL, recipients)
        incident.alerted_at = now
        incident.save(update_fields=["alerted_at"])
    return due
