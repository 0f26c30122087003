"""Control-plane models live in the control database, tenant-owned ones in the host's."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.db import connections

from bindery.accounts.models import Operator, User
from bindery.control.models import LocalTenant, Tenant
from bindery.control.routers import CellRouter
from bindery.ops.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.mark.parametrize(
    ("model", "alias"),
    [(Tenant, "control"), (Operator, "control"), (LocalTenant, "default"), (User, "default"),
     (WorkerHeartbeat, "default"), (Session, "default")],
)
def test_each_model_has_one_home(model: type, alias: str) -> None:
    """The router reads and writes each model in exactly one database and migrates it only there."""
    router = CellRouter()
    assert router.db_for_read(model) == alias
    assert router.db_for_write(model) == alias
    other = "default" if alias == "control" else "control"
    assert router.allow_migrate(alias, model._meta.app_label, model._meta.model_name)
    assert not router.allow_migrate(other, model._meta.app_label, model._meta.model_name)


def test_tables_exist_only_in_their_database() -> None:
    """Migrations created control tables in the control DB and host tables in the host DB only."""
    control_tables = set(connections["control"].introspection.table_names())
    host_tables = set(connections["default"].introspection.table_names())
    assert {"control_tenant", "accounts_operator"} <= control_tables
    assert {"control_localtenant", "accounts_user", "django_session"} <= host_tables
    assert not {"accounts_user", "django_session", "control_localtenant"} & control_tables
    assert not {"control_tenant", "accounts_operator"} & host_tables


def test_tenant_rows_land_in_both_databases(tenant: LocalTenant) -> None:
    """Creating a tenant writes the control row and the host's copy with the same id."""
    control_row = Tenant.objects.get(slug="acme")
    assert control_row._state.db == "control"
    assert tenant._state.db == "default"
    assert control_row.pk == tenant.pk
