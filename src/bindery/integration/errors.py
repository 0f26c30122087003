"""Coded errors of the integration engine."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class IntegrationErrorCode(StrEnum):
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    INVALID_CONFIG = "invalid_config"
    INVALID_VALUE = "invalid_value"
    UNKNOWN_TECHNOLOGY = "unknown_technology"
    UNKNOWN_CONNECTOR_TYPE = "unknown_connector_type"
    UNSUPPORTED_OPTION = "unsupported_option"
    ALREADY_RUNNING = "already_running"
    NOT_CANCELLABLE = "not_cancellable"
    CREDENTIALS_UNREADABLE = "credentials_unreadable"
    IN_USE = "in_use"


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class IntegrationError(Exception):
    """A refused integration write or lookup; ``field`` names the first offending input."""

    def __init__(self, code: IntegrationErrorCode, message: str, *, field: str | None = None,
                 errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.errors = errors or ([FieldError(field, message)] if field else [])

    def __repr__(self) -> str:
        return f"IntegrationError({self.code!s}, {self.message!r}, field={self.field!r})"


class NotFound(IntegrationError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(IntegrationErrorCode.NOT_FOUND, message, field=field)


class RunCancelled(Exception):
    """Raised inside a run when cancellation was requested; the runner marks the run cancelled."""
