"""Control-plane models (control database) and the host's own record of its tenants."""

from __future__ import annotations

from typing import ClassVar

from django.core.validators import RegexValidator
from django.db import models

from bindery.control.tenancy import new_id

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$",
    "Use 1-63 lower-case letters, digits and dashes, not starting or ending with a dash.",
)


class ControlModel(models.Model):
    """Base of rows that live in the control-plane database."""

    database_role: ClassVar[str] = "control"

    class Meta:
        abstract = True


class Plan(models.TextChoices):
    DEMO = "demo", "Demo"
    STANDARD = "standard", "Standard"
    PROFESSIONAL = "professional", "Professional"
    ENTERPRISE = "enterprise", "Enterprise"


# (products-table rows, sales documents dated in the last 30 days) per plan; None = unlimited.
PLAN_LIMITS: dict[str, tuple[int | None, int | None]] = {
    Plan.DEMO: (1_000, 500),
    Plan.STANDARD: (50_000, 10_000),
    Plan.PROFESSIONAL: (500_000, 100_000),
    Plan.ENTERPRISE: (None, None),
}


class Tenant(ControlModel):
    """A merchant: the unit of isolation, placement and billing."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    slug = models.CharField(max_length=63, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    plan = models.CharField(max_length=20, choices=Plan.choices, default=Plan.STANDARD)
    created_at = models.DateTimeField(auto_now_add=True)
    dedicated = models.BooleanField(default=False, help_text="alone on its own host")
    # ISO country codes the tenant's data may live in; empty means anywhere.
    allowed_countries = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class LocalTenant(models.Model):
    """This delivery host's record of a tenant it serves.

    Same id as the control plane's :class:`Tenant`. Tenant-owned rows reference it, so a row
    can only exist for a tenant placed on this host, and the host can check a tenant without
    asking the control plane. The placement epoch used for fencing moves lands here later.
    """

    database_role: ClassVar[str] = "host"

    id = models.UUIDField(primary_key=True, editable=False)
    slug = models.CharField(max_length=63, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    # Plan limits, copied from the tenant's plan when it is placed here; None means unlimited.
    max_products = models.PositiveIntegerField(null=True, blank=True)
    max_orders_30d = models.PositiveIntegerField(null=True, blank=True,
                                                 help_text="sales documents dated in the last 30 days")
    # Fencing: the placement epoch this host serves the tenant at. A move's cutover sets
    # ``fenced`` on the source in the same transaction that waits out in-flight writers, and
    # every tenant write checks it (bindery.control.fencing), so a late writer is refused.
    epoch = models.PositiveIntegerField(default=1)
    fenced = models.BooleanField(default=False)
    # A move pauses the tenant's schedules (the scheduler enqueues nothing, workers start no
    # queued run) on both hosts until the switch; the target resumes them.
    paused = models.BooleanField(default=False)
    # While a move runs between PostgreSQL hosts, the fence triggers record every written row
    # of the tenant in ``MoveJournal`` so catch-up and verification touch only those rows.
    journal = models.BooleanField(default=False)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


# --- Delivery hosts, placement and moves (docs/decisions/0002-delivery-hosts.md) --------------

country_validator = RegexValidator(r"^[A-Z]{2}$", "Use an ISO 3166-1 alpha-2 country code, e.g. DE.")
host_name_validator = slug_validator


class Datacenter(ControlModel):
    """A site hosts run in; its country is what data-residency rules are checked against."""

    name = models.CharField(max_length=63, unique=True, validators=[slug_validator])
    country = models.CharField(max_length=2, validators=[country_validator])
    latitude = models.DecimalField(max_digits=8, decimal_places=5, null=True, blank=True)
    longitude = models.DecimalField(max_digits=8, decimal_places=5, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(latitude__gte=-90, latitude__lte=90)
                                   | models.Q(latitude__isnull=True), name="datacenter_latitude_range"),
            models.CheckConstraint(condition=models.Q(longitude__gte=-180, longitude__lte=180)
                                   | models.Q(longitude__isnull=True), name="datacenter_longitude_range"),
        ]

    def __str__(self) -> str:
        return self.name


class HostState(models.TextChoices):
    ACTIVE = "active", "Active"  # receives new tenants
    DRAINING = "draining", "Draining"  # serves its tenants, receives none, tenants move away
    RETIRED = "retired", "Retired"  # empty, kept for history


class Host(ControlModel):
    """A delivery host (a cell): web, workers and its own database, serving a set of tenants.

    The database URL carries a password, so it is stored sealed (AES-GCM, see
    :mod:`bindery.control.sealing`); read it with :meth:`database_url`.
    """

    name = models.CharField(max_length=63, unique=True, validators=[host_name_validator])
    datacenter = models.ForeignKey(Datacenter, on_delete=models.PROTECT, related_name="hosts")
    public_url = models.URLField(max_length=300)
    database_url_sealed = models.TextField(help_text="AES-GCM sealed database URL; never shown")
    capacity = models.PositiveIntegerField(default=100, help_text="load units this host can carry")
    state = models.CharField(max_length=10, choices=HostState.choices, default=HostState.ACTIVE)
    dedicated = models.BooleanField(default=False, help_text="serves exactly one tenant")
    app_version = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    # The backup site's access to this host's snapshot endpoint (SQLite hosts on another machine):
    # a keyed hash of the token (the token itself lives only in the site's configuration) and
    # the source addresses allowed to pull (CIDRs).
    snapshot_token_hash = models.CharField(max_length=64, blank=True)
    snapshot_allowed_cidrs = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def database_url(self) -> str:
        from bindery.control.sealing import unseal

        return unseal(self.database_url_sealed, purpose=f"host-database-url:{self.name}")


class PlacementState(models.TextChoices):
    ACTIVE = "active", "Active"
    MOVING = "moving", "Moving"


class Placement(ControlModel):
    """The directory: which host serves a tenant, and the epoch that fences stale writers."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="placement")
    host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="placements")
    epoch = models.PositiveIntegerField(default=1)
    state = models.CharField(max_length=10, choices=PlacementState.choices, default=PlacementState.ACTIVE)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant__slug"]

    def __str__(self) -> str:
        return f"{self.tenant.slug}@{self.host.name}#{self.epoch}"


class MoveState(models.TextChoices):
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class MoveStep(models.TextChoices):
    """Steps of a tenant move, in order; each is checkpointed so a killed move resumes."""

    START = "start", "Start"
    COPY = "copy", "Copy"
    CATCH_UP = "catch_up", "Catch up"
    CUTOVER = "cutover", "Cutover"
    VERIFY = "verify", "Verify"
    SWITCH = "switch", "Switch placement"
    DONE = "done", "Done"
    PRUNED = "pruned", "Source pruned"


class TenantMove(ControlModel):
    """One move of a tenant from one host to another, with a checkpoint per step."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="moves")
    source = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="moves_out")
    target = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="moves_in")
    state = models.CharField(max_length=10, choices=MoveState.choices, default=MoveState.RUNNING)
    step = models.CharField(max_length=10, choices=MoveStep.choices, default=MoveStep.START)
    # Per-table progress: {"table": {"after": "<last copied id>", "rows": n, "checksum": "..."}}.
    checkpoint = models.JSONField(default=dict, blank=True)
    rows_copied = models.BigIntegerField(default=0)
    rows_total = models.BigIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    fenced_at = models.DateTimeField(null=True, blank=True)
    unfenced_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant"], condition=models.Q(state="running"),
                                    name="one_running_move_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant.slug}: {self.source.name} -> {self.target.name} ({self.step})"


class MoveJournal(models.Model):
    """A row of a moving tenant written on this host since the move began (kept by the fence triggers)."""

    database_role: ClassVar[str] = "host"

    id = models.BigAutoField(primary_key=True)
    tenant_id = models.UUIDField()
    table_name = models.CharField(max_length=100)
    row_id = models.UUIDField()

    class Meta:
        indexes = [models.Index(fields=["tenant_id", "id"], name="control_journal_tenant")]
