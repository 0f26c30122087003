"""The base of the catalog's high-volume rows (products, prices, stock, links, change logs)."""

from __future__ import annotations

from django.db import models

from bindery.control.tenancy import TenantOwnedModel


def bulk_tenant_link(*, db_index: bool = True) -> models.ForeignKey:
    """The tenant link of a high-volume row: no constraint; no own index where a composite index leads with it."""
    return models.ForeignKey("control.LocalTenant", on_delete=models.PROTECT, related_name="+", editable=False,
                             db_constraint=False, db_index=db_index)


class BulkTenantRow(TenantOwnedModel):
    """A tenant-owned row whose tenant link has no database foreign-key constraint.

    A bulk upsert writes about 14 such rows per product; PostgreSQL checked every tenant
    foreign key at commit with a ``FOR KEY SHARE`` lock on the same tenant row, which was the
    largest single part of the commit. The tenant is still enforced where it matters: the
    tenant-scoped manager and row-level security (``WITH CHECK``) refuse a row of another
    tenant, and Django's delete collector still applies ``PROTECT``. See
    docs/decisions/0003-catalog-bulk-writes.md.
    """

    tenant = bulk_tenant_link()

    class Meta(TenantOwnedModel.Meta):
        abstract = True
