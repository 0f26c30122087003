"""Grandfather-father-son retention (SECURITY.md §4): which backups to keep.

Pure: given the dates of the good backups and a policy, return the dates to keep. The newest
backup of each of the last `daily` days, of each of the last `weekly` ISO weeks and of each of
the last `monthly` calendar months is kept (counted back from the newest backup, among
periods that have a backup). Everything else may be pruned — by the backup site only.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class RetentionPolicy:
    daily: int = 14
    weekly: int = 8
    monthly: int = 12

    def __post_init__(self) -> None:
        for name in ("daily", "weekly", "monthly"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"retention {name} must be a whole number >= 0, got {value!r}")
        if self.daily + self.weekly + self.monthly == 0:
            raise ValueError("a retention policy that keeps nothing would delete every backup")


def _day(d: date) -> Hashable:
    return d


def _week(d: date) -> Hashable:
    iso = d.isocalendar()
    return (iso.year, iso.week)


def _month(d: date) -> Hashable:
    return (d.year, d.month)


def backups_to_keep(taken_at: Iterable[datetime], policy: RetentionPolicy) -> set[datetime]:
    """The subset of `taken_at` the policy keeps; the rest may be pruned."""
    newest_first = sorted(set(taken_at), reverse=True)
    keep: set[datetime] = set()
    buckets: list[tuple[Callable[[date], Hashable], int]] = [
        (_day, policy.daily),
        (_week, policy.weekly),
        (_month, policy.monthly),
    ]
    for period_of, count in buckets:
        seen: set[Hashable] = set()
        for moment in newest_first:
            if len(seen) >= count:
                break
            period = period_of(moment.date())
            if period not in seen:
                seen.add(period)
                keep.add(moment)
    return keep
