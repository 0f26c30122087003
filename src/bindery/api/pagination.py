"""Cursor pagination by id: UUIDv7 ids are time-ordered, so ``id > cursor`` walks the table in
creation order through the (tenant, id) index at constant cost however deep the page is."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

from django.db.models import QuerySet

from bindery.api.errors import ApiError, ApiErrorCode

MAX_LIMIT = 500
DEFAULT_LIMIT = 100


def encode_cursor(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        if len(cursor) != 22:
            raise ValueError(cursor)
        return uuid.UUID(bytes=base64.urlsafe_b64decode(cursor + "=="))
    except (ValueError, binascii.Error):
        raise ApiError(400, ApiErrorCode.INVALID_CURSOR, "the cursor is not one this API returned",
                       field="cursor") from None


def paginate(queryset: QuerySet[Any], *, cursor: str | None, limit: int) -> tuple[list[Any], str | None]:
    """Return one page and the cursor of the next one (None on the last page)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, ApiErrorCode.INVALID, f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    if cursor:
        queryset = queryset.filter(id__gt=decode_cursor(cursor))
    rows = list(queryset.order_by("id")[: limit + 1])
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1].id)
    return rows, None
