"""CSV exports of console lists: streamed row by row, safe to open in a spreadsheet.

Spreadsheets execute a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and some read a
leading tab or carriage return the same way) as a formula, so a product name such as
``=HYPERLINK(...)`` sent by a channel would run on the tenant's computer. Such text cells get
a leading apostrophe, which spreadsheets show as text. Numbers (``Decimal``, ``int``) are
written as they are: ``-3`` stock is a number, not a formula.
"""

from __future__ import annotations

import csv
import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from django.http import StreamingHttpResponse

from bindery.control.rls import tenant_scope

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CHUNK_SIZE = 500


def safe_cell(value: Any) -> str | Decimal | int:
    """Return the value as a CSV cell; text that a spreadsheet would run as a formula gets a quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal | int):
        return value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


class _Echo:
    """A file-like object whose ``write`` returns what it was given (for csv.writer)."""

    def write(self, value: str) -> str:
        return value


def _lines(tenant_id: uuid.UUID, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # a BOM, so spreadsheets read the file as UTF-8
    yield writer.writerow(header)
    # The body is produced after the request's middleware has cleared the database scope, so
    # the rows are read inside the tenant's scope again (row-level security stays in force).
    with tenant_scope(tenant_id):
        for row in rows:
            yield writer.writerow([safe_cell(value) for value in row])


def csv_response(tenant_id: uuid.UUID, filename: str, header: Sequence[str],
                 rows: Iterable[Sequence[Any]]) -> StreamingHttpResponse:
    """Stream ``rows`` (read lazily, in the tenant's database scope) as a CSV download named ``filename``."""
    response = StreamingHttpResponse(_lines(tenant_id, header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
