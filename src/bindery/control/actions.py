"""Writes to the control plane. Every caller (CLI, admin, jobs, tests) goes through these."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from bindery.control.errors import ControlError, ControlErrorCode
from bindery.control.models import (
    PLAN_LIMITS,
    Host,
    LocalTenant,
    Placement,
    Plan,
    Tenant,
    country_validator,
    slug_validator,
)
from bindery.control.routers import CONTROL

logger = logging.getLogger(__name__)


def check_tenant_slug(slug: str) -> None:
    try:
        slug_validator(slug)
    except ValidationError:
        raise ControlError(ControlErrorCode.TENANT_SLUG_INVALID, f"{slug!r}: {slug_validator.message}") from None
    if Tenant.objects.filter(slug=slug).exists():
        raise ControlError(ControlErrorCode.TENANT_SLUG_TAKEN, f"a tenant named {slug!r} already exists")


def do_create_tenant(slug: str, name: str, *, plan: str = Plan.STANDARD, host: Host | None = None,
                     dedicated: bool = False, allowed_countries: list[str] | None = None,
                     actor: Any) -> Tenant:
    """Create a tenant in the control plane, place it on ``host`` (default: this host).

    The two databases cannot share a transaction: the control rows (tenant and placement) are
    written first and removed again if the host refuses its copy, so a failure leaves neither
    behind.
    """
    from bindery.control.hosts import check_host_eligible, ensure_local_host, host_alias

    check_tenant_slug(slug)
    countries = sorted({c.upper() for c in allowed_countries or []})
    for country in countries:
        try:
            country_validator(country)
        except ValidationError:
            raise ControlError(ControlErrorCode.TENANT_SLUG_INVALID,
                               f"{country!r} is not an ISO 3166-1 alpha-2 country code") from None
    if host is None:
        host = ensure_local_host()
    tenant = Tenant(slug=slug, name=name, plan=plan, dedicated=dedicated, allowed_countries=countries)
    if host.name != settings.BINDERY_HOST_NAME or dedicated or countries:
        check_host_eligible(host, tenant)
    alias = host_alias(host)
    with transaction.atomic(using=CONTROL):
        tenant.save(force_insert=True)
        Placement.objects.create(tenant=tenant, host=host, epoch=1)
    try:
        with transaction.atomic(using=alias):
            max_products, max_orders = PLAN_LIMITS[plan]
            LocalTenant.objects.using(alias).create(id=tenant.id, slug=tenant.slug, name=tenant.name,
                                                    max_products=max_products, max_orders_30d=max_orders)
    except Exception:
        tenant.delete()
        raise
    logger.info("tenant created", extra={"event": "tenant.created", "tenant": slug, "host": host.name,
                                         "actor": str(actor)})
    return tenant
