"""Rotating a tenant's field-encryption keys: the data key and the blind-index key.

Data-key rotation makes a new current data key, retires the old one and re-encrypts every
encrypted field of the tenant's rows under the new key, in one host transaction (with the
tenant row locked, so two rotations do not interleave). Retired keys are kept: backups taken
before the rotation hold values under them.

Index-key rotation makes a new index key, retires the old one and recomputes every blind-index
column of the tenant's rows from the decrypted values, in the same kind of transaction. A
writer that read the old index key just before the rotation committed could still store an
index under it (a row that equality lookups would then miss), so a second pass recomputes
every index once more after the commit; see docs/decisions/0005-field-encryption.md.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import models, transaction

from bindery.control.actors import actor_label
from bindery.control.models import LocalTenant
from bindery.control.routers import HOST
from bindery.control.tenancy import TenantOwnedModel
from bindery.privacy.fields import create_key, encrypted_fields, index_fields
from bindery.privacy.models import KeyPurpose, TenantKey

logger = logging.getLogger(__name__)

BATCH = 500


@dataclass(frozen=True)
class Rotation:
    key_id: uuid.UUID
    rows: int  # rows re-encrypted
    retired_keys: int  # data keys kept for older values and backups


def encrypted_models() -> list[type[models.Model]]:
    return [m for m in apps.get_models()
            if issubclass(m, TenantOwnedModel) and not m._meta.proxy and encrypted_fields(m)]


def indexed_models() -> list[type[models.Model]]:
    return [m for m in apps.get_models()
            if issubclass(m, TenantOwnedModel) and not m._meta.proxy and index_fields(m)]


def _reencrypt(model: type[models.Model], tenant_id: uuid.UUID, key_ids: dict[str, uuid.UUID], using: str) -> int:
    names = encrypted_fields(model)
    manager = model._default_manager.db_manager(using)
    ids = list(manager.unscoped().filter(tenant_id=tenant_id).order_by("pk")  # type: ignore[attr-defined]
               .values_list("pk", flat=True))
    for start in range(0, len(ids), BATCH):
        for row in manager.unscoped().filter(pk__in=ids[start:start + BATCH]):  # type: ignore[attr-defined]
            for name in names:
                value = getattr(row, name)
                if value:
                    setattr(row, name, str(value))  # a plain str: encrypted afresh, not written back as stored
            row.__dict__["_field_keys"] = {using: dict(key_ids)}
            row.save(using=using, update_fields=names)  # modified_at stays: nothing changed for connectors
    return len(ids)


def rotate_tenant_key(tenant: LocalTenant, *, actor: Any, using: str = HOST) -> Rotation:
    """Make a new data key for the tenant and re-encrypt its rows under it."""
    with transaction.atomic(using=using):
        LocalTenant.objects.using(using).select_for_update().filter(pk=tenant.pk).first()
        index = TenantKey.objects.db_manager(using).for_tenant(tenant.pk).filter(
            purpose=KeyPurpose.INDEX, retired_at=None).first()
        index_id = index.pk if index is not None else create_key(using, tenant.pk, KeyPurpose.INDEX).id
        key = create_key(using, tenant.pk, KeyPurpose.DATA, retire_current=True)
        rows = sum(_reencrypt(m, tenant.pk, {KeyPurpose.DATA: key.id, KeyPurpose.INDEX: index_id}, using)
                   for m in encrypted_models())
        retired = TenantKey.objects.db_manager(using).for_tenant(tenant.pk).filter(
            purpose=KeyPurpose.DATA).exclude(retired_at=None).count()
    logger.info("tenant data key rotated", extra={"event": "privacy.key_rotated", "tenant_id": str(tenant.pk),
                                                  "key_id": str(key.id), "rows": rows, "actor": actor_label(actor)})
    return Rotation(key.id, rows, retired)


def _reindex(model: type[models.Model], tenant_id: uuid.UUID, key_ids: dict[str, uuid.UUID], using: str) -> int:
    """Recompute the model's blind-index columns for the tenant's rows under ``key_ids``; return the rows."""
    names = list(index_fields(model).values())
    manager = model._default_manager.db_manager(using)
    ids = list(manager.unscoped().filter(tenant_id=tenant_id).order_by("pk")  # type: ignore[attr-defined]
               .values_list("pk", flat=True))
    for start in range(0, len(ids), BATCH):
        for row in manager.unscoped().filter(pk__in=ids[start:start + BATCH]):  # type: ignore[attr-defined]
            row.__dict__["_field_keys"] = {using: dict(key_ids)}
            row.save(using=using, update_fields=names)  # BlindIndexField.pre_save recomputes from the source
    return len(ids)


def _current_ids(tenant_id: uuid.UUID, using: str) -> dict[str, uuid.UUID]:
    rows = TenantKey.objects.db_manager(using).for_tenant(tenant_id).filter(retired_at=None)
    return {row.purpose: row.pk for row in rows}


def rotate_index_key(tenant: LocalTenant, *, actor: Any, using: str = HOST) -> Rotation:
    """Make a new blind-index key for the tenant and recompute every index column under it."""
    with transaction.atomic(using=using):
        LocalTenant.objects.using(using).select_for_update().filter(pk=tenant.pk).first()
        data_id = _current_ids(tenant.pk, using).get(KeyPurpose.DATA) or create_key(
            using, tenant.pk, KeyPurpose.DATA).id
        key = create_key(using, tenant.pk, KeyPurpose.INDEX, retire_current=True)
        key_ids: dict[str, uuid.UUID] = {KeyPurpose.DATA: data_id, KeyPurpose.INDEX: key.id}
        rows = sum(_reindex(m, tenant.pk, key_ids, using) for m in indexed_models())
        retired = TenantKey.objects.db_manager(using).for_tenant(tenant.pk).filter(
            purpose=KeyPurpose.INDEX).exclude(retired_at=None).count()
    # The catch-up pass: rows a concurrent writer indexed under the old key before the commit.
    with transaction.atomic(using=using):
        LocalTenant.objects.using(using).select_for_update().filter(pk=tenant.pk).first()
        key_ids = _current_ids(tenant.pk, using)
        if key_ids.get(KeyPurpose.INDEX) == key.id:  # not rotated again meanwhile
            for model in indexed_models():
                _reindex(model, tenant.pk, key_ids, using)
    logger.info("tenant index key rotated", extra={"event": "privacy.index_key_rotated", "tenant_id": str(tenant.pk),
                                                   "key_id": str(key.id), "rows": rows, "actor": actor_label(actor)})
    return Rotation(key.id, rows, retired)
