"""Tenant moves: every row arrives exactly once, writes during the move are kept, the old host is
fenced, a crashed move resumes, and draining empties a host."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connections, transaction

from bindery.catalog.actions import do_bulk_upsert_products, do_create_warehouse
from bindery.catalog.models import Product, Warehouse
from bindery.control import moves
from bindery.control.actions import do_create_tenant
from bindery.control.databases import alias_for_host
from bindery.control.errors import ControlError
from bindery.control.fencing import is_fenced_error
from bindery.control.hosts import do_add_host, do_retire_host, ensure_local_host
from bindery.control.models import (
    Host,
    HostState,
    LocalTenant,
    MoveState,
    MoveStep,
    Placement,
    Tenant,
    TenantMove,
)
from bindery.sales.models import Order
from tests.catalog.conftest import full_product
from tests.sales.factories import order_payload, store

UrlFactory = Callable[[], str]


def _target(host_database_url: UrlFactory, name: str = "host-b") -> Host:
    local = ensure_local_host()
    return do_add_host(name, datacenter=local.datacenter, public_url=f"https://{name}.example",
                       database_url=host_database_url(), actor="test")


def _fill(tenant: LocalTenant, n: int = 30) -> None:
    do_create_warehouse(tenant, "main", name="Main", actor="test")
    from bindery.catalog.actions import do_create_price_list

    do_create_price_list(tenant, "retail", "EUR", actor="test")
    do_bulk_upsert_products(tenant, [full_product(f"P{i}", variants=1) for i in range(n)], actor="test")
    for number in ("1001", "1002", "1003"):
        store(tenant, order_payload(number))


def _assert_identical(tenant_id: object, src: str, dst: str) -> None:
    for model in moves.tenant_models():
        assert moves.table_digest(src, model, tenant_id) == moves.table_digest(dst, model, tenant_id), \
            model._meta.db_table


@pytest.mark.django_db(databases="__all__")
def test_move_copies_every_table_and_fences_the_source(tenant: LocalTenant, other_tenant: LocalTenant,
                                                       host_database_url: UrlFactory) -> None:
    """After a move both copies match table by table; the old host refuses writes; prune cleans it."""
    _fill(tenant)
    target = _target(host_database_url)
    control_tenant = Tenant.objects.get(pk=tenant.pk)
    move = moves.do_move_tenant(control_tenant, target, actor="test")
    dst = alias_for_host(target)
    assert (move.state, move.step) == (MoveState.DONE, MoveStep.DONE)
    assert Product.objects.using(dst).for_tenant(tenant.pk).count() == Product.objects.for_tenant(tenant).count() > 30
    assert Order.objects.using(dst).for_tenant(tenant.pk).count() == 3
    _assert_identical(tenant.pk, "default", dst)
    assert set(move.checkpoint["verified"]) == {m._meta.db_table for m in moves.tenant_models()}
    placement = Placement.objects.get(tenant_id=tenant.pk)
    assert (placement.host_id, placement.epoch) == (target.pk, 2)
    assert LocalTenant.objects.get(pk=tenant.pk).fenced
    with pytest.raises(Exception) as refused, transaction.atomic():  # noqa: PT011  (IntegrityError on SQLite, InternalError on PostgreSQL)
        Product.objects.bulk_create([Product(tenant_id=tenant.pk, sku="LATE")])
    assert is_fenced_error(refused.value)
    assert not Product.objects.using(dst).for_tenant(tenant.pk).filter(sku="LATE").exists()
    # The other tenant on the old host is untouched and still writable.
    do_create_warehouse(other_tenant, "main", name="Main", actor="test")
    moves.do_prune_moved(actor="test")
    assert not LocalTenant.objects.filter(pk=tenant.pk).exists()
    assert Product.objects.unscoped().filter(tenant_id=tenant.pk).count() == 0
    assert LocalTenant.objects.using(dst).get(pk=tenant.pk).epoch == 2
    with pytest.raises(ControlError):
        moves.do_move_tenant(control_tenant, target, actor="test")  # already there


class Crash(BaseException):
    """Stands for the mover process dying: nothing of the mover's own cleanup runs."""


@pytest.mark.django_db(databases="__all__")
@pytest.mark.parametrize("step", ["copy", "catch_up", "cutover", "verify", "switch"])
def test_a_crashed_move_resumes(step: str, tenant: LocalTenant, host_database_url: UrlFactory,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A move killed after any checkpoint finishes, verified, when run again."""
    _fill(tenant, 10)
    target = _target(host_database_url)
    control_tenant = Tenant.objects.get(pk=tenant.pk)

    def die(reached: str) -> None:
        if reached == step:
            raise Crash(step)

    monkeypatch.setattr(moves, "after_step", die)
    with pytest.raises(Crash):
        moves.do_move_tenant(control_tenant, target, actor="test")
    assert TenantMove.objects.get(tenant=control_tenant).state == MoveState.RUNNING
    monkeypatch.setattr(moves, "after_step", None)
    move = moves.do_move_tenant(control_tenant, target, actor="test")
    assert move.state == MoveState.DONE
    assert TenantMove.objects.filter(tenant=control_tenant).count() == 1
    _assert_identical(tenant.pk, "default", alias_for_host(target))
    assert Placement.objects.get(tenant=control_tenant).host_id == target.pk


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_writes_during_a_move_are_not_lost(tenant: LocalTenant, host_database_url: UrlFactory) -> None:
    """A writer keeps creating rows through the move; each committed row is on the target exactly once."""
    if connections["default"].vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL: the SQLite test database is in memory with "
                    "shared-cache table locks and no busy wait")
    _fill(tenant, 10)
    target = _target(host_database_url)
    committed: list[str] = []
    refused: list[BaseException] = []
    stop = threading.Event()

    def writer() -> None:
        i = 0
        try:
            while not stop.is_set():
                try:
                    do_create_warehouse(tenant, f"w{i}", name=f"W{i}", actor="test")
                    committed.append(f"w{i}")
                except Exception as exc:
                    refused.append(exc)
                    return
                i += 1
        finally:
            connections.close_all()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        moves.do_move_tenant(Tenant.objects.get(pk=tenant.pk), target, actor="test")
    finally:
        stop.set()
        thread.join(timeout=120)
    dst = alias_for_host(target)
    keys = list(Warehouse.objects.using(dst).for_tenant(tenant.pk).values_list("key", flat=True))
    assert len(keys) == len(set(keys))
    assert set(committed) <= set(keys)
    assert len(committed) > 0
    if refused:  # the writer ran into the fence (it may also have been stopped before)
        assert Warehouse.objects.for_tenant(tenant).count() == len(committed) + 1
    _assert_identical(tenant.pk, "default", dst)


@pytest.mark.django_db(databases="__all__")
def test_drain_moves_every_tenant_away(host_database_url: UrlFactory) -> None:
    """Draining a host with three tenants leaves it empty, every tenant verified; then it retires."""
    local = ensure_local_host()
    tenants = []
    for slug in ("t-one", "t-two", "t-three"):
        do_create_tenant(slug, slug, actor="test")
        tenants.append(LocalTenant.objects.get(slug=slug))
        _fill(tenants[-1], 5)
    target = _target(host_database_url)
    done = moves.do_drain_host(local, actor="test")
    assert [m.state for m in done] == [MoveState.DONE] * 3
    assert not Placement.objects.filter(host=local).exists()
    for t in tenants:
        _assert_identical(t.pk, "default", alias_for_host(target))
    local.refresh_from_db()
    assert local.state == HostState.DRAINING
    assert do_retire_host(local, actor="test").state == HostState.RETIRED


@pytest.mark.django_db(databases="__all__")
def test_deletes_and_silent_updates_before_the_fence_are_carried(tenant: LocalTenant, host_database_url: UrlFactory,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A row deleted and a bulk update that leaves modified_at alone after the copy still arrive:
    verification finds the differing tables and re-syncs them before the switch."""
    _fill(tenant, 5)
    extra = do_create_warehouse(tenant, "extra", name="Extra", actor="test")
    target = _target(host_database_url)

    def meddle(reached: str) -> None:
        if reached == "cutover":  # after the catch-up, before the fence
            Warehouse.objects.for_tenant(tenant).filter(pk=extra.pk).delete()
            Product.objects.for_tenant(tenant).update(name="Renamed quietly")

    monkeypatch.setattr(moves, "after_step", meddle)
    moves.do_move_tenant(Tenant.objects.get(pk=tenant.pk), target, actor="test")
    dst = alias_for_host(target)
    assert not Warehouse.objects.using(dst).for_tenant(tenant.pk).filter(pk=extra.pk).exists()
    assert set(Product.objects.using(dst).for_tenant(tenant.pk).values_list("name", flat=True)) == {"Renamed quietly"}
    _assert_identical(tenant.pk, "default", dst)


@pytest.mark.django_db(databases="__all__")
def test_journal_carries_writes_and_counts_catch_what_it_missed(tenant: LocalTenant, host_database_url: UrlFactory,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Between PostgreSQL hosts every write after the move began is journaled and synced by id; a
    difference the journal cannot know of (a row removed on the target behind the mover's back)
    shows in the row counts under the fence and is repaired by a full verification."""
    if connections["default"].vendor != "postgresql":
        pytest.skip("the move journal is kept by the PostgreSQL fence triggers")
    from bindery.control.models import MoveJournal

    _fill(tenant, 5)
    target = _target(host_database_url)
    dst = alias_for_host(target)
    journaled: list[int | str] = []

    def meddle(reached: str) -> None:
        if reached == "copy" and not journaled:  # the first table is copied: the journal is on
            assert LocalTenant.objects.get(pk=tenant.pk).journal
            do_create_warehouse(tenant, "during-copy", name="During copy", actor="test")
            journaled.append(MoveJournal.objects.filter(tenant_id=tenant.pk).count())
        if reached == "cutover" and "meddled" not in journaled:  # after the pre-verification, before the fence
            journaled.append("meddled")
            Product.objects.for_tenant(tenant).filter(sku="P1").update(name="Quietly renamed")
            victim = Product.objects.using(dst).for_tenant(tenant.pk).get(sku="P2")
            Product.objects.using(dst).for_tenant(tenant.pk).filter(pk=victim.pk).delete()

    monkeypatch.setattr(moves, "after_step", meddle)
    move = moves.do_move_tenant(Tenant.objects.get(pk=tenant.pk), target, actor="test")
    assert move.state == MoveState.DONE
    assert int(journaled[0]) >= 1
    assert Warehouse.objects.using(dst).for_tenant(tenant.pk).filter(key="during-copy").count() == 1
    assert Product.objects.using(dst).for_tenant(tenant.pk).get(sku="P1").name == "Quietly renamed"
    assert Product.objects.using(dst).for_tenant(tenant.pk).filter(sku="P2").count() == 1
    _assert_identical(tenant.pk, "default", dst)
    assert "sha256" in move.checkpoint["verified"]["catalog_product"]  # the counts differed: full verification
    assert not LocalTenant.objects.get(pk=tenant.pk).journal
    assert not MoveJournal.objects.filter(tenant_id=tenant.pk).exists()


@pytest.mark.django_db(databases="__all__")
def test_incremental_verification_under_the_fence(tenant: LocalTenant, host_database_url: UrlFactory,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Without surprises the fence only re-checks journaled rows and counts (no full checksum)."""
    if connections["default"].vendor != "postgresql":
        pytest.skip("the move journal is kept by the PostgreSQL fence triggers")
    _fill(tenant, 5)
    target = _target(host_database_url)

    def meddle(reached: str) -> None:
        if reached == "cutover":
            Warehouse.objects.for_tenant(tenant).filter(key="main").update(name="Renamed quietly")

    monkeypatch.setattr(moves, "after_step", meddle)
    move = moves.do_move_tenant(Tenant.objects.get(pk=tenant.pk), target, actor="test")
    dst = alias_for_host(target)
    assert Warehouse.objects.using(dst).for_tenant(tenant.pk).get(key="main").name == "Renamed quietly"
    assert move.checkpoint["verified"]["catalog_warehouse"]["rows"] == 1
    assert "sha256" not in move.checkpoint["verified"]["catalog_warehouse"]
    _assert_identical(tenant.pk, "default", dst)
