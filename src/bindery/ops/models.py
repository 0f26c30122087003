"""Operational state of this delivery host."""

from __future__ import annotations

from typing import ClassVar

from django.db import models


class WorkerHeartbeat(models.Model):
    """The last time a job worker on this host proved it runs jobs, written by a periodic job.

    /healthz reads it: a queue without a live worker is a queue that only grows.
    """

    database_role: ClassVar[str] = "host"

    worker = models.CharField(max_length=200, unique=True, help_text="host name and process id")
    last_seen = models.DateTimeField()
    queue_pending = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return f"{self.worker} @ {self.last_seen:%Y-%m-%d %H:%M:%S}"
