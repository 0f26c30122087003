"""Describe a running platform's database schema (both databases) for comparisons in tests."""

from __future__ import annotations

import json
from typing import Any

from tests.support.server import Platform

# Runs inside ``bindery manage shell``: prints every table's columns and constraints (without
# their names: a replayed history may keep an old name that a fresh build derives anew), and
# PostgreSQL's row-level security policies and triggers.
_DUMP = r'''
import json
from django.db import connections
out = {}
for alias in ("control", "default"):
    connection = connections[alias]
    described = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            columns = sorted(
                (c.name, str(c.type_code), bool(c.null_ok), str(c.default))
                for c in connection.introspection.get_table_description(cursor, table))
            constraints = sorted(
                json.dumps([sorted(str(c) for c in v.get("columns") or []), v.get("primary_key"), v.get("unique"),
                            v.get("foreign_key"), v.get("check"), v.get("index"), v.get("type")], default=str)
                for v in connection.introspection.get_constraints(cursor, table).values())
            described[table] = {"columns": columns, "constraints": constraints}
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tablename, policyname, cmd, qual, with_check FROM pg_policies ORDER BY 1, 2")
            described["<policies>"] = [list(row) for row in cursor.fetchall()]
            cursor.execute("SELECT event_object_table, trigger_name, event_manipulation, action_statement "
                           "FROM information_schema.triggers ORDER BY 1, 2, 3")
            described["<triggers>"] = [list(row) for row in cursor.fetchall()]
    out[alias] = described
print("SCHEMA" + json.dumps(out, default=str))
'''


def schema_of(plat: Platform) -> dict[str, Any]:
    """Return ``{alias: {table: {"columns": [...], "constraints": [...]}}}`` for a migrated platform."""
    done = plat.bindery("manage", "shell", "-c", _DUMP, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("SCHEMA"))
    return json.loads(line[len("SCHEMA"):])  # type: ignore[no-any-return]
