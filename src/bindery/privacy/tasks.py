"""Jobs of the data-protection area."""

from __future__ import annotations

from django.db import close_old_connections
from huey import crontab

from bindery.ops.queue import huey
from bindery.privacy.incidents import alert_due_incidents


@huey.periodic_task(crontab(minute="7"))
def alert_incident_deadlines() -> None:
    """Hourly: warn operators about incidents whose 72-hour notification deadline is near."""
    close_old_connections()
    try:
        alert_due_incidents()
    finally:
        close_old_connections()


@huey.periodic_task(crontab(hour="3", minute="17"))
def apply_retention_rules() -> None:
    """Daily: apply every tenant's retention rules on this host."""
    from bindery.control.models import LocalTenant
    from bindery.control.rls import tenant_scope
    from bindery.privacy.retention import apply_retention

    close_old_connections()
    try:
        for tenant in LocalTenant.objects.all():
            with tenant_scope(tenant.pk):
                apply_retention(tenant)
    finally:
        close_old_connections()
