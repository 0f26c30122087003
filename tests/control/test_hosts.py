"""Datacenters, delivery hosts with their own databases, and placement by measured load."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connections

from bindery.catalog.models import Product
from bindery.control.actions import do_create_tenant
from bindery.control.databases import alias_for_host
from bindery.control.errors import ControlError, ControlErrorCode
from bindery.control.hosts import (
    choose_host,
    do_add_datacenter,
    do_add_host,
    do_retire_host,
    ensure_local_host,
)
from bindery.control.load import HOT, measure_host, measure_hosts, recommend_moves
from bindery.control.models import Datacenter, Host, HostState, LocalTenant, Placement
from tests.control.runs import connectors, finished_runs, waiting_run

pytestmark = pytest.mark.django_db(databases="__all__")

UrlFactory = Callable[[], str]


@pytest.fixture
def dc_de() -> Datacenter:
    return do_add_datacenter("fra1", "DE", latitude=Decimal("50.11"), longitude=Decimal("8.68"), actor="test")


@pytest.fixture
def dc_fr() -> Datacenter:
    return do_add_datacenter("par1", "FR", actor="test")


@pytest.mark.parametrize(("name", "country", "lat"), [
    ("Bad Name", "DE", None), ("ok", "de", None), ("ok", "DEU", None), ("ok", "DE", Decimal("91")),
    ("x" * 64, "DE", None),
])
def test_datacenter_input_checked(name: str, country: str, lat: Decimal | None) -> None:
    """Malformed datacenter names, countries and coordinates are refused with a coded error."""
    with pytest.raises(ControlError) as exc:
        do_add_datacenter(name, country, latitude=lat, actor="test")
    assert exc.value.code == ControlErrorCode.DATACENTER_INVALID
    assert not Datacenter.objects.exists()


def test_add_host_creates_migrates_and_registers(dc_de: Datacenter, host_database_url: UrlFactory) -> None:
    """A new host's database is created, gets every host table, and the host is listed."""
    url = host_database_url()
    host = do_add_host("host-a", datacenter=dc_de, public_url="https://a.example", database_url=url,
                       capacity=50, actor="test")
    assert host.state == HostState.ACTIVE
    assert url not in host.database_url_sealed
    assert Host.objects.get(name="host-a").database_url() == url
    alias = alias_for_host(host)
    tables = set(connections[alias].introspection.table_names())
    assert {"control_localtenant", "accounts_user", "catalog_product", "sales_order"} <= tables
    assert "control_tenant" not in tables
    # Adding the same database again (as a different host) is harmless: it exists, migrations are done.
    again = do_add_host("host-b", datacenter=dc_de, public_url="https://b.example", database_url=url, actor="test")
    assert again.pk != host.pk


def test_add_host_refuses_bad_or_unreachable_database(dc_de: Datacenter, tmp_path: object) -> None:
    """A malformed URL, a missing folder or an unreachable server registers nothing."""
    for url in ("mysql://x/y", "sqlite:///" + str(tmp_path) + "/missing/dir/h.sqlite3",
                "postgres://nobody@127.0.0.1:1/nothing"):
        with pytest.raises(ControlError) as exc:
            do_add_host("host-x", datacenter=dc_de, public_url="https://x.example", database_url=url,
                        actor="test")
        assert exc.value.code == ControlErrorCode.HOST_DATABASE
    assert not Host.objects.filter(name="host-x").exists()


def test_add_host_input_checked(dc_de: Datacenter, host_database_url: UrlFactory) -> None:
    for kwargs in ({"name": "Bad_Name"}, {"public_url": "ftp://x"}, {"capacity": 0}):
        args = {"name": "ok", "public_url": "https://ok.example", "capacity": 10} | kwargs
        with pytest.raises(ControlError) as exc:
            do_add_host(args["name"], datacenter=dc_de, public_url=args["public_url"],  # type: ignore[arg-type]
                        database_url="sqlite:///unused.sqlite3", capacity=args["capacity"],  # type: ignore[arg-type]
                        actor="test")
        assert exc.value.code == ControlErrorCode.HOST_INVALID


def test_tenant_lands_only_in_its_hosts_database(dc_de: Datacenter, host_database_url: UrlFactory) -> None:
    """A tenant placed on another host has its local row there and nowhere else."""
    host = do_add_host("host-a", datacenter=dc_de, public_url="https://a.example",
                       database_url=host_database_url(), actor="test")
    tenant = do_create_tenant("remote", "Remote Co", host=host, actor="test")
    alias = alias_for_host(host)
    assert LocalTenant.objects.using(alias).filter(pk=tenant.pk).exists()
    assert not LocalTenant.objects.filter(pk=tenant.pk).exists()
    placement = Placement.objects.get(tenant=tenant)
    assert (placement.host_id, placement.epoch) == (host.pk, 1)


def test_local_tenant_is_placed_on_this_host(tenant: LocalTenant) -> None:
    """The embedded default registers itself once and places tenants on itself."""
    local = ensure_local_host()
    assert Placement.objects.get(tenant_id=tenant.pk).host_id == local.pk
    assert ensure_local_host().pk == local.pk


def _products(alias: str, tenant_id: object, n: int) -> None:
    Product.objects.using(alias).bulk_create(
        [Product(tenant_id=tenant_id, sku=f"SKU-{i}", name=f"Product {i}") for i in range(n)])


def test_placement_follows_measured_load(dc_de: Datacenter, host_database_url: UrlFactory) -> None:
    """A new tenant goes to the host with the lowest load relative to its capacity."""
    a = do_add_host("host-a", datacenter=dc_de, public_url="https://a.example",
                    database_url=host_database_url(), capacity=10, actor="test")
    b = do_add_host("host-b", datacenter=dc_de, public_url="https://b.example",
                    database_url=host_database_url(), capacity=10, actor="test")
    big = do_create_tenant("big", "Big", host=a, actor="test")
    _products(alias_for_host(a), big.pk, 2_000)
    load = measure_host(a)
    assert load.tenants[0].products == 2_000
    assert load.units == pytest.approx(2.0)
    assert choose_host(allowed_countries=["DE"], dedicated=False).pk == b.pk
    small = do_create_tenant("small", "Small", host=b, actor="test")
    _products(alias_for_host(b), small.pk, 3_000)
    assert choose_host(allowed_countries=[], dedicated=False).pk == a.pk


def test_data_residency_and_dedicated_rules(dc_de: Datacenter, dc_fr: Datacenter,
                                            host_database_url: UrlFactory) -> None:
    """Countries limit the choice; a dedicated host takes one dedicated tenant and never another."""
    de = do_add_host("host-de", datacenter=dc_de, public_url="https://de.example",
                     database_url=host_database_url(), actor="test")
    ded = do_add_host("host-ded", datacenter=dc_fr, public_url="https://ded.example",
                      database_url=host_database_url(), dedicated=True, actor="test")
    assert choose_host(allowed_countries=["DE"], dedicated=False).pk == de.pk
    with pytest.raises(ControlError) as exc:
        choose_host(allowed_countries=["FR"], dedicated=False)
    assert exc.value.code == ControlErrorCode.NO_ELIGIBLE_HOST
    with pytest.raises(ControlError) as exc:
        do_create_tenant("french", "French", host=de, allowed_countries=["FR"], actor="test")
    assert exc.value.code == ControlErrorCode.HOST_NOT_ELIGIBLE
    with pytest.raises(ControlError):
        do_create_tenant("shared", "Shared", host=ded, actor="test")
    solo = do_create_tenant("solo", "Solo", host=choose_host(allowed_countries=[], dedicated=True),
                            dedicated=True, actor="test")
    assert Placement.objects.get(tenant=solo).host_id == ded.pk
    with pytest.raises(ControlError) as exc:
        choose_host(allowed_countries=[], dedicated=True)
    assert exc.value.code == ControlErrorCode.NO_ELIGIBLE_HOST
    with pytest.raises(ControlError):
        do_create_tenant("solo2", "Solo 2", host=ded, dedicated=True, actor="test")
    assert not LocalTenant.objects.using(alias_for_host(ded)).exclude(pk=solo.pk).exists()


def test_retire_refuses_while_tenants_remain(dc_de: Datacenter, host_database_url: UrlFactory) -> None:
    host = do_add_host("host-a", datacenter=dc_de, public_url="https://a.example",
                       database_url=host_database_url(), actor="test")
    do_create_tenant("stays", "Stays", host=host, actor="test")
    with pytest.raises(ControlError) as exc:
        do_retire_host(host, actor="test")
    assert exc.value.code == ControlErrorCode.HOST_NOT_EMPTY
    assert "stays" in str(exc.value)
    Placement.objects.filter(host=host).delete()
    assert do_retire_host(host, actor="test").state == HostState.RETIRED


def test_recommendations_move_small_tenants_off_a_hot_host(dc_de: Datacenter,
                                                            host_database_url: UrlFactory) -> None:
    """A host over 85% of capacity gets suggestions to move tenants to a host with room."""
    hot = do_add_host("hot", datacenter=dc_de, public_url="https://hot.example",
                      database_url=host_database_url(), capacity=4, actor="test")
    cold = do_add_host("cold", datacenter=dc_de, public_url="https://cold.example",
                       database_url=host_database_url(), capacity=100, actor="test")
    alias = alias_for_host(hot)
    for slug, n in (("t1", 1_000), ("t2", 3_000)):
        _products(alias, do_create_tenant(slug, slug, host=hot, actor="test").pk, n)
    loads = [measure_host(hot), measure_host(cold)]
    assert loads[0].hot
    assert loads[1].cold
    recs = recommend_moves(loads)
    assert [(r.tenant_slug, r.source, r.target) for r in recs] == [("t1", "hot", "cold")]


def test_runs_per_day_and_queue_lag_are_measured(tenant: LocalTenant) -> None:
    """Runs per day average the last 7 days; queue lag is the age of the oldest run still waiting,
    counted from its re-queue for a retry, without procedure steps or a paused (moving) tenant."""
    local = ensure_local_host()
    copy, other, third = connectors(tenant, 3)
    finished_runs(tenant, copy, 14, age=dt.timedelta(days=3))
    finished_runs(tenant, copy, 9, age=dt.timedelta(days=8))  # outside the window
    load = measure_host(local)
    assert load.tenants[0].runs_per_day == 2.0
    assert load.units == pytest.approx(2.0 / 100)
    assert load.queue_lag_seconds == 0.0
    waiting_run(tenant, other, queued=dt.timedelta(hours=2), requeued=dt.timedelta(seconds=40))
    lag = measure_host(local).queue_lag_seconds
    assert 40 <= lag < 100  # waiting since the retry, not since the first queueing two hours ago
    assert not measure_host(local).lagging
    waiting_run(tenant, third, queued=dt.timedelta(minutes=10))
    load = measure_host(local)
    assert 600 <= load.queue_lag_seconds < 700
    assert load.lagging
    assert load.hot  # hot by lag although its units are tiny
    assert load.pressure > HOT
    LocalTenant.objects.filter(pk=tenant.pk).update(paused=True)  # a move holds its runs on purpose
    assert measure_host(local).queue_lag_seconds == 0.0


def test_queue_lag_steers_placement_and_recommendations(tenant: LocalTenant, other_tenant: LocalTenant,
                                                        host_database_url: UrlFactory) -> None:
    """A host whose runs wait too long gets no new tenant and is told to shed its busiest one."""
    local = ensure_local_host()
    roomy = do_add_host("roomy", datacenter=local.datacenter, public_url="https://roomy.example",
                        database_url=host_database_url(), capacity=10, actor="test")
    _products(alias_for_host(roomy), do_create_tenant("resident", "Resident", host=roomy, actor="test").pk, 500)
    copy, waiting = connectors(tenant, 2)
    finished_runs(tenant, copy, 70, age=dt.timedelta(days=1))
    assert choose_host(allowed_countries=[], dedicated=False).pk == local.pk  # 0.7 of 100 units < 0.5 of 10
    assert recommend_moves(measure_hosts()) == []
    waiting_run(tenant, waiting, queued=dt.timedelta(minutes=15))
    assert choose_host(allowed_countries=[], dedicated=False).pk == roomy.pk
    recs = recommend_moves(measure_hosts())
    assert [(r.tenant_slug, r.source, r.target) for r in recs] == [("acme", local.name, "roomy")]
    assert "queue lag" in recs[0].reason
    # A lagging host is never a target either.
    assert [r.target for r in recommend_moves([measure_host(roomy), measure_host(local)])] != [local.name]


def test_hosts_list_shows_runs_per_day_and_queue_lag(tenant: LocalTenant, capsys: pytest.CaptureFixture[str]) -> None:
    from bindery.control.cli import cmd_hosts_list

    ensure_local_host()
    copy, waiting = connectors(tenant, 2)
    finished_runs(tenant, copy, 20, age=dt.timedelta(days=2))  # + the waiting one: 21 in 7 days
    waiting_run(tenant, waiting, queued=dt.timedelta(minutes=20))
    assert cmd_hosts_list(None, None) == 0  # type: ignore[arg-type]  # neither is read
    out = capsys.readouterr().out
    header, row = out.splitlines()[:2]
    assert "RUNS/D" in header
    assert "LAG" in header
    assert re.search(r"\s3\.00\s+1[23]\d\ds!\s", row), row  # 3 runs a day; 20 minutes, over the mark
    assert "acme(0p/0o/3r)" in row
