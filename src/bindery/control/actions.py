"""Writes to the control plane. Every caller (CLI, admin, jobs, tests) goes through these."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from bindery.control.errors import ControlError, ControlErrorCode
from bindery.control.models import PLAN_LIMITS, LocalTenant, Plan, Tenant, slug_validator
from bindery.control.routers import CONTROL, HOST

logger = logging.getLogger(__name__)


def check_tenant_slug(slug: str) -> None:
    try:
        slug_validator(slug)
    except ValidationError:
        raise ControlError(ControlErrorCode.TENANT_SLUG_INVALID, f"{slug!r}: {slug_validator.message}") from None
    if Tenant.objects.filter(slug=slug).exists():
        raise ControlError(ControlErrorCode.TENANT_SLUG_TAKEN, f"a tenant named {slug!r} already exists")


def do_create_tenant(slug: str, name: str, *, plan: str = Plan.STANDARD, actor: Any) -> Tenant:
    """Create a tenant in the control plane and place it on this host.

    The two databases cannot share a transaction: the control row is written first and removed
    again if the host refuses its copy, so a failure leaves neither behind.
    """
    check_tenant_slug(slug)
    with transaction.atomic(using=CONTROL):
        tenant = Tenant.objects.create(slug=slug, name=name, plan=plan)
    try:
        with transaction.atomic(using=HOST):
            max_products, max_orders = PLAN_LIMITS[plan]
            LocalTenant.objects.create(id=tenant.id, slug=tenant.slug, name=tenant.name,
                                       max_products=max_products, max_orders_30d=max_orders)
    except Exception:
        tenant.delete()
        raise
    logger.info("tenant created", extra={"event": "tenant.created", "tenant": slug, "actor": str(actor)})
    return tenant
