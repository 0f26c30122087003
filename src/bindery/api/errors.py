"""API errors: one shape for every failure, ``{"code", "message", "field"?, "errors"?}``."""

from __future__ import annotations

from enum import StrEnum


class ApiErrorCode(StrEnum):
    INVALID = "invalid"
    MALFORMED_BODY = "malformed_body"
    BODY_TOO_LARGE = "body_too_large"
    NOT_FOUND = "not_found"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN_SCOPE = "forbidden_scope"
    INVALID_CURSOR = "invalid_cursor"
    CONFLICT = "conflict"
    IP_NOT_ALLOWED = "ip_not_allowed"
    WRONG_TOKEN = "wrong_token"  # noqa: S105  # an error code, not a secret
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    NO_SUCH_ENDPOINT = "no_such_endpoint"
    BUSY = "busy"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def body(self) -> dict[str, str]:
        data = {"code": str(self.code), "message": self.message}
        if self.field:
            data["field"] = self.field
        return data
