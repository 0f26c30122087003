"""Fencing: once a tenant's move cuts over, its old host refuses every write to its rows.

The fence is a flag on the host's :class:`~bindery.control.models.LocalTenant` row, checked by
the database itself on every tenant-owned table, so no writer can miss it — web, API, jobs,
bulk SQL paths or raw SQL:

- **PostgreSQL**: statement-level ``AFTER INSERT/UPDATE/DELETE`` triggers with transition
  tables. Each statement takes ``FOR KEY SHARE`` on the tenant rows it touched and raises
  ``tenant_fenced`` (SQLSTATE ``BF001``) if one is fenced. The cutover takes ``FOR UPDATE`` on
  the tenant row, which waits for every in-flight writer to commit, and blocks new ones until
  the fence is committed: no write can slip in between the last copy and the flip.
- **SQLite**: row-level ``BEFORE`` triggers; SQLite has one writer at a time, so the cutover's
  write transaction already excludes every other writer.

A refused write raises a database error whose message starts with ``tenant_fenced``;
:func:`is_fenced_error` recognizes it.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import connections, transaction

from bindery.control.rls import tenant_tables
from bindery.control.routers import HOST, is_host_alias

MARK = "tenant_fenced"
_FUNCTION = "bindery_refuse_fenced_tenant"
_PG_EVENTS = (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD"))


def _pg_function() -> str:
    # A write for a tenant this host does not know (pruned after a move) is refused as well:
    # high-volume tables have no foreign key that would catch it (decision 0003).
    # Constants only: no input reaches this SQL.
    return f"""
CREATE OR REPLACE FUNCTION {_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    refused uuid;
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM 1 FROM control_localtenant t
         WHERE t.id IN (SELECT DISTINCT r.tenant_id FROM changed_old r) FOR KEY SHARE;
        SELECT t.id INTO refused FROM control_localtenant t
         WHERE t.id IN (SELECT DISTINCT r.tenant_id FROM changed_old r) AND t.fenced LIMIT 1;
    ELSE
        PERFORM 1 FROM control_localtenant t
         WHERE t.id IN (SELECT DISTINCT r.tenant_id FROM changed_new r) FOR KEY SHARE;
        SELECT r.tenant_id INTO refused FROM (SELECT DISTINCT tenant_id FROM changed_new) r
          LEFT JOIN control_localtenant t ON t.id = r.tenant_id
         WHERE t.id IS NULL OR t.fenced LIMIT 1;
    END IF;
    IF refused IS NOT NULL THEN
        RAISE EXCEPTION '{MARK}: tenant % has moved to another host; this host no longer accepts its writes',
            refused USING ERRCODE = 'BF001';
    END IF;
    -- A moving tenant's written rows go to the move journal (read after the tenant row lock,
    -- so a writer blocked by the journal switch sees it on).
    IF TG_OP = 'DELETE' THEN
        INSERT INTO control_movejournal (tenant_id, table_name, row_id)
        SELECT r.tenant_id, TG_TABLE_NAME, r.id FROM changed_old r
          JOIN control_localtenant t ON t.id = r.tenant_id WHERE t.journal;
    ELSE
        INSERT INTO control_movejournal (tenant_id, table_name, row_id)
        SELECT r.tenant_id, TG_TABLE_NAME, r.id FROM changed_new r
          JOIN control_localtenant t ON t.id = r.tenant_id WHERE t.journal;
    END IF;
    RETURN NULL;
END
$fn$;
"""  # noqa: S608


def _pg_statements(table: str) -> list[str]:
    quoted = connections[HOST].ops.quote_name(table)
    out = []
    for event, side in _PG_EVENTS:
        name = f"bindery_fence_{event.lower()}"
        alias = "changed_new" if side == "NEW" else "changed_old"
        out.append(f"DROP TRIGGER IF EXISTS {name} ON {quoted}")
        out.append(f"CREATE TRIGGER {name} AFTER {event} ON {quoted} REFERENCING {side} TABLE AS {alias} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {_FUNCTION}()")
    return out


def _sqlite_statements(table: str) -> list[str]:
    quoted = connections[HOST].ops.quote_name(table)
    out = []
    for event, side in _PG_EVENTS:
        name = f'"bindery_fence_{event.lower()}_{table}"'
        out.append(f"DROP TRIGGER IF EXISTS {name}")
        # Table names come from the model registry, quoted.
        missing = 0 if side == "OLD" else 1
        condition = f"(SELECT coalesce(max(fenced), {missing}) FROM control_localtenant WHERE id = {side}.tenant_id)"  # noqa: S608
        message = f"{MARK}: the tenant has moved to another host; this host no longer accepts its writes"
        out.append(f"CREATE TRIGGER {name} BEFORE {event} ON {quoted} WHEN {condition} "
                   f"BEGIN SELECT RAISE(ABORT, '{message}'); END")
    return out


def install_fences(using: str = HOST) -> int:
    """Create (or refresh) the fence triggers on every tenant-owned table; return how many tables."""
    connection = connections[using]
    existing = set(connection.introspection.table_names())
    if "control_localtenant" not in existing:
        return 0
    tables = [t for t in tenant_tables() if t in existing]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_pg_function())
        for table in tables:
            statements = _pg_statements(table) if connection.vendor == "postgresql" else _sqlite_statements(table)
            for statement in statements:
                cursor.execute(statement)
    return len(tables)


def install_fences_after_migrate(sender: Any, using: str = HOST, **kwargs: Any) -> None:
    """post_migrate receiver: every tenant table, including ones added later, is fenced."""
    if is_host_alias(using):
        install_fences(using)


def fence_tenant(using: str, tenant_id: uuid.UUID, *, epoch: int) -> None:
    """Refuse further writes of the tenant on this database; wait out writers already running.

    ``FOR UPDATE`` on the tenant row conflicts with the writers' ``FOR KEY SHARE``: it waits
    until every running write transaction of the tenant has committed.
    """
    from bindery.control.models import LocalTenant

    with transaction.atomic(using=using):
        LocalTenant.objects.using(using).select_for_update().filter(pk=tenant_id).get()
        LocalTenant.objects.using(using).filter(pk=tenant_id).update(fenced=True, epoch=epoch)


def unfence_tenant(using: str, tenant_id: uuid.UUID, *, epoch: int) -> None:
    from bindery.control.models import LocalTenant

    with transaction.atomic(using=using):
        LocalTenant.objects.using(using).filter(pk=tenant_id).update(fenced=False, epoch=epoch)


def is_fenced_error(exc: BaseException) -> bool:
    """True if a database error is the fence refusing a write."""
    cause: BaseException | None = exc
    while cause is not None:
        if MARK in str(cause):
            return True
        cause = cause.__cause__
    return False
