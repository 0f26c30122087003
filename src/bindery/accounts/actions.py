"""Writes to accounts: tenant users and operators."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from bindery.accounts.models import Operator, Role, User
from bindery.control.models import LocalTenant
from bindery.control.routers import CONTROL, HOST

logger = logging.getLogger(__name__)


def generate_password() -> str:
    """Return a random password that passes the password rules (about 120 bits)."""
    return secrets.token_urlsafe(15)


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
        user = User(tenant=tenant, email=email.strip(), name=name, role=role,
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
    operator = Operator(email=email.strip().lower(), name=name)
    validate_password(password, operator)  # type: ignore[arg-type]  # any AbstractBaseUser works
    operator.set_password(password)
    with transaction.atomic(using=CONTROL):
        operator.save()
    logger.info("operator created", extra={"event": "operator.created", "operator_id": str(operator.pk),
                                            "actor": str(actor)})
    return operator
