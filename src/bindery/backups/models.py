"""The backup catalog in the control plane: what the backup site did, for pages and alerts.

The repository's committed manifests are the truth about which backups exist; these rows are
the history (every backup, verify, drill, prune and restore with its outcome and sizes) and
the open alerts. Only the backup site writes them.
"""

from __future__ import annotations

from django.db import models

from bindery.control.models import ControlModel


class BackupKind(models.TextChoices):
    BACKUP = "backup", "Backup"
    VERIFY = "verify", "Verify"
    DRILL = "drill", "Restore drill"
    PRUNE = "prune", "Prune"
    RESTORE = "restore", "Restore"


class BackupState(models.TextChoices):
    RUNNING = "running", "Running"
    OK = "ok", "OK"
    FAILED = "failed", "Failed"


class BackupRecord(ControlModel):
    id = models.BigAutoField(primary_key=True)
    database = models.CharField(max_length=80)
    kind = models.CharField(max_length=10, choices=BackupKind.choices)
    state = models.CharField(max_length=10, choices=BackupState.choices, default=BackupState.RUNNING)
    backup_id = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    snapshot_bytes = models.BigIntegerField(null=True, blank=True)
    stored_bytes = models.BigIntegerField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["database", "kind", "state", "started_at"], name="backup_record_lookup")]

    def __str__(self) -> str:
        return f"{self.kind} {self.database} {self.state}"


class AlertKind(models.TextChoices):
    STALE = "stale", "Last good backup too old"
    VERIFY_FAILED = "verify_failed", "Verify failed"
    DRILL_FAILED = "drill_failed", "Restore drill failed"
    BACKUP_FAILED = "backup_failed", "Backup failed"
    TOO_CLOSE = "too_close", "Backup site under 500 km from the database"


class BackupAlert(ControlModel):
    """An alert raised by the backup site; open until the condition clears."""

    id = models.BigAutoField(primary_key=True)
    database = models.CharField(max_length=80)
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    message = models.TextField()
    raised_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True, help_text="when the operators were e-mailed")

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["database", "kind"],
                                               condition=models.Q(resolved_at__isnull=True),
                                               name="backup_alert_one_open")]

    def __str__(self) -> str:
        return f"{self.kind} {self.database}"


class PurgedTenant(ControlModel):
    """The backup catalog's index of purged tenants: their backups must never bring them back.

    Written by the tenant purge (:func:`bindery.privacy.purge.do_purge_tenant`). Restoring such a
    tenant is refused; a whole-host restore deletes their rows afterwards. Stored backups are
    not rewritten (they are encrypted and append-only); they age out by retention.
    """

    id = models.BigAutoField(primary_key=True)
    tenant_id = models.UUIDField(unique=True)
    slug = models.CharField(max_length=63)
    purged_at = models.DateTimeField()
    certificate_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-purged_at"]

    def __str__(self) -> str:
        return f"purged {self.slug}"


class DistanceOverride(ControlModel):
    """An operator's explicit permission to back up a database from a site under 500 km away.

    Who, when and why are kept; a revoked override stays for the record (``revoked_at``).
    """

    id = models.BigAutoField(primary_key=True)
    database = models.CharField(max_length=80)
    requested_by = models.CharField(max_length=100)
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["database"], condition=models.Q(revoked_at__isnull=True),
                                               name="distance_override_one_active")]

    def __str__(self) -> str:
        return f"distance override {self.database}"


class RestoreState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class RestoreRequest(ControlModel):
    """An operator's request to restore one tenant from a host backup, carried out by the backup site.

    Hosts and the console never hold the site key that decrypts backups, so the console and the
    API only queue the request; the site's service loop claims it, restores, verifies and
    writes the outcome and progress back here (see :func:`bindery.backups.site.run_restore_requests`).
    """

    id = models.BigAutoField(primary_key=True)
    tenant_slug = models.CharField(max_length=63)
    to_host = models.CharField(max_length=63)
    backup_ref = models.CharField(max_length=200, blank=True, help_text="a backup id; blank: the newest backup "
                                  "of the tenant's current host")
    reason = models.CharField(max_length=500)
    requested_by = models.CharField(max_length=100)
    requested_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=RestoreState.choices, default=RestoreState.REQUESTED)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    progress = models.JSONField(default=list, blank=True, help_text="the site's progress lines, newest last")
    error = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [models.UniqueConstraint(
            fields=["tenant_slug"], condition=models.Q(state__in=["requested", "running"]),
            name="restore_request_one_open_per_tenant")]

    def __str__(self) -> str:
        return f"restore {self.tenant_slug} to {self.to_host} ({self.state})"
