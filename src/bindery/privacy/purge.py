"""Tenant purge on request: every row of the tenant deleted from this host, with a certificate.

All tenant-owned tables are emptied of the tenant in one transaction on the host database.
Foreign keys between tenant tables are checked at commit (Django declares them deferrable), so
the deletion order does not matter; ``PROTECT`` is the ORM's rule and is bypassed on purpose
here, where everything goes. Then the control plane forgets the tenant and keeps the
certificate (:class:`TenantPurge`) and the backup catalog's index records the tenant
(:class:`~bindery.backups.models.PurgedTenant`), so no backup restores it. The erasure
journal's entries for the tenant go too: there is nobody left to erase again.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.apps import apps
from django.db import connections, transaction
from django.utils import timezone

from bindery.control.actors import actor_label
from bindery.control.models import LocalTenant, Tenant
from bindery.control.routers import CONTROL, HOST
from bindery.control.tenancy import TenantOwnedModel
from bindery.privacy.models import ErasureRecord, TenantPurge


class PurgeError(ValueError):
    """A purge that must not run; the message says why."""


def certificate_text(purge: TenantPurge) -> str:
    """The human-readable certificate; its SHA-256 is stored as ``digest``."""
    lines = [
        "CERTIFICATE OF DELETION",
        f"Tenant: {purge.tenant_slug} ({purge.tenant_id})",
        f"Deleted at: {purge.purged_at:%Y-%m-%d %H:%M:%S} UTC",
        f"Requested by: {purge.requested_by}",
        f"Reason: {purge.reason}",
        "Rows deleted per table:",
        *[f"  {table}: {count}" for table, count in sorted(purge.rows_deleted.items())],
        f"Total rows: {sum(purge.rows_deleted.values())}",
        "Backups: the tenant is recorded in the backup catalog's index; restoring it from any backup",
        "  is refused and a whole-host restore deletes its rows. Stored backups are encrypted and",
        "  append-only; those taken before this date expire by the backup retention policy.",
    ]
    return "\n".join(lines) + "\n"


def _tenant_tables() -> list[str]:
    return sorted({m._meta.db_table for m in apps.get_models()
                   if issubclass(m, TenantOwnedModel) and m._meta.managed and not m._meta.proxy})


def do_purge_tenant(slug: str, *, confirm: str, actor: Any, reason: str) -> TenantPurge:
    """Delete every row of the tenant on this host and the tenant itself; return the certificate."""
    if confirm != slug:
        raise PurgeError("type the tenant's slug again to confirm")
    reason = reason.strip()
    if not reason:
        raise PurgeError("say why (the reason goes on the certificate)")
    local = LocalTenant.objects.filter(slug=slug).first()
    if local is None:
        raise PurgeError(f"no tenant '{slug}' on this host")
    tenant_id = local.pk  # Model.delete() clears pk
    connection = connections[HOST]
    counts: dict[str, int] = {}
    with transaction.atomic(using=HOST), connection.cursor() as cursor:
        for table in _tenant_tables():
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)} WHERE tenant_id = %s",  # noqa: S608
                           [tenant_id.hex if connection.vendor == "sqlite" else tenant_id])
            if cursor.rowcount:
                counts[table] = cursor.rowcount
        local.delete()
    from bindery.privacy.fields import forget_keys

    forget_keys()  # the tenant's unwrapped keys leave this process's memory too
    purge = TenantPurge(tenant_id=tenant_id, tenant_slug=slug, requested_by=actor_label(actor), reason=reason[:500],
                        purged_at=timezone.now(), rows_deleted=counts)
    purge.digest = hashlib.sha256(certificate_text(purge).encode()).hexdigest()
    from bindery.backups.models import PurgedTenant

    with transaction.atomic(using=CONTROL):
        purge.save()
        # The backup catalog's index: no backup may bring this tenant back.
        PurgedTenant.objects.update_or_create(tenant_id=tenant_id, defaults={
            "slug": slug, "purged_at": purge.purged_at, "certificate_sha256": purge.digest})
        ErasureRecord.objects.filter(tenant_id=tenant_id).delete()
        Tenant.objects.filter(pk=tenant_id).delete()
    return purge


def certificate_json(purge: TenantPurge) -> str:
    return json.dumps({"tenant": purge.tenant_slug, "tenant_id": str(purge.tenant_id),
                       "purged_at": purge.purged_at.isoformat(), "requested_by": purge.requested_by,
                       "reason": purge.reason, "rows_deleted": purge.rows_deleted, "sha256": purge.digest}, indent=2)
