"""The backup site's schedule (daily slot, catch-up), alerts and catalog records."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from bindery.backups.models import AlertKind, BackupAlert, BackupKind, BackupRecord, BackupState
from bindery.backups.repository import Source, database_lock
from bindery.backups.retention import RetentionPolicy
from bindery.backups.site import Site, check_alerts, is_due, last_slot, site_tick
from bindery.config import load
from tests.backups.helpers import make_sqlite, site_ring

pytestmark = pytest.mark.django_db(databases=["default", "control"])
UTC = dt.UTC


def _site(tmp_path: Path, times: dict[str, dt.time] | None = None) -> Site:
    config = dataclasses.replace(load({"BINDERY_VAR_DIR": str(tmp_path / "var")}),
                                 backup_target=str(tmp_path / "repo"))
    return Site(config=config, ring=site_ring(), work_dir=tmp_path / "site", policy=RetentionPolicy(),
                times=times or {"": dt.time(2, 30)})


def _sources(tmp_path: Path) -> list[Source]:
    return [Source("control", "sqlite", str(make_sqlite(tmp_path / "control.sqlite3", orders=50))),
            Source("host-eu1", "sqlite", str(make_sqlite(tmp_path / "eu1.sqlite3", orders=80)), host="eu1")]


def test_last_slot():
    at = dt.time(2, 30)
    assert last_slot(dt.datetime(2026, 3, 5, 2, 29, tzinfo=UTC), at) == dt.datetime(2026, 3, 4, 2, 30, tzinfo=UTC)
    assert last_slot(dt.datetime(2026, 3, 5, 2, 30, tzinfo=UTC), at) == dt.datetime(2026, 3, 5, 2, 30, tzinfo=UTC)


def test_daily_schedule_per_host_with_catch_up(tmp_path):
    """Each database is backed up once per daily slot (per-host time); a site that was down for
    days backs everything up once when it returns, not once per missed day."""
    site = _site(tmp_path, {"": dt.time(2, 30), "eu1": dt.time(4, 0)})
    sources = _sources(tmp_path)
    day1 = dt.datetime(2026, 3, 5, 3, 0, tzinfo=UTC)
    done = site_tick(site, now=day1, sources=sources)
    assert [r.database for r in done] == ["control", "host-eu1"]  # first run: nothing yet, both due
    BackupRecord.objects.filter(kind=BackupKind.BACKUP).update(started_at=day1)
    assert site_tick(site, now=day1 + dt.timedelta(minutes=30), sources=sources) == []
    # 04:05: eu1's own slot passed, but its 03:00 backup is from before it -> due; control is not.
    at_0405 = day1 + dt.timedelta(hours=1, minutes=5)
    assert [s.database for s in sources if is_due(site, s, at_0405)] == ["host-eu1"]
    # Down for three days: one catch-up backup each, then nothing more until the next slot.
    back = day1 + dt.timedelta(days=3, hours=8)
    done = site_tick(site, now=back, sources=sources)
    assert sorted(r.database for r in done) == ["control", "host-eu1"]
    BackupRecord.objects.filter(kind=BackupKind.BACKUP, started_at__gt=day1).update(started_at=back)
    assert site_tick(site, now=back + dt.timedelta(minutes=1), sources=sources) == []
    assert BackupRecord.objects.filter(kind=BackupKind.VERIFY, state=BackupState.OK).count() == 4
    assert BackupRecord.objects.filter(kind=BackupKind.DRILL, state=BackupState.OK).count() == 2


def test_a_locked_database_is_skipped_not_doubled(tmp_path):
    site = _site(tmp_path)
    sources = _sources(tmp_path)
    with database_lock(site.work_dir / "locks", "control"):
        done = site_tick(site, now=dt.datetime(2026, 3, 5, 3, 0, tzinfo=UTC), sources=sources)
    assert [r.database for r in done] == ["host-eu1"]
    assert not BackupRecord.objects.filter(database="control", kind=BackupKind.BACKUP).exists()


def test_stale_and_failed_backups_raise_alerts_once(tmp_path):
    """No good backup within 26 h raises one alert (not one per check); a good backup clears it;
    a failed verify raises its own alert."""
    site = _site(tmp_path)
    sources = _sources(tmp_path)
    now = dt.datetime(2026, 3, 5, 3, 0, tzinfo=UTC)
    assert len(check_alerts(sources, now=now)) == 2
    assert check_alerts(sources, now=now) == []
    assert BackupAlert.objects.filter(kind=AlertKind.STALE, resolved_at__isnull=True).count() == 2
    site_tick(site, now=now, sources=sources)
    assert not BackupAlert.objects.filter(kind=AlertKind.STALE, resolved_at__isnull=True).exists()
    BackupRecord.objects.filter(kind=BackupKind.BACKUP).update(started_at=now - dt.timedelta(hours=27))
    assert {a.database for a in check_alerts(sources, now=now)} == {"control", "host-eu1"}
    # Damage the newest control archive: the next verify fails and alerts.
    archive = next((tmp_path / "repo" / "control").glob("*.bkp"))
    data = bytearray(archive.read_bytes())
    data[-5] ^= 1
    archive.chmod(0o600)
    archive.write_bytes(bytes(data))
    from bindery.backups.repository import find_backup
    from bindery.backups.site import run_verify

    target = site.open_target()
    assert not run_verify(site, target, find_backup(target, site.ring, "control"))
    alert = BackupAlert.objects.get(kind=AlertKind.VERIFY_FAILED)
    assert "does not verify" in alert.message


def test_failed_backup_is_recorded_as_failed(tmp_path):
    site = _site(tmp_path)
    missing = [Source("host-gone", "sqlite", str(tmp_path / "nope.sqlite3"), host="gone")]
    done = site_tick(site, now=dt.datetime(2026, 3, 5, 3, 0, tzinfo=UTC), sources=missing)
    assert [r.state for r in done] == [BackupState.FAILED]
    assert BackupAlert.objects.filter(database="host-gone", kind=AlertKind.BACKUP_FAILED).exists()
