"""Integration runs for load tests: finished runs of a given age and runs still waiting for a worker."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from bindery.catalog.actions import do_create_warehouse
from bindery.control.models import LocalTenant
from bindery.integration.actions import do_create_connector, do_create_node
from bindery.integration.models import Connector, Run, RunStatus


def connectors(tenant: LocalTenant, n: int) -> list[Connector]:
    node = do_create_node(tenant, "hub", "hub", actor="test")
    for code in ("main", "shop"):
        do_create_warehouse(tenant, code, name=code, actor="test")
    return [do_create_connector(tenant, f"copy {i}", node, "stock_copy",
                                config={"source_warehouse": "main", "target_warehouse": "shop"}, actor="test")
            for i in range(n)]


def finished_runs(tenant: LocalTenant, connector: Connector, n: int, *, age: dt.timedelta) -> None:
    runs = Run.objects.bulk_create([Run(tenant=tenant, connector=connector, status=RunStatus.SUCCEEDED)
                                    for _ in range(n)])
    Run.objects.for_tenant(tenant).filter(pk__in=[r.pk for r in runs]).update(
        queued_at=timezone.now() - age, finished_at=timezone.now() - age)


def waiting_run(tenant: LocalTenant, connector: Connector, *, queued: dt.timedelta,
                requeued: dt.timedelta | None = None) -> Run:
    run = Run.objects.create(tenant=tenant, connector=connector, attempt=2 if requeued else 1)
    now = timezone.now()
    Run.objects.for_tenant(tenant).filter(pk=run.pk).update(
        queued_at=now - queued, modified_at=now - (requeued or queued))  # update() leaves auto_now alone
    return run
