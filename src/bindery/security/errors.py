"""Error and failure codes of API tokens: stable strings for logs, the CLI and API answers."""

from __future__ import annotations

from enum import StrEnum


class TokenError(StrEnum):
    """Why an action on a token was refused."""

    UNKNOWN_SCOPE = "unknown_scope"
    NO_SCOPES = "no_scopes"
    INVALID_NAME = "invalid_name"
    INVALID_EXPIRY = "invalid_expiry"
    INVALID_OVERLAP = "invalid_overlap"
    REVOKED = "revoked"
    EXPIRED = "expired"
    ALREADY_ROTATED = "already_rotated"
    UNKNOWN_NODE = "unknown_node"


class AuthFailure(StrEnum):
    """Why a presented token did not authenticate (for logs; clients get one generic answer)."""

    MALFORMED = "malformed"  # wrong shape or checksum: rejected before any database query
    UNKNOWN = "unknown"
    WRONG_SECRET = "wrong_secret"  # noqa: S105  # a failure code, not a password
    WRONG_TENANT = "wrong_tenant"
    REVOKED = "revoked"
    EXPIRED = "expired"
    ROTATED = "rotated"  # replaced, and the rotation overlap has ended


class TokenActionError(ValueError):
    """An action on a token was refused; ``code`` says why, the message says it to a person."""

    def __init__(self, code: TokenError, message: str) -> None:
        super().__init__(message)
        self.code = code
