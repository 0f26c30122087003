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
