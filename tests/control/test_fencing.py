"""Fencing: once a tenant is fenced on a host, that host's database refuses every write of it."""

from __future__ import annotations

import uuid

import pytest
from django.db import DatabaseError, connections, transaction

from bindery.catalog.actions import do_create_warehouse
from bindery.catalog.models import Product, Warehouse
from bindery.control.fencing import fence_tenant, install_fences, is_fenced_error, unfence_tenant
from bindery.control.models import LocalTenant
from bindery.control.rls import tenant_tables

pytestmark = pytest.mark.django_db(databases="__all__")


def _refused(fn: object) -> DatabaseError:
    with pytest.raises(DatabaseError) as exc, transaction.atomic():
        fn()  # type: ignore[operator]
    assert is_fenced_error(exc.value)
    return exc.value


def test_every_tenant_table_is_fenced() -> None:
    """The triggers cover every tenant-owned table (installing again is idempotent)."""
    assert install_fences() == len([t for t in tenant_tables()
                                    if t in connections["default"].introspection.table_names()])


def test_fenced_tenant_cannot_write_any_way(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    """ORM actions, bulk inserts, updates and deletes of a fenced tenant are refused; others go on."""
    wh = do_create_warehouse(tenant, "main", name="Main", actor="test")
    Product.objects.bulk_create([Product(tenant=tenant, sku="A")])
    fence_tenant("default", tenant.pk, epoch=2)
    assert LocalTenant.objects.get(pk=tenant.pk).epoch == 2
    # On SQLite the refusal is an IntegrityError, which the catalog action reports as its own
    # conflict; on PostgreSQL it is its own error. Either way nothing is written.
    with pytest.raises(Exception) as refused:  # noqa: PT011  (engine-dependent error type, checked below)
        do_create_warehouse(tenant, "second", name="Second", actor="test")
    if connections["default"].vendor == "postgresql":
        assert is_fenced_error(refused.value)
        assert "moved to another host" in str(refused.value)
    assert Warehouse.objects.for_tenant(tenant).count() == 1
    _refused(lambda: Product.objects.bulk_create([Product(tenant=tenant, sku="B")]))
    _refused(lambda: Warehouse.objects.for_tenant(tenant).update(name="Renamed"))
    _refused(lambda: Product.objects.for_tenant(tenant).delete())
    assert Warehouse.objects.for_tenant(tenant).get().name == wh.name
    do_create_warehouse(other_tenant, "main", name="Main", actor="test")  # another tenant is unaffected
    unfence_tenant("default", tenant.pk, epoch=2)
    do_create_warehouse(tenant, "second", name="Second", actor="test")
    assert Warehouse.objects.for_tenant(tenant).count() == 2


def test_rows_for_an_unknown_tenant_refused(db: None) -> None:
    """A row for a tenant this host does not hold (pruned after a move) cannot be written."""
    _refused(lambda: Product.objects.bulk_create([Product(tenant_id=uuid.uuid4(), sku="X")]))
