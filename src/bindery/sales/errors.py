"""Coded errors raised by sales access helpers and actions."""

from __future__ import annotations

from enum import StrEnum


class SalesErrorCode(StrEnum):
    ORDER_NOT_FOUND = "order_not_found"
    CUSTOMER_NOT_FOUND = "customer_not_found"
    SHIPMENT_NOT_FOUND = "shipment_not_found"
    ORDER_STATUS_NOT_FOUND = "order_status_not_found"
    REQUIRED = "required"
    TOO_LONG = "too_long"
    INVALID_VALUE = "invalid_value"
    NEGATIVE_VALUE = "negative_value"
    OUT_OF_RANGE = "out_of_range"
    NAIVE_DATETIME = "naive_datetime"
    UNKNOWN_CURRENCY = "unknown_currency"
    CURRENCY_MISMATCH = "currency_mismatch"
    UNKNOWN_COUNTRY = "unknown_country"
    INVALID_EMAIL = "invalid_email"
    TOTALS_MISMATCH = "totals_mismatch"
    PLAN_LIMIT_EXCEEDED = "plan_limit_exceeded"


class SalesError(Exception):
    """A sales precondition failed; ``field`` names the offending input when there is one."""

    def __init__(self, code: SalesErrorCode, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field

    def __str__(self) -> str:
        message = super().__str__()
        return f"{self.field}: {message}" if self.field else message
