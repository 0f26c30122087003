"""``migrate`` that builds a fresh database from the models instead of replaying its history.

Replaying every migration re-renders Django's model state after each operation; with every
table pointing at the tenant, that costs ~20 s of CPU per database (profiled 2026-11-29:
15,000 model renders for 53 migrations), and a new host, a test database and the first
``make run`` all start from an empty database. The result of a replay is, by construction, the
schema of the current models (``makemigrations --check`` is a test), so an empty database gets
that schema directly, as Django's test runner does without migrations, and every migration is
recorded as applied. Everything after (post_migrate: row-level security, fences, content types)
runs as usual through Django's own command. A database that holds anything, a target migration,
``--fake``, ``--plan`` or ``--replay-history`` take Django's normal path.

tests/ops/test_migrate_fresh.py proves the two paths give the same schema on SQLite and
PostgreSQL. Written here because Django has no such path for migrated apps (``--run-syncdb``
only covers apps without migrations).
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import CommandParser
from django.core.management.commands import migrate
from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.operations import RunPython, RunSQL

# Django's own data migrations only rewrite rows that exist; on an empty database they do nothing.
_REWRITES_EXISTING_ROWS_ONLY = ("django.contrib.",)


class Command(migrate.Command):
    help = migrate.Command.help + " An empty database is built from the models in one step."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--replay-history", action="store_true",
                            help="Apply every migration one by one even on an empty database.")

    def handle(self, *args: Any, **options: Any) -> None:
        connection = connections[options["database"]]
        executor = MigrationExecutor(connection)  # loads the migration graph once for both steps
        reason = why_replay(connection, options, executor)
        if reason is None:
            if options["verbosity"] >= 1:
                self.stdout.write(self.style.MIGRATE_HEADING("Empty database:")
                                  + " building the tables from the models, recording every migration.")
            build_from_models(connection, executor)
        elif options["verbosity"] >= 2:
            self.stdout.write(f"Replaying migrations: {reason}.")
        super().handle(*args, **options)


def why_replay(connection: BaseDatabaseWrapper, options: dict[str, Any],
               executor: MigrationExecutor | None = None) -> str | None:
    """Return why this run must replay the history, or None when the database can be built in one step."""
    for option in ("replay_history", "app_label", "fake", "fake_initial", "plan", "check_unapplied", "prune"):
        if options.get(option):
            return f"--{option.replace('_', '-')}"
    connection.prepare_database()
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor)) - {"django_migrations"}
    if tables:
        return "the database is not empty"
    executor = executor or MigrationExecutor(connection)
    if executor.recorder.has_table() and executor.recorder.applied_migrations():
        return "migrations are recorded"
    for migration in executor.loader.graph.nodes.values():
        module = type(migration).__module__
        if module.startswith(_REWRITES_EXISTING_ROWS_ONLY):
            continue
        for operation in migration.operations:
            if isinstance(operation, RunPython | RunSQL) and not operation.elidable:
                return f"{migration.app_label}.{migration.name} runs code that is not marked elidable"
    return None


def build_from_models(connection: BaseDatabaseWrapper, executor: MigrationExecutor) -> None:
    """Create every table this database holds from the current models and record all migrations."""
    with connection.schema_editor() as editor:  # deferred SQL (foreign keys, indexes) runs on exit
        for app_config in apps.get_app_configs():
            for model in router.get_migratable_models(app_config, connection.alias, include_auto_created=False):
                if model._meta.can_migrate(connection):
                    editor.create_model(model)
    executor.recorder.ensure_schema()
    for migration in executor.loader.graph.nodes.values():
        executor.record_migration(migration)
