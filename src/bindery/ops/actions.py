"""Writes to this host's operational state."""

from __future__ import annotations

import datetime as dt
import os
import socket

from django.db import transaction
from django.utils import timezone

from bindery.ops.models import WorkerHeartbeat

# Heartbeats older than this belong to workers that are gone; dropping them keeps the table small.
HEARTBEAT_RETENTION = dt.timedelta(days=1)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def do_record_worker_heartbeat(*, queue_pending: int, now: dt.datetime | None = None) -> WorkerHeartbeat:
    now = now or timezone.now()
    with transaction.atomic():
        beat, _ = WorkerHeartbeat.objects.update_or_create(
            worker=worker_name(), defaults={"last_seen": now, "queue_pending": queue_pending}
        )
        WorkerHeartbeat.objects.filter(last_seen__lt=now - HEARTBEAT_RETENTION).delete()
    return beat
