"""Calls to passive connectors, recorded as runs: who called, what came in or went out, how it ended.

A passive connector (an API endpoint another system calls) has no worker run, but people need
the same history and readable log as for every other connector, so each call is a :class:`Run`
with trigger ``call``, executed inline. The one-active-run-per-connector constraint applies too:
a second call while one is in progress is refused (409) rather than exporting the same orders
twice or interleaving two imports of one catalogue.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from bindery.control.routers import HOST
from bindery.integration.actions import add_log_line, bump_counters
from bindery.integration.errors import IntegrationError, IntegrationErrorCode
from bindery.integration.models import Connector, LogLevel, Run, RunItemFailure, RunStatus, RunTrigger
from bindery.integration.runner import WORKER_ID

logger = logging.getLogger(__name__)


def call_url(connector: Connector, technology: str) -> str | None:
    """``"GET https://host/api/connectors/<id>/orders"`` for a passive connector; None for the others."""
    from django.conf import settings

    from bindery.integration import registry

    try:
        ctype = registry.get(technology).connector_type(connector.connector_type)
    except IntegrationError:
        return None
    if not ctype.passive:
        return None
    method, endpoint = ctype.endpoint.split()
    return f"{method} {settings.BINDERY_PUBLIC_URL.rstrip('/')}/api/connectors/{connector.pk}/{endpoint}"


@dataclass
class Call:
    """The run of one call, and what the endpoint reports into it."""

    run: Run
    connector: Connector
    refused: str = ""  # set when the whole request was refused (bad body): the run fails
    _counts: dict[str, int] = field(default_factory=dict)

    def log(self, message: str, *, level: str = LogLevel.INFO) -> None:
        add_log_line(self.run, message[:2000], level=level)

    def count(self, **counts: int) -> None:
        for name, value in counts.items():
            self._counts[name] = self._counts.get(name, 0) + value

    def fail_items(self, failures: list[tuple[str, str, str, str]]) -> None:
        """Record (item, code, message, field) failures in one insert."""
        RunItemFailure.objects.bulk_create([
            RunItemFailure(tenant_id=self.run.tenant_id, run=self.run, item=item[:200], code=code[:50],
                           message=message[:2000], field=field_name[:200])
            for item, code, message, field_name in failures[:1000]])
        self.count(failed=len(failures))

    def refuse(self, message: str) -> None:
        self.refused = message[:2000]
        self.log(message, level=LogLevel.ERROR)


@contextlib.contextmanager
def recorded_call(connector: Connector, *, actor: str, summary: str) -> Iterator[Call]:
    """Open a running run for this call; finish it succeeded, or failed when refused or raised."""
    now = timezone.now()
    run = Run(tenant_id=connector.tenant_id, connector=connector, status=RunStatus.RUNNING,
              trigger=RunTrigger.CALL, actor=actor[:100], started_at=now, heartbeat_at=now,
              worker=WORKER_ID[:100], max_attempts=1)
    try:
        with transaction.atomic(using=HOST):
            run.save(force_insert=True)
    except IntegrityError:
        raise IntegrationError(IntegrationErrorCode.ALREADY_RUNNING,
                               "another call to this connector is in progress; try again when it has finished",
                               ) from None
    call = Call(run=run, connector=connector)
    call.log(summary)
    try:
        yield call
    except BaseException as exc:
        _finish(call, RunStatus.FAILED, error=f"{type(exc).__name__}: the call failed")
        raise
    _finish(call, RunStatus.FAILED if call.refused else RunStatus.SUCCEEDED, error=call.refused)


def _finish(call: Call, status: str, *, error: str = "") -> None:
    bump_counters(call.run, **call._counts)
    now = timezone.now()
    Run.objects.for_tenant(call.run.tenant_id).filter(pk=call.run.pk).update(
        status=status, finished_at=now, heartbeat_at=now, error=error, modified_at=now)
    call.run.status, call.run.finished_at = status, now
