"""Nodes, connectors, procedures, runs, watermarks and bindings (the integration engine's rows).

Invariants live in the database, not only in code:

- one active (queued or running) run per procedure and per connector: partial unique indexes,
  so two schedulers, a double click and a retry cannot start a second run however they race;
- one binding per (node, kind, external id) and per (node, kind, hub id): the only reliable
  guard against duplicate bindings under concurrency (the OCA connector lesson);
- one export reference per (connector, exported object): "export once";
- one watermark per connector.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from bindery.control.tenancy import TenantOwnedModel


class Node(TenantOwnedModel):
    """One connected system instance: a technology, its settings and its sealed credentials.

    ``credentials_sealed`` is an envelope (bindery.security.envelope) bound to this row's id;
    ``credentials_key_id`` names the master key wrapping it, so rotation finds what to re-wrap.
    """

    name = models.CharField(max_length=100)
    technology = models.CharField(max_length=50)
    settings = models.JSONField(default=dict, blank=True)
    credentials_sealed = models.BinaryField(null=True, blank=True, editable=False)
    credentials_key_id = models.CharField(max_length=16, blank=True, editable=False)
    credential_fields = models.JSONField(default=list, blank=True, editable=False,
                                         help_text="names of the stored credential fields (never values)")
    enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="integration_node_name_per_tenant"),
        ]
        indexes = [models.Index(fields=["tenant", "id"], name="integ_node_tid")]

    def __str__(self) -> str:
        return self.name


class Connector(TenantOwnedModel):
    """A configured process between one node and the hub."""

    name = models.CharField(max_length=100)
    node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="connectors")
    connector_type = models.CharField(max_length=50)
    config = models.JSONField(default=dict, blank=True)
    simulate = models.BooleanField(default=False, help_text="dry run: compute and log, write nothing outside")
    differential = models.BooleanField(default=False, help_text="only items changed since the last success")
    product_filter = models.JSONField(default=dict, blank=True)
    order_filter = models.JSONField(default=dict, blank=True)
    output_node = models.ForeignKey(Node, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    config_fingerprint = models.CharField(max_length=64, blank=True, editable=False,
                                          help_text="hash of type, config and filters; a change resets the watermark")
    enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="integration_connector_name_per_tenant"),
        ]
        indexes = [models.Index(fields=["tenant", "id"], name="integ_connector_tid")]

    def __str__(self) -> str:
        return self.name


class Procedure(TenantOwnedModel):
    """Connectors run one after another on an interval, optionally only inside time windows.

    ``windows`` is a list of ``{"weekdays": [0..6] (Monday = 0), "start": "HH:MM", "end": "HH:MM"}``
    in UTC; empty means always. ``next_run_at`` is when the scheduler enqueues it next.
    """

    name = models.CharField(max_length=100)
    interval_minutes = models.PositiveIntegerField(default=60)
    windows = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    alert_emails = models.JSONField(default=list, blank=True, help_text="who is e-mailed when a run fails or is late")
    delay_alert_minutes = models.PositiveIntegerField(null=True, blank=True,
                                                      help_text="alert when a run is still unfinished after this long")
    connectors: models.ManyToManyField[Connector, ProcedureStep] = models.ManyToManyField(
        Connector, through="ProcedureStep", related_name="procedures")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="integration_procedure_name_per_tenant"),
            models.CheckConstraint(condition=Q(interval_minutes__gte=1), name="integration_procedure_interval_min"),
        ]
        indexes = [
            models.Index(fields=["tenant", "id"], name="integ_procedure_tid"),
            models.Index(fields=["enabled", "next_run_at"], name="integ_procedure_due"),
        ]

    def __str__(self) -> str:
        return self.name


class ProcedureStep(TenantOwnedModel):
    procedure = models.ForeignKey(Procedure, on_delete=models.CASCADE, related_name="steps")
    connector = models.ForeignKey(Connector, on_delete=models.PROTECT, related_name="steps")
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["procedure", "position"], name="integration_step_position"),
        ]


class RunStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"
    CANCELLED = "cancelled", "cancelled"


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
FINAL_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class RunTrigger(models.TextChoices):
    MANUAL = "manual", "manual"
    SCHEDULE = "schedule", "schedule"
    PROCEDURE = "procedure", "procedure step"
    CALL = "call", "call to the connector's URL"
    WEBHOOK = "webhook", "webhook from the node"


class Run(TenantOwnedModel):
    """One execution of a connector or a procedure: durable, observable, recoverable.

    A procedure run has one child run per connector step (``parent``). ``attempt`` counts
    executions after a worker died (heartbeat missing); ``max_attempts`` caps them.
    """

    procedure = models.ForeignKey(Procedure, null=True, blank=True, on_delete=models.CASCADE, related_name="runs")
    connector = models.ForeignKey(Connector, null=True, blank=True, on_delete=models.CASCADE, related_name="runs")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices, default=RunTrigger.MANUAL)
    actor = models.CharField(max_length=100, blank=True)
    simulate = models.BooleanField(default=False)
    differential_since = models.DateTimeField(null=True, blank=True, help_text="watermark used (None = full run)")
    attempt = models.PositiveIntegerField(default=1)
    max_attempts = models.PositiveIntegerField(default=3)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True, help_text="host:pid of the executing worker")
    cancel_requested = models.BooleanField(default=False)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(null=True, blank=True)
    read_count = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    delay_alerted = models.BooleanField(default=False, help_text="a delay alert went out for this run")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(procedure__isnull=False) | Q(connector__isnull=False),
                                   name="integration_run_has_target"),
            models.UniqueConstraint(fields=["procedure"], condition=Q(status__in=["queued", "running"]),
                                    name="integration_run_one_active_per_procedure"),
            models.UniqueConstraint(fields=["connector"], condition=Q(status__in=["queued", "running"]),
                                    name="integration_run_one_active_per_connector"),
        ]
        indexes = [
            models.Index(fields=["tenant", "id"], name="integ_run_tid"),
            models.Index(fields=["status", "heartbeat_at"], name="integ_run_status_hb"),
        ]

    @property
    def target_name(self) -> str:
        target = self.procedure if self.procedure_id else self.connector
        return str(target)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def progress_percent(self) -> int | None:
        if not self.progress_total:
            return None
        return min(100, int(100 * self.progress_done / self.progress_total))

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class LogLevel(models.TextChoices):
    INFO = "info", "info"
    WARNING = "warning", "warning"
    ERROR = "error", "error"


class RunLogLine(TenantOwnedModel):
    """One readable line of a run's log (what a person reads to see what happened)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="log_lines")
    at = models.DateTimeField()
    level = models.CharField(max_length=7, choices=LogLevel.choices, default=LogLevel.INFO)
    message = models.TextField()

    class Meta:
        indexes = [models.Index(fields=["run", "id"], name="integ_runlog_run")]


class RunItemFailure(TenantOwnedModel):
    """One item a run could not process, with the reason; the rest of the run proceeds."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="failures")
    item = models.CharField(max_length=200, help_text="the item's key: SKU, order number, row number")
    code = models.CharField(max_length=50)
    message = models.TextField()
    field = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["run", "id"], name="integ_runfail_run")]


class Watermark(TenantOwnedModel):
    """Delta state of one connector, moved only when a run of it commits successfully.

    ``since`` is the start time of the last successful run (the next differential run takes
    items modified at or after it, minus a small overlap); ``config_fingerprint`` is the
    connector's configuration when it was set: a different fingerprint means "run full".
    """

    connector = models.OneToOneField(Connector, on_delete=models.CASCADE, related_name="watermark")
    since = models.DateTimeField()
    config_fingerprint = models.CharField(max_length=64)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")


class Binding(TenantOwnedModel):
    """(node, entity kind, external id) ↔ hub id; unique both ways."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="bindings")
    entity_kind = models.CharField(max_length=30)
    external_id = models.CharField(max_length=200)
    hub_id = models.UUIDField()
    synced_at = models.DateTimeField()
    # What was last sent for this record, by aspect ({"images": "<sha256>"}): lets a connector skip
    # re-sending what the remote side would redo at a cost (WooCommerce downloads every image src).
    fingerprints = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["node", "entity_kind", "external_id"], name="integration_binding_external"),
            models.UniqueConstraint(fields=["node", "entity_kind", "hub_id"], name="integration_binding_hub"),
        ]


class ExportReference(TenantOwnedModel):
    """One row per (connector, exported object): "export once"; deleting it re-exports."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="export_references")
    entity_kind = models.CharField(max_length=30)
    hub_id = models.UUIDField()
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connector", "entity_kind", "hub_id"], name="integration_export_once"),
        ]


class SchedulerLease(models.Model):
    """Leadership of this host's integration scheduler: one row, held by whoever renews it in time."""

    name = models.CharField(max_length=50, primary_key=True)
    holder = models.CharField(max_length=100)
    expires_at = models.DateTimeField()


class WebhookScheme(models.TextChoices):
    STANDARD = "standard", "Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)"
    SHOPIFY = "shopify", "Shopify (X-Shopify-Hmac-Sha256)"
    WOOCOMMERCE = "woocommerce", "WooCommerce (X-WC-Webhook-Signature)"


class WebhookEndpoint(TenantOwnedModel):
    """A node's webhook inbox: how pushed events are signed, and the sealed shared secret."""

    node = models.OneToOneField(Node, on_delete=models.CASCADE, related_name="webhook")
    scheme = models.CharField(max_length=20, choices=WebhookScheme.choices)
    secret_sealed = models.BinaryField(editable=False)
    secret_key_id = models.CharField(max_length=16, editable=False)
    enabled = models.BooleanField(default=True)


class WebhookStatus(models.TextChoices):
    PENDING = "pending", "pending"
    PROCESSED = "processed", "processed"
    IGNORED = "ignored", "ignored (nothing listens to this topic)"
    FAILED = "failed", "failed"


class WebhookEvent(TenantOwnedModel):
    """One pushed event, stored by the sender's event id (a duplicate delivery is not stored again).

    The body itself is not kept: processing acts on the topic and reads the current state through
    the shop's API, so keeping shoppers' personal data from payloads would serve no purpose (GDPR
    data minimisation). Its SHA-256 and size stay for support.
    """

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="webhook_events")
    event_id = models.CharField(max_length=200)
    topic = models.CharField(max_length=200, blank=True)
    body_sha256 = models.CharField(max_length=64)
    body_size = models.PositiveIntegerField()
    received_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=WebhookStatus.choices, default=WebhookStatus.PENDING)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["node", "event_id"], name="integration_webhook_event_once"),
        ]
        indexes = [models.Index(fields=["status", "received_at"], name="integ_webhook_pending")]
