"""Row-level security on PostgreSQL: the second wall behind the tenant-scoped manager.

Every tenant-owned table gets a policy that, once a tenant scope is set on the connection,
hides and refuses rows of every other tenant, whatever SQL runs, raw or ORM:

    tenant_id = nullif(current_setting('bindery.tenant_id'), '')::uuid

The scope is set where a request or job has resolved its tenant (:func:`tenant_scope`) and
cleared when it ends. Platform code that works across tenants (migrations, operator tools,
the tenant mover, backups) runs without a scope and is not filtered. Tables use
``FORCE ROW LEVEL SECURITY`` so the policy binds the table owner too; PostgreSQL superusers
bypass every policy, which is why ``bindery check --deploy`` warns about a superuser URL.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

from django.apps import apps
from django.db import connections

from bindery.control.routers import HOST
from bindery.control.tenancy import TenantOwnedModel

SETTING = "bindery.tenant_id"
POLICY = "bindery_tenant_isolation"
_VISIBLE = (
    f"(coalesce(current_setting('{SETTING}', true), '') = '' "
    f"OR tenant_id = nullif(current_setting('{SETTING}', true), '')::uuid)"
)


def tenant_tables() -> list[str]:
    return sorted(
        model._meta.db_table
        for model in apps.get_models()
        if issubclass(model, TenantOwnedModel) and model._meta.managed and not model._meta.proxy
    )


def policy_statements(table: str) -> list[str]:
    quoted = connections[HOST].ops.quote_name(table)
    return [
        f"ALTER TABLE {quoted} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {quoted} FORCE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {POLICY} ON {quoted}",
        f"CREATE POLICY {POLICY} ON {quoted} USING {_VISIBLE} WITH CHECK {_VISIBLE}",
    ]


def install_policies(using: str = HOST) -> int:
    """Create (or refresh) the policy on every tenant-owned table; return how many tables."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return 0
    existing = set(connection.introspection.table_names())
    tables = [t for t in tenant_tables() if t in existing]
    with connection.cursor() as cursor:
        for table in tables:
            for statement in policy_statements(table):
                cursor.execute(statement)
    return len(tables)


def install_policies_after_migrate(sender: Any, using: str = HOST, **kwargs: Any) -> None:
    """post_migrate receiver: keep every tenant table covered, including ones added later."""
    from bindery.control.routers import is_host_alias

    if is_host_alias(using):
        install_policies(using)


def _set_scope(value: str) -> None:
    connection = connections[HOST]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, false)", [SETTING, value])


@contextlib.contextmanager
def tenant_scope(tenant_id: uuid.UUID) -> Iterator[None]:
    """Within the block, the host database itself only shows and accepts this tenant's rows."""
    _set_scope(str(tenant_id))
    try:
        yield
    finally:
        _set_scope("")


def set_request_scope(tenant_id: uuid.UUID | None) -> None:
    """Set (or with None clear) the scope for the rest of a request; the middleware clears it."""
    _set_scope(str(tenant_id) if tenant_id else "")
