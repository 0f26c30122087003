"""Measured load of delivery hosts: what placement and the operators' console decide by.

A tenant's load is counted on the host that stores it: products, sales documents dated in the
last 30 days, integration runs per day (runs queued in the last 7 days / 7) and its queue lag
(age of its oldest run still waiting for a worker). One number, load *units*, makes hosts
comparable with their ``capacity``:

    units = products / 1,000 + orders in 30 days / 100 + runs per day / 100

so a standard-plan tenant at its limits (50k products, 10k orders) weighs 150 units.

Queue lag is not a size but a symptom: a host whose oldest waiting run is older than
``LAG_HOT`` seconds has more work than its workers, whatever its units say. A host's
*pressure* is the larger of its share of capacity and its lag scaled so that ``LAG_HOT`` sits
on the hot mark; placement picks the lowest pressure and a host over the mark is hot.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from django.db.models import Case, Count, F, Min, When
from django.utils import timezone

from bindery.control.models import Host, Placement

PRODUCTS_PER_UNIT = 1_000
ORDERS_PER_UNIT = 100
RUNS_PER_UNIT = 100
RUNS_WINDOW_DAYS = 7  # runs per day is averaged over a week: daily batches do not look like spikes
HOT = 0.85  # a host above this share of its capacity should shed tenants
COLD = 0.20  # below this share it could take more or be merged away
LAG_HOT = 300.0  # seconds the oldest waiting run may wait before the host counts as hot


@dataclass
class TenantLoad:
    tenant_id: uuid.UUID
    slug: str
    products: int = 0
    orders_30d: int = 0
    runs_per_day: float = 0.0
    queue_lag_seconds: float = 0.0  # age of the tenant's oldest run still waiting for a worker

    @property
    def units(self) -> float:
        return (self.products / PRODUCTS_PER_UNIT + self.orders_30d / ORDERS_PER_UNIT
                + self.runs_per_day / RUNS_PER_UNIT)


@dataclass
class HostLoad:
    host: Host
    tenants: list[TenantLoad] = field(default_factory=list)
    reachable: bool = True
    error: str = ""

    @property
    def units(self) -> float:
        return sum(t.units for t in self.tenants)

    @property
    def runs_per_day(self) -> float:
        return sum(t.runs_per_day for t in self.tenants)

    @property
    def queue_lag_seconds(self) -> float:
        """The host's queue lag: the oldest waiting run of any of its tenants."""
        return max((t.queue_lag_seconds for t in self.tenants), default=0.0)

    @property
    def share(self) -> float:
        return self.units / self.host.capacity if self.host.capacity else 1.0

    @property
    def lagging(self) -> bool:
        return self.queue_lag_seconds > LAG_HOT

    @property
    def pressure(self) -> float:
        """Share of capacity, raised by queue lag (``LAG_HOT`` seconds of lag = the hot mark)."""
        return max(self.share, HOT * self.queue_lag_seconds / LAG_HOT)

    @property
    def hot(self) -> bool:
        return self.pressure > HOT

    @property
    def cold(self) -> bool:
        return self.pressure < COLD


def measure_host(host: Host, *, now: dt.datetime | None = None) -> HostLoad:
    """Count each placed tenant's rows in the host's own database."""
    from bindery.catalog.models import Product
    from bindery.control.databases import HostDatabaseError, alias_for_host
    from bindery.integration.models import Run, RunStatus
    from bindery.sales.models import Order

    now = now or timezone.now()
    placements = list(Placement.objects.filter(host=host).select_related("tenant"))
    load = HostLoad(host, [TenantLoad(p.tenant_id, p.tenant.slug) for p in placements])
    if not placements:
        return load
    by_id = {t.tenant_id: t for t in load.tenants}
    try:
        alias = alias_for_host(host)
        ids = list(by_id)
        for row in (Product.objects.using(alias).unscoped().filter(tenant_id__in=ids)
                    .values("tenant_id").annotate(n=Count("id")).order_by()):
            by_id[row["tenant_id"]].products = row["n"]
        since = now - dt.timedelta(days=30)
        for row in (Order.objects.using(alias).unscoped().filter(tenant_id__in=ids, created_on_channel__gte=since)
                    .values("tenant_id").annotate(n=Count("id")).order_by()):
            by_id[row["tenant_id"]].orders_30d = row["n"]
        week = now - dt.timedelta(days=RUNS_WINDOW_DAYS)
        for row in (Run.objects.using(alias).unscoped().filter(tenant_id__in=ids, queued_at__gte=week)
                    .values("tenant_id").annotate(n=Count("id")).order_by()):
            by_id[row["tenant_id"]].runs_per_day = round(row["n"] / RUNS_WINDOW_DAYS, 2)
        # Waiting since it was queued, or re-queued after its worker died (a retry keeps its
        # queued_at and gets a new modified_at). Steps of a procedure run wait for their parent,
        # and runs of a paused tenant (a move in progress) wait on purpose: neither is lag.
        waiting_since = Case(When(attempt__gt=1, then=F("modified_at")), default=F("queued_at"))
        for row in (Run.objects.using(alias).unscoped()
                    .filter(tenant_id__in=ids, status=RunStatus.QUEUED, started_at__isnull=True,
                            parent__isnull=True, tenant__paused=False)
                    .values("tenant_id").annotate(oldest=Min(waiting_since)).order_by()):
            by_id[row["tenant_id"]].queue_lag_seconds = max(0.0, round((now - row["oldest"]).total_seconds(), 1))
    except (HostDatabaseError, Exception) as exc:  # an unreachable host is shown, not fatal
        load.reachable = False
        load.error = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return load


def measure_hosts(hosts: list[Host] | None = None) -> list[HostLoad]:
    if hosts is None:
        hosts = list(Host.objects.select_related("datacenter").order_by("name"))
    return [measure_host(h) for h in hosts]


@dataclass
class MoveRecommendation:
    tenant_slug: str
    source: str
    target: str
    units: float
    reason: str


def recommend_moves(loads: list[HostLoad]) -> list[MoveRecommendation]:
    """Suggest moves that bring hot hosts back under the mark, onto hosts with room.

    A host hot by units sheds its smallest tenants until it is under the mark; a host hot by
    queue lag sheds its busiest tenant by runs per day (its workers are the bottleneck). A
    draining host sheds everything. Dedicated hosts and their tenants are left alone; a target
    must accept the tenant's countries, have no queue lag over the mark and stay under the hot
    mark after the move.
    """
    from bindery.control.models import HostState

    targets = [h for h in loads if h.reachable and not h.host.dedicated and h.host.state == HostState.ACTIVE
               and not h.lagging]
    extra = {h.host.pk: 0.0 for h in targets}
    countries = {p.tenant_id: p.tenant.allowed_countries
                 for p in Placement.objects.select_related("tenant")}
    recommendations = []
    for source in sorted(loads, key=lambda h: -h.pressure):
        if source.host.dedicated or not source.reachable:
            continue
        draining = source.host.state == HostState.DRAINING
        excess = source.units if draining else source.units - HOT * source.host.capacity
        order = sorted(source.tenants, key=lambda t: t.units)
        reason = "host draining" if draining else f"{source.host.name} at {source.share:.0%} of capacity"
        if excess <= 0 and source.lagging and len(source.tenants) > 1:
            busiest = max(source.tenants, key=lambda t: (t.runs_per_day, t.queue_lag_seconds))
            order, excess = [busiest], busiest.units or 1e-9
            reason = f"{source.host.name} queue lag {source.queue_lag_seconds:.0f} s"
        if excess <= 0:
            continue
        for tenant in order:
            if excess <= 0:
                break
            allowed = countries.get(tenant.tenant_id) or []
            candidates = [
                t for t in targets if t.host.pk != source.host.pk
                and (not allowed or t.host.datacenter.country in allowed)
                and (t.units + extra[t.host.pk] + tenant.units) <= HOT * t.host.capacity
            ]
            if not candidates:
                continue
            best = min(candidates, key=lambda t: (max((t.units + extra[t.host.pk]) / max(t.host.capacity, 1),
                                                      t.pressure), t.host.name))
            extra[best.host.pk] += tenant.units
            excess -= tenant.units
            recommendations.append(MoveRecommendation(
                tenant.slug, source.host.name, best.host.name, round(tenant.units, 2), reason))
    return recommendations
