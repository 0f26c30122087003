"""Members of the tenant: list, change a role, remove. Scopes ``members:read`` / ``members:write``.

A token acts with an admin's rights over members: it cannot change or remove an owner, nor make
one (those stay with owners, in the console).
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.db import transaction
from django.http import HttpRequest
from ninja import Router, Schema, Status

from bindery.accounts.access import MemberNotFound, access_member_by_id, list_members
from bindery.accounts.actions import MemberActionError, MemberError, do_change_role, do_remove_user
from bindery.accounts.models import Role, User
from bindery.accounts.permissions import Access, Area, api_scope
from bindery.api.errors import ApiError, ApiErrorCode
from bindery.api.routes.sales_common import ONE_ERRORS, READ_ERRORS, WRITE_ERRORS, sales_auth
from bindery.control.routers import HOST

router = Router(tags=["members"])
READ = api_scope(Area.MEMBERS, Access.READ)
WRITE = api_scope(Area.MEMBERS, Access.WRITE)


class MemberOut(Schema):
    id: uuid.UUID
    email: str
    name: str
    role: Role
    last_login: dt.datetime | None


class MemberListOut(Schema):
    items: list[MemberOut]


class RoleIn(Schema):
    role: Role


def _member(request: HttpRequest, member_id: uuid.UUID, *, for_write: bool) -> User:
    try:
        member = access_member_by_id(request.tenant, member_id, for_write=for_write)  # type: ignore[attr-defined]
    except MemberNotFound:
        raise ApiError(404, ApiErrorCode.NOT_FOUND, "no such member") from None
    if not member.is_active:
        raise ApiError(404, ApiErrorCode.NOT_FOUND, "no such member")
    return member


def _refused(exc: MemberActionError) -> ApiError:
    status = 403 if exc.code == MemberError.OWNERS_ONLY else 409
    return ApiError(status, str(exc.code), str(exc))


@router.get("/members", response={200: MemberListOut, **READ_ERRORS}, auth=sales_auth(READ),
            summary="List the workspace's members")
def members(request: HttpRequest) -> dict[str, list[User]]:
    return {"items": list_members(request.tenant)}  # type: ignore[attr-defined]


@router.get("/members/{member_id}", response={200: MemberOut, **ONE_ERRORS}, auth=sales_auth(READ),
            summary="Read a member")
def member(request: HttpRequest, member_id: uuid.UUID) -> User:
    return _member(request, member_id, for_write=False)


@router.patch("/members/{member_id}", response={200: MemberOut, **WRITE_ERRORS}, auth=sales_auth(WRITE),
              summary="Change a member's role")
def change_role(request: HttpRequest, member_id: uuid.UUID, payload: RoleIn) -> User:
    with transaction.atomic(using=HOST):
        target = _member(request, member_id, for_write=True)
        try:
            return do_change_role(target, payload.role, actor=request.auth)  # type: ignore[attr-defined]
        except MemberActionError as exc:
            raise _refused(exc) from None


@router.delete("/members/{member_id}", response={204: None, **WRITE_ERRORS}, auth=sales_auth(WRITE),
               summary="Remove a member (their sessions end at once)")
def remove(request: HttpRequest, member_id: uuid.UUID) -> Status:
    with transaction.atomic(using=HOST):
        target = _member(request, member_id, for_write=True)
        try:
            do_remove_user(target, actor=request.auth)  # type: ignore[attr-defined]
        except MemberActionError as exc:
            raise _refused(exc) from None
    return Status(204, None)
