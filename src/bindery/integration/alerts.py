"""E-mail alerts of procedures: a run failed, or a run is late (through Django's mail backend).

Alerts go out after the transaction that decided them commits, carry only what a person needs
(procedure, status, error already scrubbed of credentials, a link to the run) and a failure to
send is logged, never raised into the run.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from bindery.control.routers import HOST
from bindery.integration.models import ACTIVE_STATUSES, Procedure, Run

logger = logging.getLogger(__name__)
MAX_RECIPIENTS = 10


def _run_url(run: Run) -> str:
    return settings.BINDERY_PUBLIC_URL + reverse("web:run_detail", kwargs={"run_id": run.pk})


def _send(procedure: Procedure, subject: str, body: str) -> None:
    recipients = list(procedure.alert_emails or [])[:MAX_RECIPIENTS]
    if not recipients:
        return

    def deliver() -> None:
        try:
            send_mail(subject, body, None, recipients, fail_silently=False)
        except Exception as exc:  # an unreachable mail server must not fail the run or the scheduler
            logger.warning("alert not sent", extra={"event": "integration.alert_failed",
                                                    "procedure": str(procedure.pk), "error": type(exc).__name__})

    transaction.on_commit(deliver, using=HOST)


def alert_run_failed(procedure: Procedure, run: Run) -> None:
    """Tell the procedure's recipients that a run of it failed."""
    _send(procedure, f"[Bindery] {procedure.name}: run failed",
          f"The run of procedure {procedure.name!r} queued at {run.queued_at:%Y-%m-%d %H:%M} UTC failed.\n\n"
          f"Error: {run.error or 'see the log'}\n\nLog: {_run_url(run)}\n")


def alert_late_runs(*, now: dt.datetime) -> list[str]:
    """Alert once per run that is still unfinished past its procedure's delay limit; return run ids."""
    alerted = []
    late = (Run.objects.unscoped().filter(status__in=ACTIVE_STATUSES, parent__isnull=True, delay_alerted=False,
                                          procedure__delay_alert_minutes__isnull=False)
            .select_related("procedure"))
    for run in late:
        procedure = run.procedure
        if procedure is None or procedure.delay_alert_minutes is None:
            continue
        if run.queued_at > now - dt.timedelta(minutes=procedure.delay_alert_minutes):
            continue
        with transaction.atomic(using=HOST):
            if not Run.objects.unscoped().filter(pk=run.pk, delay_alerted=False).update(delay_alerted=True):
                continue  # another scheduler pass got here first
            _send(procedure, f"[Bindery] {procedure.name}: run is late",
                  f"The run of procedure {procedure.name!r} queued at {run.queued_at:%Y-%m-%d %H:%M} UTC is still "
                  f"{run.status} after {procedure.delay_alert_minutes} minutes "
                  f"({run.progress_done} items done).\n\nLog: {_run_url(run)}\n")
        alerted.append(str(run.pk))
    return alerted
