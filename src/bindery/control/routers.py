"""Send every model to the control database or to this delivery host's database."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import models

CONTROL = "control"
HOST = "default"
# Other delivery hosts' databases, added at runtime by bindery.control.databases.
HOST_ALIAS_PREFIX = "host:"


def is_host_alias(db: str) -> bool:
    """True for this host's database and every other host's runtime alias."""
    return db == HOST or db.startswith(HOST_ALIAS_PREFIX)

# Framework apps whose tables belong on the host: sessions and the admin's log are per host;
# auth and contenttypes only hold metadata, which the host database keeps once.
_HOST_APPS = {"sessions", "admin", "auth", "contenttypes", "messages"}


def database_for_model(model: type[models.Model]) -> str:
    """Return the alias a model lives in: ``control`` for control-plane models, else the host."""
    role = getattr(model, "database_role", None)
    if role == "control":
        return CONTROL
    return HOST


class CellRouter:
    def db_for_read(self, model: type[models.Model], **hints: Any) -> str:
        return database_for_model(model)

    def db_for_write(self, model: type[models.Model], **hints: Any) -> str:
        return database_for_model(model)

    def allow_relation(self, obj1: models.Model, obj2: models.Model, **hints: Any) -> bool:
        return database_for_model(type(obj1)) == database_for_model(type(obj2))

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool:
        # Another host's database takes exactly what this host's does.
        role_db = HOST if is_host_alias(db) else db
        if app_label in _HOST_APPS:
            return role_db == HOST
        if model_name is None:
            # RunPython/RunSQL without a model: let the migration say where via hints.
            return role_db == hints.get("target_db", HOST)
        try:
            model = apps.get_model(app_label, model_name)
        except LookupError:
            return role_db == HOST
        return role_db == database_for_model(model)
