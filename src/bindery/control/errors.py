"""Coded errors raised by control-plane actions."""

from enum import StrEnum


class ControlErrorCode(StrEnum):
    TENANT_SLUG_TAKEN = "tenant_slug_taken"
    TENANT_SLUG_INVALID = "tenant_slug_invalid"


class ControlError(Exception):
    def __init__(self, code: ControlErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
