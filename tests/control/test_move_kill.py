"""The mover process SIGKILLed at each checkpoint, then run again, ends with a complete, verified move."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import Platform, platform

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)
# Checkpoints in order, counted within each mover process: after start, after the third table
# copied by the rerun, after the copy, after the catch-up (schedules paused, pre-verified), after
# the fence time is recorded, after the fence and final sync, after the verification. Each rerun
# resumes from the checkpoint before and is killed at the next.
KILL_AT = ["copy#1", "copy#3", "catch_up", "cutover", "cutover", "verify", "switch"]


def step(plat: Platform, *args: str, timeout: float = 240) -> Any:
    done = subprocess.run([sys.executable, "-m", "tests.control.move_scenario", *args], env=plat.env,
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def kill_at(plat: Platform, where: str, index: int, timeout: float = 240) -> None:
    marker = plat.var_dir / f"reached-{index}"
    mover = subprocess.Popen([sys.executable, "-m", "tests.control.move_scenario", "move", where, str(marker)],
                             env=plat.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             start_new_session=True)
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if mover.poll() is not None:
            raise AssertionError(f"the mover ended before {where}: {mover.stderr.read().decode()[-3000:]}")  # type: ignore[union-attr]
        assert time.monotonic() < deadline, f"the mover did not reach {where}"
        time.sleep(0.2)
    os.killpg(mover.pid, signal.SIGKILL)
    mover.wait(timeout=30)
    assert mover.returncode == -signal.SIGKILL
    mover.stderr.close()  # type: ignore[union-attr]


def _target_url(plat: Platform) -> tuple[str, str | None]:
    host_url = plat.env.get("BINDERY_HOST_DATABASE_URL", "")
    if not host_url.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{plat.var_dir / 'host-b.sqlite3'}", None
    name = f"bindery_srv_hostb_{uuid.uuid4().hex[:10]}"
    return host_url.rsplit("/", 1)[0] + f"/{name}", name


def _drop(plat: Platform, name: str | None) -> None:
    if name is None:
        return
    import psycopg

    admin = plat.env["BINDERY_HOST_DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_sigkilled_mover_resumes_at_every_step(tmp_path: Path) -> None:
    with platform(tmp_path) as plat:
        migrated = plat.bindery("migrate", "--quiet", timeout=300)
        assert migrated.returncode == 0, migrated.stderr
        url, made = _target_url(plat)
        try:
            step(plat, "setup", url)
            for index, where in enumerate(KILL_AT):
                kill_at(plat, where, index)
                halfway = step(plat, "state")
                assert halfway["moves"] == [["running", where.split("#")[0]]], (where, halfway)
                assert halfway["placement"][0] != "host-b"  # the directory flips only at the very end
            assert step(plat, "move", "none", str(plat.var_dir / "unused")) == {"state": "done", "step": "done"}
            final = step(plat, "state")
            assert final["moves"] == [["done", "done"]]
            assert final["placement"] == ["host-b", 2, "active"]
            assert final["differing"] == []
            assert final["rows"] > 40 * 5
            assert final["source_fenced"] is True
            assert final["target_paused"] is False
            assert final["journal_left"] == 0
        finally:
            _drop(plat, made)
