"""Coded errors raised by control-plane actions."""

from enum import StrEnum


class ControlErrorCode(StrEnum):
    TENANT_SLUG_TAKEN = "tenant_slug_taken"
    TENANT_SLUG_INVALID = "tenant_slug_invalid"
    DATACENTER_INVALID = "datacenter_invalid"
    DATACENTER_NOT_FOUND = "datacenter_not_found"
    HOST_INVALID = "host_invalid"
    HOST_NOT_FOUND = "host_not_found"
    HOST_DATABASE = "host_database"
    HOST_NOT_EMPTY = "host_not_empty"
    NO_ELIGIBLE_HOST = "no_eligible_host"
    HOST_NOT_ELIGIBLE = "host_not_eligible"
    TENANT_NOT_FOUND = "tenant_not_found"
    TENANT_FENCED = "tenant_fenced"
    MOVE_INVALID = "move_invalid"
    MOVE_FAILED = "move_failed"
    MOVE_WAITING = "move_waiting"


class ControlError(Exception):
    def __init__(self, code: ControlErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
