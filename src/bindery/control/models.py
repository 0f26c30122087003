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

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug
