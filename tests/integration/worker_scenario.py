"""Steps of the worker-kill scenario, run as ``python -m tests.integration.worker_scenario STEP``.

Each step is its own process against the platform's real databases and queue (the test starts
and kills the real ``bindery worker`` in between); each prints one JSON line.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time


def _setup_django() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bindery.settings"
    import django

    django.setup()


def setup(products: int) -> dict[str, object]:
    from bindery.catalog.actions import do_create_warehouse
    from bindery.control.actions import do_create_tenant
    from bindery.control.models import LocalTenant
    from bindery.integration.actions import do_create_connector, do_create_node, do_enqueue_run
    from tests.integration.conftest import make_products

    do_create_tenant("acme", "Acme Ltd", actor="test")
    tenant = LocalTenant.objects.get(slug="acme")
    do_create_warehouse(tenant, "main", actor="test")
    do_create_warehouse(tenant, "shop", actor="test")
    make_products(tenant, products)
    node = do_create_node(tenant, "hub", "hub", actor="test")
    connector = do_create_connector(tenant, "main to shop", node, "stock_copy",
                                    config={"source_warehouse": "main", "target_warehouse": "shop",
                                            "batch_size": 5, "throttle_ms": 300}, actor="test")
    run = do_enqueue_run(connector=connector, actor="test")  # autocommit: the worker is woken at once
    return {"run": str(run.pk)}


def _state(run_id: str) -> dict[str, object]:
    from bindery.catalog.models import StockLevel
    from bindery.integration.models import Binding, Run, RunLogLine

    run = Run.objects.unscoped().get(pk=run_id)
    return {"status": run.status, "attempt": run.attempt, "done": run.progress_done, "total": run.progress_total,
            "updated": run.updated_count, "skipped": run.skipped_count, "worker": run.worker,
            "shop_stock_rows": StockLevel.objects.unscoped().filter(warehouse__key="shop").count(),
            "bindings": Binding.objects.unscoped().count(),
            "distinct_bound": Binding.objects.unscoped().values("external_id").distinct().count(),
            "log": list(RunLogLine.objects.unscoped().filter(run=run).order_by("id").values_list("message", flat=True))}


def wait(run_id: str, condition: str, timeout: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        state = _state(run_id)
        if condition == "midway" and state["status"] == "running" and int(state["done"]) >= 10:  # type: ignore[call-overload]
            return state
        if condition == "final" and state["status"] in ("succeeded", "failed", "cancelled"):
            return state
        if time.monotonic() > deadline:
            return {"timeout": True, **state}
        time.sleep(0.2)


def recover() -> dict[str, object]:
    from bindery.integration.scheduler import tick

    result = tick(stale_after=dt.timedelta(seconds=0))
    return {"leader": result.leader, "retried": result.retried, "failed": result.failed}


def main(argv: list[str]) -> int:
    _setup_django()
    step = argv[0]
    if step == "setup":
        out = setup(int(argv[1]))
    elif step == "wait":
        out = wait(argv[1], argv[2], float(argv[3]))
    elif step == "state":
        out = _state(argv[1])
    elif step == "recover":
        out = recover()
    else:
        raise SystemExit(f"unknown step {step}")
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
