"""Helpers of the data-protection tests: what a column really holds, and the CLI in-process."""

from __future__ import annotations

from django.db import connections

from bindery.cli import build_parser
from bindery.config import load
from bindery.control.routers import HOST


def raw_value(model: type, pk: object, column: str) -> str:
    """Return a column of one row as stored, read past the ORM (ciphertext stays ciphertext)."""
    connection = connections[HOST]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {quote(column)} FROM {quote(model._meta.db_table)} WHERE id = %s",  # noqa: S608
                       [pk.hex if connection.vendor == "sqlite" else pk])  # type: ignore[attr-defined]
        return str(cursor.fetchone()[0])


def bindery(*argv: str) -> int:
    """Run a ``bindery`` command in this process and return its exit code."""
    args = build_parser().parse_args(argv)
    return int(args.func(load(create=False), args))
