"""Writes to the backup catalog (control plane): records of what the site did, and alerts."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from bindery.backups.models import AlertKind, BackupAlert, BackupKind, BackupRecord, BackupState, RestoreRequest
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


class RestoreRequestError(ValueError):
    """A restore request that cannot be queued; ``field`` names the input at fault."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def _newest_host_backup(database: str) -> str:
    record = (BackupRecord.objects.filter(database=database, kind=BackupKind.BACKUP, state=BackupState.OK)
              .exclude(backup_id="").order_by("-started_at", "-id").first())
    return record.backup_id if record else ""


def do_request_tenant_restore(tenant_slug: str, to_host: str, *, reason: str, actor: Any,
                              backup_ref: str = "", now: dt.datetime | None = None) -> RestoreRequest:
    """Queue the restore of one tenant from a host backup into ``to_host``, for the backup site to run.

    The backup is resolved now (blank: the newest good backup of the tenant's current host), so
    what the operator confirmed is what is restored. Only catalogued host backups are accepted.
    """
    from bindery.backups.models import PurgedTenant, RestoreRequest, RestoreState
    from bindery.control.errors import ControlError
    from bindery.control.hosts import check_host_eligible
    from bindery.control.models import Host, HostState, Placement, Tenant

    tenant_slug, to_host, reason, backup_ref = (tenant_slug.strip(), to_host.strip(), reason.strip(),
                                                backup_ref.strip())
    for field, value in (("tenant", tenant_slug), ("to_host", to_host), ("reason", reason), ("backup", backup_ref)):
        if not value.isprintable():  # control characters (NUL cannot even be stored on PostgreSQL)
            raise RestoreRequestError(f"{field} holds control characters", field=field)
    if len(reason) < 3 or len(reason) > 500:
        raise RestoreRequestError("say why the tenant is restored (3 to 500 characters)", field="reason")
    tenant = Tenant.objects.filter(slug=tenant_slug[:63]).first()
    if tenant is None:
        raise RestoreRequestError(f"no tenant {tenant_slug[:63]!r} in the directory", field="tenant")
    if PurgedTenant.objects.filter(tenant_id=tenant.pk).exists():
        raise RestoreRequestError(f"tenant {tenant.slug!r} was purged; its backups must not be restored",
                                  field="tenant")
    host = Host.objects.select_related("datacenter").filter(name=to_host[:63]).first()
    if host is None or host.state == HostState.RETIRED:
        raise RestoreRequestError(f"no active host {to_host[:63]!r}", field="to_host")
    placement = Placement.objects.select_related("host").get(tenant=tenant)
    if placement.host_id != host.pk:
        try:
            check_host_eligible(host, tenant)
        except ControlError as exc:
            raise RestoreRequestError(str(exc), field="to_host") from None
    if backup_ref:
        known = BackupRecord.objects.filter(backup_id=backup_ref[:200], kind=BackupKind.BACKUP,
                                            state=BackupState.OK, database__startswith="host-").exists()
        if not known:
            raise RestoreRequestError(f"no good host backup {backup_ref[:200]!r} in the catalog", field="backup")
    else:
        backup_ref = _newest_host_backup(f"host-{placement.host.name}")
        if not backup_ref:
            raise RestoreRequestError(f"host {placement.host.name} has no good backup yet", field="backup")
    try:
        with transaction.atomic(using=CONTROL):
            request = RestoreRequest.objects.create(
                tenant_slug=tenant.slug, to_host=host.name, backup_ref=backup_ref, reason=reason,
                requested_by=str(actor)[:100], requested_at=now or timezone.now(), state=RestoreState.REQUESTED)
    except IntegrityError:
        raise RestoreRequestError(f"a restore of {tenant.slug!r} is already queued or running",
                                  field="tenant") from None
    logger.warning("tenant restore requested", extra={
        "event": "backup.restore_requested", "tenant": tenant.slug, "host": host.name, "backup_id": backup_ref,
        "actor": str(actor)[:100]})
    return request


def do_cancel_restore_request(request: RestoreRequest, *, actor: Any) -> bool:
    """Cancel a request the site has not claimed yet; False when it is already running or over."""
    from bindery.backups.models import RestoreRequest, RestoreState

    cancelled = RestoreRequest.objects.filter(pk=request.pk, state=RestoreState.REQUESTED).update(
        state=RestoreState.CANCELLED, finished_at=timezone.now(), error=f"cancelled by {str(actor)[:80]}")
    return bool(cancelled)


def do_claim_restore_request(now: dt.datetime | None = None) -> RestoreRequest | None:
    """The oldest queued request, marked running (a conditional update: two sites never both run it)."""
    from bindery.backups.models import RestoreRequest, RestoreState

    for request in RestoreRequest.objects.filter(state=RestoreState.REQUESTED).order_by("requested_at", "id")[:20]:
        started = now or timezone.now()
        if RestoreRequest.objects.filter(pk=request.pk, state=RestoreState.REQUESTED).update(
                state=RestoreState.RUNNING, started_at=started):
            request.state, request.started_at = RestoreState.RUNNING, started
            return request
    return None


MAX_PROGRESS_LINES = 200


def do_note_restore_progress(request: RestoreRequest, line: str) -> None:
    request.progress = [*request.progress, line[:500]][-MAX_PROGRESS_LINES:]
    request.save(update_fields=["progress"])


def do_finish_restore_request(request: RestoreRequest, *, ok: bool, error: str = "",
                              detail: dict[str, Any] | None = None) -> RestoreRequest:
    from bindery.backups.models import RestoreState

    request.state = RestoreState.DONE if ok else RestoreState.FAILED
    request.finished_at = timezone.now()
    request.error = error[:2000]
    request.detail = detail or {}
    request.save(update_fields=["state", "finished_at", "error", "detail"])
    return request


def do_fail_interrupted_restores(before: dt.datetime) -> int:
    """Requests left running by a site that stopped (started before this site process): failed, to re-request.

    A tenant restore copies in one transaction on the target, so an interrupted one wrote nothing there.
    """
    from bindery.backups.models import RestoreRequest, RestoreState

    return RestoreRequest.objects.filter(state=RestoreState.RUNNING, started_at__lt=before).update(
        state=RestoreState.FAILED, finished_at=timezone.now(),
        error="interrupted: the backup site stopped during the restore; request it again")
