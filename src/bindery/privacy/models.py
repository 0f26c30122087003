"""Data-protection records: the erasure journal, the personal-data access log, the incident register."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from django.db import models

from bindery.control.models import ControlModel
from bindery.control.tenancy import TenantOwnedModel, new_id

NOTIFICATION_WINDOW = dt.timedelta(hours=72)  # GDPR art. 33(1)


class ErasureRecord(ControlModel):
    """One erased data subject, kept in the control database, outside the tenant's host tables.

    A restore of a host database brings back rows that were erased after the backup was taken;
    :func:`bindery.privacy.subjects.replay_erasures` erases them again from this journal. The
    person is recorded only as a keyed hash of the e-mail (and the customer ids), never in clear.
    """

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    tenant_id = models.UUIDField(db_index=True)
    subject_hash = models.CharField(max_length=64, blank=True, help_text="HMAC-SHA256 of the lower-cased e-mail")
    customer_ids = models.JSONField(default=list)
    requested_by = models.CharField(max_length=100)
    reason = models.CharField(max_length=500)
    erased_at = models.DateTimeField()
    rows_erased = models.PositiveIntegerField(default=0)
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["erased_at"]


class AccessAction(models.TextChoices):
    VIEW = "view", "Viewed in the console"
    API_READ = "api_read", "Read through the API"
    EXPORT = "export", "Exported"
    SUBJECT_EXPORT = "subject_export", "Subject access export"
    ERASE = "erase", "Erased"


class PersonalDataAccess(TenantOwnedModel):
    """Who read, exported or erased personal data, what, when and why (searchable by owners)."""

    actor = models.CharField(max_length=100)
    action = models.CharField(max_length=20, choices=AccessAction.choices)
    resource = models.CharField(max_length=200, help_text="what was read: a path or a subject reference")
    object_id = models.CharField(max_length=64, blank=True)
    purpose = models.CharField(max_length=200)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "created_at"], name="privacy_access_time")]


class IncidentState(models.TextChoices):
    OPEN = "open", "Open"
    NOTIFIED = "notified", "Authority notified"
    CLOSED = "closed", "Closed"


class Incident(ControlModel):
    """A personal-data breach (GDPR art. 33): the 72-hour clock runs from ``discovered_at``."""

    database_role: ClassVar[str] = "control"

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    discovered_at = models.DateTimeField()
    recorded_by = models.CharField(max_length=100)
    tenant_ids = models.JSONField(default=list, help_text="affected tenants")
    data_classes = models.JSONField(default=list, help_text="affected classes of data, e.g. customers.email")
    actions = models.TextField(blank=True, help_text="what was done, one line per step")
    state = models.CharField(max_length=10, choices=IncidentState.choices, default=IncidentState.OPEN)
    authority_notified_at = models.DateTimeField(null=True, blank=True)
    tenants_notified_at = models.DateTimeField(null=True, blank=True)
    alerted_at = models.DateTimeField(null=True, blank=True, help_text="when the deadline alert went out")
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-discovered_at"]

    @property
    def notify_by(self) -> dt.datetime:
        return self.discovered_at + NOTIFICATION_WINDOW

    def hours_left(self, now: dt.datetime) -> float:
        return (self.notify_by - now).total_seconds() / 3600


class RetentionRule(TenantOwnedModel):
    """Anonymize order contacts N days after the last shipment, for one channel or for all."""

    origin_node_id = models.UUIDField(null=True, blank=True, help_text="the channel's node; empty: every channel")
    days_after_shipment = models.PositiveIntegerField()
    created_by = models.CharField(max_length=100)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "origin_node_id"], name="privacy_retention_channel"),
            # NULLs are distinct in a unique index: the catch-all rule needs its own constraint.
            models.UniqueConstraint(fields=["tenant"], condition=models.Q(origin_node_id__isnull=True),
                                    name="privacy_retention_catch_all"),
        ]


class RetentionRun(TenantOwnedModel):
    """What one application of a rule did (the report owners read)."""

    rule = models.ForeignKey(RetentionRule, on_delete=models.CASCADE, related_name="runs")
    cutoff = models.DateTimeField(help_text="orders last shipped before this were anonymized")
    orders_anonymized = models.PositiveIntegerField()
    rows_blanked = models.PositiveIntegerField()


class TenantPurge(ControlModel):
    """Certificate of deletion of a whole tenant: what was deleted, when, by whom, and why.

    Kept in the control database after the tenant's rows are gone; the slug and the row counts
    per table are the evidence, the digest makes a printed certificate checkable.
    """

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    tenant_id = models.UUIDField(unique=True)
    tenant_slug = models.CharField(max_length=63)
    requested_by = models.CharField(max_length=100)
    reason = models.CharField(max_length=500)
    purged_at = models.DateTimeField()
    rows_deleted = models.JSONField(default=dict, help_text="table name → rows deleted on this host")
    digest = models.CharField(max_length=64, help_text="SHA-256 of the certificate text")

    class Meta:
        ordering = ["-purged_at"]


class KeyPurpose(models.TextChoices):
    DATA = "data", "Encrypts personal fields (AES-256-GCM)"
    INDEX = "index", "Keys the blind index (HMAC-SHA256)"


class TenantKey(TenantOwnedModel):
    """A tenant's field-encryption key, stored wrapped by the master key (envelope encryption).

    A tenant has one current *data* key (new values are encrypted with it) and older, retired
    ones kept so values and backups written under them stay readable; ``bindery privacy keys
    rotate`` makes a new current key and re-encrypts the tenant's rows. The *index* key keys
    the blind index (e-mail equality lookups) and is not rotated with the data key. Lives in
    the host database beside the rows it protects, so tenant moves and backups carry it.
    """

    purpose = models.CharField(max_length=10, choices=KeyPurpose.choices)
    sealed = models.BinaryField(help_text="the 32-byte key, sealed by the master key (bindery.security.envelope)")
    master_key_id = models.CharField(max_length=16, help_text="which master key wraps it")
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "purpose"], condition=models.Q(retired_at=None),
                                    name="privacy_tenantkey_one_current"),
        ]
