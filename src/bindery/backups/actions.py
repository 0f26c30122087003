"""Writes to the backup catalog (control plane): records of what the site did, and alerts."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from bindery.backups.models import AlertKind, BackupAlert, BackupKind, BackupRecord, BackupState
from bindery.control.routers import CONTROL

logger = logging.getLogger(__name__)


def do_start_backup_record(database: str, kind: BackupKind, *, backup_id: str = "",
                           now: dt.datetime | None = None) -> BackupRecord:
    return BackupRecord.objects.create(database=database, kind=kind, backup_id=backup_id,
                                       started_at=now or timezone.now())


def do_finish_backup_record(record: BackupRecord, *, ok: bool, error: str = "", backup_id: str | None = None,
                            snapshot_bytes: int | None = None, stored_bytes: int | None = None,
                            detail: dict[str, Any] | None = None, now: dt.datetime | None = None) -> BackupRecord:
    finished = now or timezone.now()
    record.state = BackupState.OK if ok else BackupState.FAILED
    record.finished_at = max(finished, record.started_at)
    record.seconds = (record.finished_at - record.started_at).total_seconds()
    record.error = error[:2000]
    if backup_id is not None:
        record.backup_id = backup_id
    record.snapshot_bytes = snapshot_bytes
    record.stored_bytes = stored_bytes
    record.detail = detail or {}
    record.save(update_fields=["state", "finished_at", "seconds", "error", "backup_id", "snapshot_bytes",
                               "stored_bytes", "detail"])
    log = logger.info if ok else logger.error
    log("backup %s %s", record.kind, record.state, extra={
        "event": f"backup.{record.kind}.{record.state}", "database": record.database,
        "backup_id": record.backup_id, "seconds": record.seconds, "error": record.error[:300]})
    return record


def do_raise_backup_alert(database: str, kind: AlertKind, message: str, *,
                          now: dt.datetime | None = None) -> BackupAlert | None:
    """Open an alert (one open alert per database and kind); return it only when newly raised."""
    with transaction.atomic(using=CONTROL):
        if BackupAlert.objects.filter(database=database, kind=kind, resolved_at__isnull=True).exists():
            return None
        alert = BackupAlert.objects.create(database=database, kind=kind, message=message[:2000],
                                           raised_at=now or timezone.now())
    # An operations event operators are paged on, and an e-mail to every active operator.
    logger.error("backup alert: %s", message, extra={"event": "backup.alert", "alert": kind,
                                                     "database": database})
    send_alert_mails()
    return alert


def send_alert_mails(now: dt.datetime | None = None) -> int:
    """E-mail the operators once about every open alert not mailed yet; return how many were sent.

    Sent through Django's mail backend (SMTP, or the outbox folder without one). An alert whose
    mail failed stays unsent and is tried again by the next site pass.
    """
    from django.conf import settings
    from django.core.mail import send_mail

    from bindery.accounts.models import Operator

    pending = list(BackupAlert.objects.filter(resolved_at__isnull=True, emailed_at__isnull=True).order_by("raised_at"))
    if not pending:
        return 0
    recipients = sorted(Operator.objects.filter(is_active=True).values_list("email", flat=True))
    if not recipients:
        return 0
    sent = 0
    for alert in pending:
        body = (f"{alert.get_kind_display()} for {alert.database} since {alert.raised_at:%Y-%m-%d %H:%M} UTC.\n\n"
                f"{alert.message}\n\nSee /ops/backups/ on the operators' console. This alert is e-mailed once; "
                "it closes by itself when the condition clears.\n")
        try:
            send_mail(f"[Bindery] Backup alert: {alert.get_kind_display()} ({alert.database})", body,
                      settings.DEFAULT_FROM_EMAIL, recipients)
        except Exception:  # a mail outage must not stop backups; the next pass retries
            logger.exception("backup alert mail not sent", extra={"event": "backup.alert_mail_failed",
                                                                  "database": alert.database})
            continue
        # Only this process marks it: a concurrent sender that got here first wins, no second mail.
        sent += BackupAlert.objects.filter(pk=alert.pk, emailed_at__isnull=True).update(
            emailed_at=now or timezone.now())
    return sent


def do_resolve_backup_alerts(database: str, kinds: list[AlertKind], *, now: dt.datetime | None = None) -> int:
    return BackupAlert.objects.filter(database=database, kind__in=kinds, resolved_at__isnull=True).update(
        resolved_at=now or timezone.now())


class SnapshotAccessError(ValueError):
    """Snapshot access settings that cannot be saved; the message says why."""


def do_set_snapshot_access(host: Any, *, cidrs: list[str], new_token: bool = False, off: bool = False,
                           actor: Any) -> str | None:
    """Set who may pull ``host``'s snapshot; return a new token (shown once) when one was made.

    Only the token's keyed hash is stored. The first call makes a token; later calls keep it
    unless ``new_token``. ``off`` forgets both token and addresses.
    """
    import secrets

    from bindery.backups.snapshot_endpoint import parse_cidrs, token_hash

    token = None
    if off:
        host.snapshot_token_hash, host.snapshot_allowed_cidrs = "", []
    else:
        try:
            allowed = parse_cidrs(cidrs)
        except ValueError as exc:
            raise SnapshotAccessError(str(exc)) from None
        if not allowed:
            raise SnapshotAccessError("give at least one --allow address or CIDR (the backup site's)")
        host.snapshot_allowed_cidrs = allowed
        if new_token or not host.snapshot_token_hash:
            token = secrets.token_urlsafe(32)
            host.snapshot_token_hash = token_hash(token)
    with transaction.atomic(using=CONTROL):
        host.save(update_fields=["snapshot_token_hash", "snapshot_allowed_cidrs"])
    logger.info("snapshot access set", extra={"event": "backup.snapshot_access", "host": host.name, "off": off,
                                               "new_token": token is not None, "cidrs": host.snapshot_allowed_cidrs,
                                               "actor": str(actor)})
    return token


def do_record_distance_override(database: str, *, reason: str, actor: Any) -> Any:
    """Record (or replace) an operator's override of the 500 km rule for one database."""
    from bindery.backups.models import DistanceOverride
    from bindery.control.actors import actor_label

    reason = reason.strip()
    if not reason:
        raise ValueError("say why (the reason is recorded)")
    if not database or len(database) > 80:
        raise ValueError("name a database: control or host-<name>")
    now = timezone.now()
    with transaction.atomic(using=CONTROL):
        DistanceOverride.objects.filter(database=database, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=actor_label(actor)[:100])
        email = getattr(actor, "email", "")
        who = f"{email} ({actor_label(actor)})" if email else actor_label(actor)
        override = DistanceOverride.objects.create(database=database, reason=reason[:500], created_at=now,
                                                   requested_by=who[:100])
    logger.warning("backup distance override recorded", extra={
        "event": "backup.distance_override", "database": database, "actor": actor_label(actor)})
    return override


def do_revoke_distance_override(database: str, *, actor: Any) -> int:
    from bindery.backups.models import DistanceOverride
    from bindery.control.actors import actor_label

    return DistanceOverride.objects.filter(database=database, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor_label(actor)[:100])
