"""The backup site's read-rate limit (BINDERY_BACKUP_RATE_LIMIT) and the host's low-priority copy."""

from __future__ import annotations

import os
import sqlite3
import threading

import pytest

from bindery.backups import snapshot_endpoint
from bindery.backups.throttle import RateLimit
from bindery.config import ConfigError, load


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_limit_sleeps_while_ahead_of_the_rate_and_not_when_behind():
    clock = FakeClock()
    limit = RateLimit(1_000_000, clock=clock, sleep=clock.sleep)
    limit.take(500_000)
    assert clock.slept == [pytest.approx(0.5)]
    clock.now += 2.0  # the reader was slow on its own: already behind the rate
    limit.take(1_000_000)
    assert len(clock.slept) == 1
    limit.take(2_000_000)  # 3.5 MB in 2.5 s so far: one more second
    assert clock.slept[1] == pytest.approx(1.0)
    assert limit.total == 3_500_000


def test_no_limit_never_sleeps_and_a_negative_one_is_refused():
    clock = FakeClock()
    limit = RateLimit(0, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        limit.take(10_000_000)
    assert clock.slept == []
    with pytest.raises(ValueError, match="negative"):
        RateLimit(-1)


def test_the_setting_is_whole_megabytes_per_second(tmp_path):
    base = {"BINDERY_VAR_DIR": str(tmp_path)}
    assert load(base).backup_rate_limit == 0
    assert load({**base, "BINDERY_BACKUP_RATE_LIMIT": "25"}).backup_rate_limit == 25
    for bad in ("fast", "-1", "2.5", "100001"):
        with pytest.raises(ConfigError, match="BINDERY_BACKUP_RATE_LIMIT"):
            load({**base, "BINDERY_BACKUP_RATE_LIMIT": bad})


def _nice_of_copy(tmp_path, monkeypatch, lowest: bool) -> tuple[int, int]:
    seen: list[tuple[int, int]] = []

    def probe(source, partial):
        seen.append((threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        partial.write_bytes(source.read_bytes())

    monkeypatch.setattr(snapshot_endpoint, "copy_online", probe)
    src = tmp_path / "src.sqlite3"
    src.write_bytes(b"x")
    snapshot_endpoint.copy_at_low_priority(src, tmp_path / f"copy-{lowest}", lowest=lowest)
    return seen[0]


def test_the_hosts_copy_runs_in_its_own_thread_at_nice_19_and_the_worker_keeps_its_priority(tmp_path, monkeypatch):
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    if own != 0:
        pytest.skip("needs a normal-priority run")
    tid, nice = _nice_of_copy(tmp_path, monkeypatch, lowest=True)
    assert tid != threading.get_native_id()
    assert nice == 19
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == 0
    assert _nice_of_copy(tmp_path, monkeypatch, lowest=False)[1] == 0


def test_a_failed_copy_is_raised_to_the_caller(tmp_path):
    (tmp_path / "bad.sqlite3").write_bytes(b"not a database" * 100)
    with pytest.raises(sqlite3.DatabaseError):
        snapshot_endpoint.copy_at_low_priority(tmp_path / "bad.sqlite3", tmp_path / "out.sqlite3")
