"""Coded errors raised by catalog checks, access helpers and actions."""

from __future__ import annotations

from enum import StrEnum


class CatalogErrorCode(StrEnum):
    NOT_FOUND = "not_found"
    PLAN_LIMIT_EXCEEDED = "plan_limit_exceeded"
    REQUIRED = "required"
    TOO_LONG = "too_long"
    INVALID_DECIMAL = "invalid_decimal"
    INVALID_CHOICE = "invalid_choice"
    INVALID_VALUE = "invalid_value"
    NEGATIVE_VALUE = "negative_value"
    UNKNOWN_CURRENCY = "unknown_currency"
    DUPLICATE_SKU = "duplicate_sku"
    DUPLICATE_KEY = "duplicate_key"
    NESTED_VARIANT = "nested_variant"
    UNKNOWN_WAREHOUSE = "unknown_warehouse"
    UNKNOWN_PRICE_LIST = "unknown_price_list"
    ALREADY_EXISTS = "already_exists"
    CONFLICT = "conflict"


class CatalogError(Exception):
    """A refused catalog write or lookup; ``field`` names the offending input when there is one."""

    def __init__(self, code: CatalogErrorCode, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"CatalogError({self.code!s}, {self.message!r}, field={self.field!r})"


class NotFound(CatalogError):
    """The object does not exist for this tenant (another tenant's object looks exactly the same)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(CatalogErrorCode.NOT_FOUND, message, field=field)
