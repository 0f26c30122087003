from datetime import UTC, date, datetime, timedelta

import pytest

from bindery.backups.retention import RetentionPolicy, backups_to_keep

START = date(2025, 1, 1)


def daily_backups(days: int) -> list[datetime]:
    return [datetime.combine(START + timedelta(days=i), datetime.min.time(), UTC).replace(hour=3) for i in range(days)]


def test_four_hundred_days_keep_exactly_the_gfs_set():
    backups = daily_backups(400)  # 2025-01-01 .. 2026-02-04 (a Wednesday)
    last = backups[-1].date()
    assert last == date(2026, 2, 4)
    kept = {b.date() for b in backups_to_keep(backups, RetentionPolicy())}

    daily = {last - timedelta(days=i) for i in range(14)}
    # Newest of each ISO week: this week's newest (the last day), then the 7 previous Sundays.
    previous_sunday = last - timedelta(days=last.isoweekday() % 7 or 7)
    weekly = {last} | {previous_sunday - timedelta(weeks=i) for i in range(7)}
    # Newest of each month: this month's newest, then the last day of the 11 previous months.
    monthly = {last}
    first = last.replace(day=1)
    for _ in range(11):
        month_end = first - timedelta(days=1)
        monthly.add(month_end)
        first = month_end.replace(day=1)

    assert kept == daily | weekly | monthly
    # 14 daily + 8 weekly + 12 monthly, minus overlaps: the last day (counted 3x), Sundays
    # Feb 1 and Jan 25 (weekly and daily), Jan 31 (monthly and daily).
    assert len(kept) == 14 + 8 + 12 - 2 - 2 - 1
    assert min(kept) == date(2025, 3, 31)


def test_gaps_count_periods_with_backups_and_duplicates_are_harmless():
    backups = daily_backups(30)
    sparse = backups[::7] + backups[::7]
    kept = backups_to_keep(sparse, RetentionPolicy(daily=2, weekly=0, monthly=0))
    assert kept == set(backups[::7][-2:])


def test_newest_backup_of_a_day_is_the_one_kept():
    morning = datetime(2026, 1, 5, 3, tzinfo=UTC)
    evening = morning + timedelta(hours=15)
    assert backups_to_keep([morning, evening], RetentionPolicy(daily=1, weekly=0, monthly=0)) == {evening}


def test_empty_input_keeps_nothing():
    assert backups_to_keep([], RetentionPolicy()) == set()


@pytest.mark.parametrize(
    "kwargs", [{"daily": -1}, {"weekly": 1.5}, {"monthly": True}, {"daily": 0, "weekly": 0, "monthly": 0}]
)
def test_bad_policies_are_rejected(kwargs):
    with pytest.raises(ValueError, match="retention"):
        RetentionPolicy(**kwargs)
