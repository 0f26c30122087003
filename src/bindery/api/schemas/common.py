"""The error shape every 4xx answer uses, for the OpenAPI document."""

from __future__ import annotations

from ninja import Schema


class FieldErrorOut(Schema):
    field: str | None = None
    message: str


class ErrorOut(Schema):
    """``{"code", "message", "field"?, "errors"?}``: ``field`` names the offending input."""

    code: str
    message: str
    field: str | None = None
    errors: list[FieldErrorOut] | None = None


ERRORS_READ = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
ERRORS_WRITE = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 413: ErrorOut,
                422: ErrorOut}
ERRORS_LIST = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut}
