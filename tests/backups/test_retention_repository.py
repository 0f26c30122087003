"""Acceptance: 400 simulated days of daily backups, pruned by the site after each one, leave
exactly the grandfather-father-son set in the repository (manifests and archives)."""

from __future__ import annotations

import datetime as dt

from bindery.backups.repository import Source, create_backup, list_backups, prune_backups
from bindery.backups.retention import RetentionPolicy
from bindery.backups.targets import LocalTarget
from tests.backups.helpers import make_sqlite, site_ring


def test_four_hundred_days_of_daily_backups_keep_exactly_the_gfs_set(tmp_path):
    db = make_sqlite(tmp_path / "host.sqlite3", orders=5)
    repo = LocalTarget(tmp_path / "repo")
    ring = site_ring()
    policy = RetentionPolicy(daily=14, weekly=8, monthly=12)
    start = dt.datetime(2025, 1, 1, 2, 30, tzinfo=dt.UTC)
    source = Source("host-local", "sqlite", str(db))
    for day in range(400):
        create_backup(repo, ring, source, work_dir=tmp_path / "site", now=start + dt.timedelta(days=day))
        prune_backups(repo, ring, "host-local", policy, lock_dir=tmp_path / "site" / "locks")
    kept = {m.taken_at.date() for m in list_backups(repo, ring)[0]}
    last = dt.date(2026, 2, 4)
    daily = {last - dt.timedelta(days=i) for i in range(14)}
    previous_sunday = last - dt.timedelta(days=last.isoweekday() % 7 or 7)
    weekly = {last} | {previous_sunday - dt.timedelta(weeks=i) for i in range(7)}
    monthly = {last}
    first = last.replace(day=1)
    for _ in range(11):
        month_end = first - dt.timedelta(days=1)
        monthly.add(month_end)
        first = month_end.replace(day=1)
    assert kept == daily | weekly | monthly
    assert len(kept) == 29
    files = sorted(p.name for p in (repo.root / "host-local").iterdir())
    assert len(files) == 2 * 29  # every pruned backup lost its archive too; no partials
