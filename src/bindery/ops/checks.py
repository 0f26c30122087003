"""System checks (``bindery check`` runs them with Django's)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def check_not_debug(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.DEBUG:
        return [checks.Error("BINDERY_DEBUG is on", hint="Set BINDERY_DEBUG=false in production.",
                             id="bindery.E001")]
    return []


@checks.register(checks.Tags.database, deploy=True)
def check_production_databases(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    for alias, variable in (("default", "BINDERY_HOST_DATABASE_URL"), ("control", "BINDERY_CONTROL_DATABASE_URL")):
        if settings.DATABASES[alias]["ENGINE"].endswith("sqlite3"):
            messages.append(checks.Warning(
                f"{variable} is SQLite (the embedded default)",
                hint="Use a PostgreSQL URL for a production delivery host.",
                id="bindery.W001",
            ))
    return messages


@checks.register(checks.Tags.security, deploy=True)
def check_not_superuser(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """Row-level security does not bind PostgreSQL superusers: the host must not connect as one."""
    from django.db import connections

    connection = connections["default"]
    if connection.vendor != "postgresql":
        return []
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
            row = cursor.fetchone()
    except Exception:  # connectivity is reported by `bindery check` itself
        return []
    if row and row[0]:
        return [checks.Error(
            "BINDERY_HOST_DATABASE_URL connects as a superuser (or a role that bypasses row-level security)",
            hint="Connect as the database owner role without SUPERUSER/BYPASSRLS; the tenant wall depends on it.",
            id="bindery.E002",
        )]
    return []
