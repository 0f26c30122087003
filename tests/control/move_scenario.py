"""Steps of the mover-kill scenario, run as ``python -m tests.control.move_scenario STEP ...``.

Each step is its own process against the platform's real databases (the test SIGKILLs the
``move`` step at a checkpoint and runs it again); each prints one JSON line.

``move STOP_AT MARKER``: moves tenant ``acme`` to ``host-b``; when the mover reaches the
checkpoint ``STOP_AT`` (``step`` or ``step#n`` for its n-th checkpoint of that name) it writes
``MARKER`` and sleeps until killed. ``STOP_AT`` ``none`` runs the move to its end.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def _setup_django() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bindery.settings"
    import django

    django.setup()


def setup(target_url: str) -> dict[str, object]:
    from bindery.catalog.actions import do_bulk_upsert_products, do_create_price_list, do_create_warehouse
    from bindery.control.actions import do_create_tenant
    from bindery.control.hosts import do_add_host, ensure_local_host
    from bindery.control.models import LocalTenant
    from bindery.integration.actions import do_create_node
    from tests.catalog.conftest import full_product
    from tests.sales.factories import order_payload, store

    local = ensure_local_host()
    do_create_tenant("acme", "Acme Ltd", actor="test")
    tenant = LocalTenant.objects.get(slug="acme")
    do_create_warehouse(tenant, "main", name="Main", actor="test")
    do_create_price_list(tenant, "retail", "EUR", actor="test")
    do_bulk_upsert_products(tenant, [full_product(f"P{i}", variants=1) for i in range(40)], actor="test")
    for number in ("1001", "1002"):
        store(tenant, order_payload(number))
    do_create_node(tenant, "hub", "hub", actor="test")
    target = do_add_host("host-b", datacenter=local.datacenter, public_url="https://host-b.example",
                         database_url=target_url, actor="test")
    return {"tenant": str(tenant.pk), "target": target.name}


def move(stop_at: str, marker: str) -> dict[str, object]:
    from bindery.control import moves
    from bindery.control.hosts import access_host
    from bindery.control.models import Tenant

    seen: dict[str, int] = {}

    def hook(step: str) -> None:
        seen[step] = seen.get(step, 0) + 1
        if stop_at in (f"{step}#{seen[step]}", step if seen[step] == 1 else ""):
            Path(marker).write_text(step)
            time.sleep(3600)  # until SIGKILL

    moves.after_step = hook
    done = moves.do_move_tenant(Tenant.objects.get(slug="acme"), access_host("host-b"), actor="cli")
    return {"state": done.state, "step": done.step}


def state() -> dict[str, object]:
    from bindery.control import moves
    from bindery.control.hosts import access_host, host_alias
    from bindery.control.models import LocalTenant, MoveJournal, Placement, Tenant, TenantMove

    tenant = Tenant.objects.get(slug="acme")
    dst = host_alias(access_host("host-b"))
    differing = [m._meta.db_table for m in moves.tenant_models()
                 if moves.table_digest("default", m, tenant.pk) != moves.table_digest(dst, m, tenant.pk)]
    rows = sum(moves.table_digest(dst, m, tenant.pk)[0] for m in moves.tenant_models())
    placement = Placement.objects.select_related("host").get(tenant=tenant)
    return {"moves": list(TenantMove.objects.filter(tenant=tenant).values_list("state", "step")),
            "placement": [placement.host.name, placement.epoch, placement.state],
            "differing": differing, "rows": rows,
            "source_fenced": LocalTenant.objects.get(pk=tenant.pk).fenced,
            "target_paused": LocalTenant.objects.using(dst).get(pk=tenant.pk).paused,
            "journal_left": MoveJournal.objects.filter(tenant_id=tenant.pk).count()}


def main(argv: list[str]) -> int:
    _setup_django()
    step, args = argv[0], argv[1:]
    result = {"setup": setup, "move": move, "state": state}[step](*args)  # type: ignore[operator]
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
