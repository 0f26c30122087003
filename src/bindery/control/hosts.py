"""Actions on datacenters, delivery hosts and placement (docs/decisions/0002-delivery-hosts.md)."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from bindery import __version__
from bindery.control.databases import (
    HostDatabaseError,
    alias_for_host,
    check_reachable,
    create_database,
    migrate_alias,
    parse_host_database_url,
    register_alias,
)
from bindery.control.errors import ControlError, ControlErrorCode
from bindery.control.models import (
    Datacenter,
    Host,
    HostState,
    Placement,
    Tenant,
    country_validator,
    host_name_validator,
    slug_validator,
)
from bindery.control.routers import CONTROL, HOST_ALIAS_PREFIX
from bindery.control.sealing import seal

logger = logging.getLogger(__name__)

LOCAL_DATACENTER = "local"
LOCAL_COUNTRY = "ZZ"  # ISO's user-assigned code: the embedded default claims no real country


def _host_purpose(name: str) -> str:
    return f"host-database-url:{name}"


def do_add_datacenter(name: str, country: str, *, latitude: Decimal | None = None,
                      longitude: Decimal | None = None, actor: Any) -> Datacenter:
    try:
        slug_validator(name)
        country_validator(country)
    except ValidationError as exc:
        raise ControlError(ControlErrorCode.DATACENTER_INVALID, "; ".join(exc.messages)) from None
    if latitude is not None and not -90 <= latitude <= 90:
        raise ControlError(ControlErrorCode.DATACENTER_INVALID, "latitude must be between -90 and 90")
    if longitude is not None and not -180 <= longitude <= 180:
        raise ControlError(ControlErrorCode.DATACENTER_INVALID, "longitude must be between -180 and 180")
    if Datacenter.objects.filter(name=name).exists():
        raise ControlError(ControlErrorCode.DATACENTER_INVALID, f"a datacenter named {name!r} already exists")
    with transaction.atomic(using=CONTROL):
        dc = Datacenter.objects.create(name=name, country=country, latitude=latitude, longitude=longitude)
    logger.info("datacenter added", extra={"event": "datacenter.added", "datacenter": name, "actor": str(actor)})
    return dc


def access_datacenter(name: str) -> Datacenter:
    dc = Datacenter.objects.filter(name=name).first()
    if dc is None:
        raise ControlError(ControlErrorCode.DATACENTER_NOT_FOUND, f"no datacenter {name!r}")
    return dc


def access_host(name: str) -> Host:
    host = Host.objects.select_related("datacenter").filter(name=name).first()
    if host is None:
        raise ControlError(ControlErrorCode.HOST_NOT_FOUND, f"no host {name!r}")
    return host


def do_add_host(name: str, *, datacenter: Datacenter, public_url: str, database_url: str,
                capacity: int = 100, dedicated: bool = False, actor: Any) -> Host:
    """Create the host's database if missing, migrate it, then register the host.

    Registration comes last, so a host that is listed is always migrated and reachable.
    """
    try:
        host_name_validator(name)
    except ValidationError as exc:
        raise ControlError(ControlErrorCode.HOST_INVALID, "; ".join(exc.messages)) from None
    if not public_url.startswith(("https://", "http://")) or len(public_url) > 300:
        raise ControlError(ControlErrorCode.HOST_INVALID, "--url must be an http(s) URL of at most 300 characters")
    if capacity <= 0:
        raise ControlError(ControlErrorCode.HOST_INVALID, "capacity must be positive")
    if Host.objects.filter(name=name).exists():
        raise ControlError(ControlErrorCode.HOST_INVALID, f"a host named {name!r} already exists")
    try:
        parse_host_database_url(database_url)
        create_database(database_url)
        alias = HOST_ALIAS_PREFIX + name if name != settings.BINDERY_HOST_NAME else "default"
        if alias != "default":
            register_alias(alias, database_url)
        check_reachable(alias)
        migrate_alias(alias)
    except HostDatabaseError as exc:
        raise ControlError(ControlErrorCode.HOST_DATABASE, str(exc)) from None
    with transaction.atomic(using=CONTROL):
        host = Host.objects.create(
            name=name, datacenter=datacenter, public_url=public_url.rstrip("/"),
            database_url_sealed=seal(database_url, purpose=_host_purpose(name)),
            capacity=capacity, dedicated=dedicated, app_version=__version__)
    logger.info("host added", extra={"event": "host.added", "host": name, "actor": str(actor)})
    return host


def ensure_local_host() -> Host:
    """Return this process's own host row, registering it (and a ``local`` datacenter) once."""
    host = Host.objects.select_related("datacenter").filter(name=settings.BINDERY_HOST_NAME).first()
    if host is not None:
        return host
    with transaction.atomic(using=CONTROL):
        dc, _ = Datacenter.objects.get_or_create(name=LOCAL_DATACENTER, defaults={"country": LOCAL_COUNTRY})
        url = settings.CONFIG.host_db.url
        host, _ = Host.objects.get_or_create(
            name=settings.BINDERY_HOST_NAME,
            defaults={"datacenter": dc, "public_url": settings.BINDERY_PUBLIC_URL,
                      "database_url_sealed": seal(url, purpose=_host_purpose(settings.BINDERY_HOST_NAME)),
                      "app_version": __version__})
    return host


def do_retire_host(host: Host, *, actor: Any) -> Host:
    """Mark an empty host retired; refuse while any tenant is placed on it."""
    with transaction.atomic(using=CONTROL):
        locked = Host.objects.select_for_update().get(pk=host.pk)
        remaining = list(Placement.objects.filter(host=locked).values_list("tenant__slug", flat=True))
        if remaining:
            raise ControlError(ControlErrorCode.HOST_NOT_EMPTY,
                               f"host {host.name!r} still serves {len(remaining)} tenants "
                               f"({', '.join(sorted(remaining)[:10])}); drain it first")
        locked.state = HostState.RETIRED
        locked.retired_at = timezone.now()
        locked.save(update_fields=["state", "retired_at"])
    logger.info("host retired", extra={"event": "host.retired", "host": host.name, "actor": str(actor)})
    return locked


def do_set_host_state(host: Host, state: HostState, *, actor: Any) -> None:
    with transaction.atomic(using=CONTROL):
        Host.objects.filter(pk=host.pk).update(state=state)
    host.state = state
    logger.info("host state", extra={"event": "host.state", "host": host.name, "state": str(state),
                                     "actor": str(actor)})


def eligible_hosts(*, allowed_countries: list[str], dedicated: bool,
                   exclude: Host | None = None) -> list[Host]:
    """Hosts that may take a new tenant: active, in an allowed country, dedicated rules kept.

    A dedicated host takes exactly one tenant (a dedicated one) and never another; a
    dedicated tenant only goes to an empty dedicated host.
    """
    hosts = Host.objects.select_related("datacenter").filter(state=HostState.ACTIVE, dedicated=dedicated)
    if allowed_countries:
        hosts = hosts.filter(datacenter__country__in=allowed_countries)
    if exclude is not None:
        hosts = hosts.exclude(pk=exclude.pk)
    if dedicated:
        hosts = hosts.filter(placements__isnull=True)
    return list(hosts.order_by("name"))


def check_host_eligible(host: Host, tenant: Tenant) -> None:
    if host.state != HostState.ACTIVE:
        raise ControlError(ControlErrorCode.HOST_NOT_ELIGIBLE, f"host {host.name!r} is {host.state}")
    if tenant.allowed_countries and host.datacenter.country not in tenant.allowed_countries:
        raise ControlError(ControlErrorCode.HOST_NOT_ELIGIBLE,
                           f"host {host.name!r} is in {host.datacenter.country}; tenant {tenant.slug!r} "
                           f"may only live in {', '.join(tenant.allowed_countries)}")
    if host.dedicated != tenant.dedicated:
        raise ControlError(ControlErrorCode.HOST_NOT_ELIGIBLE,
                           f"host {host.name!r} is {'dedicated' if host.dedicated else 'shared'}; tenant "
                           f"{tenant.slug!r} needs a {'dedicated' if tenant.dedicated else 'shared'} host")
    if host.dedicated and Placement.objects.filter(host=host).exclude(tenant=tenant).exists():
        raise ControlError(ControlErrorCode.HOST_NOT_ELIGIBLE,
                           f"host {host.name!r} is dedicated to another tenant")


def choose_host(*, allowed_countries: list[str], dedicated: bool) -> Host:
    """Return the eligible host with the lowest measured pressure: load against capacity, raised
    by queue lag (bindery.control.load)."""
    return choose_host_excluding(None, allowed_countries=allowed_countries, dedicated=dedicated)


def choose_host_excluding(excluded: Host | None, *, allowed_countries: list[str], dedicated: bool) -> Host:
    from bindery.control.load import measure_host

    candidates = eligible_hosts(allowed_countries=allowed_countries, dedicated=dedicated, exclude=excluded)
    if not candidates:
        where = f" in {', '.join(allowed_countries)}" if allowed_countries else ""
        kind = "empty dedicated" if dedicated else "active shared"
        raise ControlError(ControlErrorCode.NO_ELIGIBLE_HOST,
                           f"no {kind} host{where}; add one with 'bindery hosts add'")
    loads = [measure_host(h) for h in candidates]
    reachable = [load for load in loads if load.reachable] or loads
    return min(reachable, key=lambda load: (load.pressure, load.share, load.host.name)).host


def host_alias(host: Host) -> str:
    try:
        return alias_for_host(host)
    except HostDatabaseError as exc:
        raise ControlError(ControlErrorCode.HOST_DATABASE, str(exc)) from None
