"""Referential integrity for the high-volume catalog rows, kept by the writer instead of per-row triggers.

Prices, stock levels, category and attribute links and images have no database foreign-key
constraints (decision 0004): PostgreSQL checks a constraint with one trigger per row and
foreign key, each a ``SELECT ... FOR KEY SHARE`` on the referenced row, and those checks cost
more than the rows themselves. The upsert (the only writer of those rows) takes the same lock
itself, once per distinct referenced row and batch, in the transaction that writes:
:func:`key_share` locks warehouses, price lists, categories and attribute values the batch
references and returns the ids still present; products are already locked ``FOR UPDATE`` or
created in that transaction. A concurrent delete of a referenced row therefore waits for the
writer's commit, or the writer sees the row gone and refuses the item, as the constraint would.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

from django.db import connections
from django.db.models import Model

from bindery.control.routers import HOST


def key_share(model: type[Model], ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Lock the rows ``FOR KEY SHARE`` until commit (PostgreSQL); return which of ``ids`` exist."""
    if not ids:
        return set()
    connection = connections[HOST]
    if connection.vendor != "postgresql":
        return set(ids)  # SQLite: one writer at a time, the write transaction already excludes deleters
    with connection.cursor() as cursor:
        # The table name comes from the model registry; ids are bound.
        cursor.execute(f"SELECT id FROM {connection.ops.quote_name(model._meta.db_table)} "  # noqa: S608
                       "WHERE id = ANY(%s) FOR KEY SHARE", [list(ids)])
        return {row[0] for row in cursor.fetchall()}
