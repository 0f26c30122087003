"""A tenant purge deletes every row of the tenant on the host, leaves other tenants whole, certifies it."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connections

from bindery.accounts.actions import do_create_user
from bindery.accounts.models import Role
from bindery.catalog.actions import do_upsert_product
from bindery.catalog.payloads import ProductData
from bindery.control.models import LocalTenant, Tenant
from bindery.control.routers import HOST
from bindery.privacy.models import ErasureRecord, TenantPurge
from bindery.privacy.purge import PurgeError, _tenant_tables, certificate_text, do_purge_tenant
from bindery.privacy.subjects import Subject, erase_subject
from bindery.security.actions import do_create_api_token
from tests.conftest import PASSWORD
from tests.privacy.people import EMAIL, make_people
from tests.privacy.test_privacy_cli import bindery

pytestmark = pytest.mark.django_db(databases="__all__", transaction=False)


def rows_of(tenant_id: object) -> dict[str, int]:
    connection = connections[HOST]
    value = tenant_id.hex if connection.vendor == "sqlite" else tenant_id  # type: ignore[attr-defined]
    counts = {}
    with connection.cursor() as cursor:
        for table in _tenant_tables():
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)} WHERE tenant_id = %s",  # noqa: S608
                           [value])
            counts[table] = cursor.fetchone()[0]
    return {t: n for t, n in counts.items() if n}


def populate(tenant: LocalTenant) -> None:
    make_people(tenant)
    do_create_user(tenant, f"owner@{tenant.slug}.example", PASSWORD, role=Role.OWNER, actor="test")
    do_upsert_product(tenant, ProductData(sku="SKU-1", name="Shirt"), actor="test")
    do_create_api_token(tenant, "erp", ["sales:read"], actor="test")


def test_purge_deletes_everything_of_the_tenant_and_nothing_else(tenant: LocalTenant,
                                                                 other_tenant: LocalTenant) -> None:
    populate(tenant)
    populate(other_tenant)
    erase_subject(tenant, Subject.parse(EMAIL), actor="test", reason="request")
    before_other = rows_of(other_tenant.pk)
    before = rows_of(tenant.pk)
    assert len(before) >= 8
    purge = do_purge_tenant("acme", confirm="acme", actor="operator:1", reason="contract ended, art. 28(3)(g)")
    assert rows_of(tenant.pk) == {}
    assert rows_of(other_tenant.pk) == before_other
    assert purge.rows_deleted == before
    assert not LocalTenant.objects.filter(slug="acme").exists()
    assert not Tenant.objects.filter(slug="acme").exists()
    assert Tenant.objects.filter(slug="globex").exists()
    assert not ErasureRecord.objects.filter(tenant_id=tenant.pk).exists()
    stored = TenantPurge.objects.get(tenant_slug="acme")
    assert stored.digest == hashlib.sha256(certificate_text(stored).encode()).hexdigest()
    assert "Requested by: operator:1" in certificate_text(stored)
    # The backup catalog's index keeps the tenant out of every restore (tests/backups/test_tenant_restore.py).
    from bindery.backups.models import PurgedTenant

    indexed = PurgedTenant.objects.get(tenant_id=tenant.pk)
    assert (indexed.slug, indexed.certificate_sha256) == ("acme", stored.digest)
    assert "restoring it from any backup" in certificate_text(stored)
    assert not PurgedTenant.objects.filter(tenant_id=other_tenant.pk).exists()


@pytest.mark.parametrize(("slug", "confirm", "reason", "message"), [
    ("acme", "acm", "r", "type the tenant's slug again"),
    ("acme", "acme", " ", "say why"),
    ("nope", "nope", "r", "no tenant 'nope'"),
])
def test_purge_refuses_without_confirmation(tenant: LocalTenant, slug: str, confirm: str, reason: str,
                                            message: str) -> None:
    populate(tenant)
    before = rows_of(tenant.pk)
    with pytest.raises(PurgeError, match=message):
        do_purge_tenant(slug, confirm=confirm, actor="test", reason=reason)
    assert rows_of(tenant.pk) == before
    assert TenantPurge.objects.count() == 0


def test_purge_from_the_cli_prints_the_certificate(tenant: LocalTenant, capsys: pytest.CaptureFixture[str]) -> None:
    populate(tenant)
    assert bindery("privacy", "purge-tenant", "acme", "--confirm", "acme", "--reason", "closed account") == 0
    out = capsys.readouterr().out
    assert "CERTIFICATE OF DELETION" in out
    assert "SHA-256: " + TenantPurge.objects.get().digest in out
