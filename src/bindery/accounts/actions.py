"""Writes to accounts: tenant users and operators."""

from __future__ import annotations

import logging
import secrets
from enum import StrEnum
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from bindery.accounts.activity import EventKind, record_event
from bindery.accounts.models import Operator, Role, User
from bindery.control.models import LocalTenant
from bindery.control.routers import CONTROL, HOST

logger = logging.getLogger(__name__)


def generate_password() -> str:
    """Return a random password that passes the password rules (about 120 bits)."""
    return secrets.token_urlsafe(15)


MAX_EMAIL = 254


def clean_email(email: Any) -> str:
    """Return the address stripped, or raise MemberActionError saying what is wrong with it.

    Checked before anything is stored or looked up: a NUL or a lone surrogate could not be
    encrypted or indexed (and PostgreSQL text cannot hold a NUL), so they get a clear refusal.
    """
    text = str(email).strip()
    if not text:
        raise MemberActionError(MemberError.INVALID_EMAIL, "an e-mail address is required")
    if len(text) > MAX_EMAIL:
        raise MemberActionError(MemberError.INVALID_EMAIL, f"an e-mail address is at most {MAX_EMAIL} characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise MemberActionError(MemberError.INVALID_EMAIL, "the e-mail address is not valid text") from None
    if "\x00" in text:
        raise MemberActionError(MemberError.INVALID_EMAIL, "the e-mail address holds a NUL character")
    try:
        validate_email(text)
    except ValidationError:
        raise MemberActionError(MemberError.INVALID_EMAIL, "enter a valid e-mail address") from None
    return text


def do_create_user(
    tenant: LocalTenant,
    email: str,
    password: str,
    *,
    role: Role,
    name: str = "",
    must_change_password: bool = False,
    actor: Any,
) -> User:
    with transaction.atomic(using=HOST):
        user = User(tenant=tenant, email=clean_email(email), name=name, role=role,
                    must_change_password=must_change_password)
        validate_password(password, user)
        user.set_password(password)
        user.save()
    logger.info("user created", extra={"event": "user.created", "tenant": tenant.slug,
                                        "user_id": str(user.pk), "role": role, "actor": str(actor)})
    return user


def do_set_password(user: User, password: str, *, actor: Any) -> None:
    validate_password(password, user)
    user.set_password(password)
    user.must_change_password = False
    with transaction.atomic(using=HOST):
        user.save(update_fields=["password", "must_change_password"])
    logger.info("password changed", extra={"event": "user.password_changed", "user_id": str(user.pk),
                                            "actor": str(actor)})


def do_create_operator(email: str, password: str, *, name: str = "", actor: Any) -> Operator:
    operator = Operator(email=clean_email(email).lower(), name=name)
    validate_password(password, operator)  # type: ignore[arg-type]  # any AbstractBaseUser works
    operator.set_password(password)
    with transaction.atomic(using=CONTROL):
        operator.save()
    logger.info("operator created", extra={"event": "operator.created", "operator_id": str(operator.pk),
                                            "actor": str(actor)})
    return operator


# Members: role changes and removal. The matrix (bindery.accounts.permissions) says who may
# manage members at all; these checks hold the rules about owners that a matrix cannot say.


class MemberError(StrEnum):
    LAST_OWNER = "last_owner"
    OWNERS_ONLY = "owners_only"
    UNKNOWN_ROLE = "unknown_role"
    INACTIVE = "inactive"
    ALREADY_MEMBER = "already_member"
    INVALID_EMAIL = "invalid_email"


class MemberActionError(ValueError):
    """A change to a member was refused; ``code`` says why, the message says it to a person."""

    def __init__(self, code: MemberError, message: str) -> None:
        super().__init__(message)
        self.code = code


def _actor_role(actor: Any) -> Role:
    """Return the role an actor manages members with; an API token counts as an admin."""
    role = getattr(actor, "role", None)
    return Role(role) if role else Role.ADMIN


def check_can_manage_member(target: User, new_role: Role | None, *, actor: Any) -> None:
    """Refuse what only owners may do: touch an owner's account or make someone an owner."""
    if _actor_role(actor) == Role.OWNER:
        return
    if target.role == Role.OWNER or new_role == Role.OWNER:
        raise MemberActionError(MemberError.OWNERS_ONLY, "only an owner can change an owner or make one")


def _check_keeps_an_owner(target: User) -> None:
    """Refuse to leave the tenant without an active owner (locks the owners' rows first)."""
    if target.role != Role.OWNER:
        return
    owners = list(User.objects.for_tenant(target.tenant_id).select_for_update()
                  .filter(role=Role.OWNER, is_active=True).values_list("pk", flat=True))
    if [pk for pk in owners if pk != target.pk] == []:
        raise MemberActionError(MemberError.LAST_OWNER, "a workspace must keep at least one owner")


def do_change_role(target: User, role: Role | str, *, actor: Any) -> User:
    try:
        new_role = Role(role)
    except ValueError:
        raise MemberActionError(MemberError.UNKNOWN_ROLE,
                                f"unknown role {role!r}; use {', '.join(Role.values)}") from None
    if not target.is_active:
        raise MemberActionError(MemberError.INACTIVE, "this account was removed")
    check_can_manage_member(target, new_role, actor=actor)
    with transaction.atomic(using=HOST):
        if new_role != Role.OWNER:
            _check_keeps_an_owner(target)
        old = target.role
        target.role = new_role
        target.save(update_fields=["role"])
        record_event(target.tenant_id, EventKind.ROLE_CHANGED, actor=actor, user=target,
                detail={"from": str(old), "to": str(new_role)})
    return target


def do_remove_user(target: User, *, actor: Any) -> None:
    """Deactivate the account (history keeps its name) and end its sessions at once."""
    if not target.is_active:
        return
    check_can_manage_member(target, None, actor=actor)
    with transaction.atomic(using=HOST):
        _check_keeps_an_owner(target)
        target.is_active = False
        # A new unusable password changes the session hash: every open session stops working.
        target.set_unusable_password()
        target.save(update_fields=["is_active", "password"])
        record_event(target.tenant_id, EventKind.MEMBER_REMOVED, actor=actor, user=target)
