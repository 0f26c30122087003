"""Measured load of delivery hosts: what placement and the operators' console decide by.

A tenant's load is counted on the host that stores it: products, sales documents dated in the
last 30 days, job runs per day (zero until the engine records runs) and the host's queue lag.
One number, load *units*, makes hosts comparable with their ``capacity``:

    units = products / 1,000 + orders in 30 days / 100 + runs per day / 100

so a standard-plan tenant at its limits (50k products, 10k orders) weighs 150 units.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from django.db.models import Count
from django.utils import timezone

from bindery.control.models import Host, Placement

PRODUCTS_PER_UNIT = 1_000
ORDERS_PER_UNIT = 100
RUNS_PER_UNIT = 100
HOT = 0.85  # a host above this share of its capacity should shed tenants
COLD = 0.20  # below this share it could take more or be merged away


@dataclass
class TenantLoad:
    tenant_id: uuid.UUID
    slug: str
    products: int = 0
    orders_30d: int = 0
    runs_per_day: int = 0

    @property
    def units(self) -> float:
        return (self.products / PRODUCTS_PER_UNIT + self.orders_30d / ORDERS_PER_UNIT
                + self.runs_per_day / RUNS_PER_UNIT)


@dataclass
class HostLoad:
    host: Host
    tenants: list[TenantLoad] = field(default_factory=list)
    queue_lag_seconds: float = 0.0
    reachable: bool = True
    error: str = ""

    @property
    def units(self) -> float:
        return sum(t.units for t in self.tenants)

    @property
    def share(self) -> float:
        return self.units / self.host.capacity if self.host.capacity else 1.0

    @property
    def hot(self) -> bool:
        return self.share > HOT

    @property
    def cold(self) -> bool:
        return self.share < COLD


def measure_host(host: Host, *, now: dt.datetime | None = None) -> HostLoad:
    """Count each placed tenant's rows in the host's own database."""
    from bindery.catalog.models import Product
    from bindery.control.databases import HostDatabaseError, alias_for_host
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
    """Suggest moving the smallest tenants that bring a hot host under the mark onto cold hosts.

    Dedicated hosts and their tenants are left alone; a target must accept the tenant's
    countries and stay under the hot mark after the move.
    """
    from bindery.control.models import HostState

    targets = [h for h in loads if h.reachable and not h.host.dedicated and h.host.state == HostState.ACTIVE]
    extra = {h.host.pk: 0.0 for h in targets}
    countries = {p.tenant_id: p.tenant.allowed_countries
                 for p in Placement.objects.select_related("tenant")}
    recommendations = []
    for source in sorted(loads, key=lambda h: -h.share):
        if source.host.dedicated or not source.reachable:
            continue
        excess = source.units - HOT * source.host.capacity
        if source.host.state == "draining":
            excess = source.units
        if excess <= 0:
            continue
        for tenant in sorted(source.tenants, key=lambda t: t.units):
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
            best = min(candidates, key=lambda t: (t.units + extra[t.host.pk]) / max(t.host.capacity, 1))
            extra[best.host.pk] += tenant.units
            excess -= tenant.units
            recommendations.append(MoveRecommendation(
                tenant.slug, source.host.name, best.host.name, round(tenant.units, 2),
                "host draining" if source.host.state == "draining" else
                f"{source.host.name} at {source.share:.0%} of capacity"))
    return recommendations
