"""Reading security events: one filter for the CLI, the API, the console and /ops/, and the hourly chart.

A tenant sees the events written for it (``tenant_id``) and those about its own accounts
(``<workspace>:<e-mail>``, how the brute-force guard names them); operators see everything and
may filter by tenant. The chart counts events per hour in the window, one query
(``GROUP BY`` the truncated hour), drawn as a server-side SVG like the console's other charts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncHour
from django.utils import timezone

from bindery.security.bruteforce import account_for_search
from bindery.security.client_ip import parse_ip
from bindery.security.models import SecurityEvent, SecurityEventKind

MAX_HOURS = 24 * 31
DEFAULT_HOURS = 24
MAX_ACCOUNT = 320


class EventFilterError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class EventFilter:
    """What to show; build it with :func:`event_filter`, which validates every field."""

    kind: str = ""
    ip: str = ""
    account: str = ""
    tenant_id: uuid.UUID | None = None
    tenant_slug: str = ""
    hours: int = DEFAULT_HOURS


def event_filter(*, kind: str = "", ip: str = "", account: str = "", hours: int | str | None = None,
                 tenant_id: uuid.UUID | None = None, tenant_slug: str = "") -> EventFilter:
    """Return a validated filter; raise :class:`EventFilterError` naming the field otherwise."""
    kind = (kind or "").strip()
    if kind and kind not in SecurityEventKind.values:
        raise EventFilterError("kind", f"unknown kind {kind[:30]!r}; use one of {', '.join(SecurityEventKind.values)}")
    ip = (ip or "").strip()
    if ip:
        parsed = parse_ip(ip[:64])
        if parsed is None or len(ip) > 64:
            raise EventFilterError("ip", f"{ip[:64]!r} is not an IP address")
        ip = str(parsed)
    account = (account or "").strip().lower()
    if len(account) > MAX_ACCOUNT:
        raise EventFilterError("account", f"an account is at most {MAX_ACCOUNT} characters")
    if hours in (None, ""):
        hours = DEFAULT_HOURS
    try:
        hours = int(hours)
    except (TypeError, ValueError):
        raise EventFilterError("hours", "hours must be a whole number") from None
    if not 1 <= hours <= MAX_HOURS:
        raise EventFilterError("hours", f"hours must be between 1 and {MAX_HOURS}")
    return EventFilter(kind=kind, ip=ip, account=account, tenant_id=tenant_id, tenant_slug=tenant_slug,
                       hours=hours)


def filter_events(f: EventFilter, *, now: dt.datetime | None = None) -> QuerySet[SecurityEvent]:
    """Return the events matching ``f`` in its window, newest first."""
    now = now or timezone.now()
    events = SecurityEvent.objects.filter(created_at__gt=now - dt.timedelta(hours=f.hours))
    if f.tenant_id is not None:
        mine = Q(tenant_id=f.tenant_id)
        if f.tenant_slug:
            mine |= Q(account__startswith=f"{f.tenant_slug}:")
        events = events.filter(mine)
    if f.kind:
        events = events.filter(kind=f.kind)
    if f.ip:
        events = events.filter(ip=f.ip)
    if f.account:
        # Accounts are stored as pseudonyms: a whole e-mail is matched exactly, anything else as a fragment.
        stored = account_for_search(f.account, f.tenant_slug)
        events = events.filter(account=stored) if stored != f.account else events.filter(
            account__icontains=f.account)
    return events.order_by("-created_at", "-id")


def events_per_hour(f: EventFilter, *, now: dt.datetime | None = None) -> list[tuple[dt.datetime, int]]:
    """Return one (hour start, count) per hour of the window, oldest first, empty hours as 0."""
    now = now or timezone.now()
    counted = (filter_events(f, now=now).order_by().annotate(hour=TruncHour("created_at", tzinfo=dt.UTC))
               .values("hour").annotate(n=Count("id")).values_list("hour", "n"))
    by_hour = {hour.astimezone(dt.UTC).replace(tzinfo=dt.UTC): n for hour, n in counted}
    last = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    hours = [last - dt.timedelta(hours=i) for i in range(f.hours - 1, -1, -1)]
    return [(h, by_hour.get(h, 0)) for h in hours]


CHART_W, CHART_H, PAD = 640, 160, 24


def hourly_chart(buckets: list[tuple[dt.datetime, int]]) -> dict[str, Any]:
    """Return the geometry of a bar chart of events per hour (SVG attributes, no inline styles)."""
    peak = max((n for _, n in buckets), default=0)
    width = (CHART_W - 2 * PAD) / max(len(buckets), 1)
    bars = []
    for index, (hour, n) in enumerate(buckets):
        height = (CHART_H - 2 * PAD) * n / peak if peak else 0.0
        if n:
            height = max(height, 1.0)
        bars.append({"x": round(PAD + index * width, 1), "y": round(CHART_H - PAD - height, 1),
                     "w": round(max(width * 0.8, 0.5), 1), "h": round(height, 1), "count": n,
                     "title": f"{hour:%Y-%m-%d %H}:00 UTC: {n} event{'s' if n != 1 else ''}"})
    first = buckets[0][0] if buckets else None
    return {"bars": bars, "width": CHART_W, "height": CHART_H, "peak": peak, "pad": PAD,
            "baseline": CHART_H - PAD, "right": CHART_W - PAD, "total": sum(n for _, n in buckets),
            "first": f"{first:%Y-%m-%d %H}:00" if first else "", "label_y": CHART_H - 6}


def event_row(event: SecurityEvent) -> dict[str, Any]:
    """Return an event as plain data (the API's and the ops JSON's shape)."""
    return {"id": event.pk, "at": event.created_at, "kind": event.kind, "ip": event.ip, "account": event.account,
            "tenant_id": event.tenant_id, "detail": event.detail}
