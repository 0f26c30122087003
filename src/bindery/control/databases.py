"""Delivery hosts' databases: create them, add them as Django aliases at runtime, migrate them.

This host's own database is the ``default`` alias. Every other registered host gets an alias
``host:<name>`` added to ``django.db.connections`` the first time the control plane needs it
(load measuring, tenant moves); :class:`~bindery.control.routers.CellRouter` migrates host
models onto any such alias.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connections
from django.views.decorators.debug import sensitive_variables

from bindery.config import ConfigError, DatabaseURL, parse_database_url
from bindery.control.routers import HOST, HOST_ALIAS_PREFIX

if TYPE_CHECKING:
    from bindery.control.models import Host


class HostDatabaseError(Exception):
    """A host database URL is malformed or its database cannot be created or reached."""


def parse_host_database_url(value: str) -> DatabaseURL:
    try:
        return parse_database_url("--database", value)
    except ConfigError as exc:
        raise HostDatabaseError(exc.problem) from None


def is_local_host(host: Host) -> bool:
    """True for the host this process serves: its database is the ``default`` alias."""
    return host.name == settings.BINDERY_HOST_NAME


@sensitive_variables("url")
def register_alias(alias: str, url: str) -> str:
    """Add (or refresh) a database alias for ``url``; return the alias."""
    from bindery.settings import _database  # one place builds Django's settings for a URL

    parsed = parse_host_database_url(url)
    wanted = _database(parsed)
    current = connections.settings.get(alias)
    if current is not None and current.get("NAME") == wanted.get("NAME") and \
            current.get("HOST") == wanted.get("HOST") and current.get("PORT") == wanted.get("PORT"):
        return alias
    if current is not None:
        connections[alias].close()
    # Django's helper fills in defaults (TIME_ZONE, CONN_MAX_AGE, TEST...) and insists on a default.
    configured = connections.configure_settings({"default": dict(connections.settings["default"]), alias: wanted})
    connections.settings[alias] = configured[alias]
    # A fresh connection object picks up the new settings.
    with contextlib.suppress(AttributeError):
        delattr(connections._connections, alias)  # type: ignore[attr-defined]  # Django's thread-local holder
    return alias


def alias_for_host(host: Host) -> str:
    """Return the connection alias of ``host``'s database, adding it when needed."""
    if is_local_host(host):
        return HOST
    return register_alias(f"{HOST_ALIAS_PREFIX}{host.name}", host.database_url())


@sensitive_variables("url")
def create_database(url: str) -> bool:
    """Create the database of ``url`` when it does not exist; return True if it was created.

    SQLite: the file (and nothing else; its folder must exist). PostgreSQL: ``CREATE DATABASE``
    issued through the server's ``postgres`` maintenance database with the same credentials.
    """
    parsed = parse_host_database_url(url)
    if parsed.is_sqlite:
        assert parsed.path is not None
        if not parsed.path.parent.is_dir():
            raise HostDatabaseError(f"folder {parsed.path.parent} does not exist")
        if parsed.path.exists():
            return False
        import sqlite3

        sqlite3.connect(parsed.path).close()
        return True
    import psycopg
    from psycopg import sql

    from bindery.settings import _database

    params: dict[str, Any] = _database(parsed)
    name = params["NAME"]
    kwargs: dict[str, Any] = {"host": params.get("HOST") or None, "port": params.get("PORT") or None,
              "user": params.get("USER") or None, "password": params.get("PASSWORD") or None,
              "connect_timeout": 5}
    try:
        with psycopg.connect(dbname="postgres", autocommit=True,
                             **{k: v for k, v in kwargs.items() if v is not None}) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if exists:
                return False
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    except psycopg.Error as exc:
        from bindery.ops.logs import redact_text

        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HostDatabaseError(f"cannot create database {name!r}: {redact_text(first)}") from None


def migrate_alias(alias: str) -> None:
    """Create or upgrade every host table (and row-level security) in ``alias``."""
    from django.core.management import call_command

    call_command("migrate", database=alias, interactive=False, verbosity=0)


def check_reachable(alias: str) -> None:
    try:
        connections[alias].ensure_connection()
    except Exception as exc:
        from bindery.ops.logs import redact_text

        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HostDatabaseError(f"cannot connect to the host database: {redact_text(first)}") from None
