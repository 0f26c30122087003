"""A real worker killed with SIGKILL mid-run: the run is recovered, retried once, and nothing is duplicated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import Platform, platform

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)
# Batches of 5, 300 ms apart: about 12 s of run, so the worker is still mid-run when the waiting
# process (its own interpreter start-up included) sees progress and kills it, even on a loaded machine.
PRODUCTS = 200


def step(plat: Platform, *args: str, timeout: float = 180) -> Any:
    done = subprocess.run([sys.executable, "-m", "tests.integration.worker_scenario", *args], env=plat.env,
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_sigkilled_worker_run_is_retried_without_duplicates(tmp_path: Path) -> None:
    """Kill -9 the worker mid-run; the run stays 'running' with a dead heartbeat until the scheduler
    recovers it; the retry on a new worker finishes it and every product is written and bound once."""
    with platform(tmp_path) as plat:
        migrated = plat.bindery("migrate", "--quiet", timeout=300)
        assert migrated.returncode == 0, migrated.stderr
        run_id = step(plat, "setup", str(PRODUCTS))["run"]
        worker = plat.start("worker", "--threads", "1")
        midway = step(plat, "wait", run_id, "midway", "150")
        assert "timeout" not in midway, (midway, plat.logs())
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        assert worker.returncode == -signal.SIGKILL

        orphan = step(plat, "state", run_id)
        assert orphan["status"] == "running"  # nobody is left to say otherwise
        assert 10 <= orphan["done"] < PRODUCTS

        recovered = step(plat, "recover")
        assert recovered["leader"] is True
        assert recovered["retried"] == [run_id]

        plat.start("worker", "--threads", "1")
        final = step(plat, "wait", run_id, "final", "170")
        assert "timeout" not in final, (final, plat.logs())
        assert (final["status"], final["attempt"]) == ("succeeded", 2)
        assert (final["done"], final["total"]) == (PRODUCTS, PRODUCTS)
        # The first attempt's writes are found unchanged by the second; nothing is doubled.
        assert final["updated"] + final["skipped"] == PRODUCTS
        assert final["skipped"] >= orphan["done"] - 5
        assert (final["shop_stock_rows"], final["bindings"], final["distinct_bound"]) == (PRODUCTS,) * 3
        assert any("stopped sending heartbeats" in line for line in final["log"])
