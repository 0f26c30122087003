"""Field encryption at rest for personal data, and a keyed blind index for e-mail equality.

Key hierarchy (see docs/decisions/0005-field-encryption.md)::

    master key (BINDERY_MASTER_KEY or <VAR_DIR>/master_key, never in a database)
      └─ wraps each tenant's keys (privacy.TenantKey, host database, envelope-sealed)
           ├─ data keys: AES-256-GCM, one current, retired ones kept for old values and backups
           └─ index key: HMAC-SHA256 over the normalized e-mail (the blind index)

A value is stored as text: ``E1:`` + base64url(tenant key id (16) | nonce (12) | ciphertext+tag).
The key id makes each value self-describing, so reading needs no tenant context: the key is
looked up by id in the database the row came from (``connection.alias``), unwrapped once per
process and cached. The associated data is the model label and field name, so a value copied
into another column does not decrypt. Empty values stay empty (they hold nothing personal,
and erasure blanks fields by SQL UPDATE).

Writes go through :meth:`EncryptedMixin.pre_save` (which knows the row's tenant) and are
encrypted in ``get_db_prep_value`` (which knows the database), so ``save``, ``create`` and
``bulk_create`` encrypt. A value read from the database is an :class:`Opened` string that
remembers its ciphertext, so unchanged values are written back as they were (tenant moves,
``update_fields``) without re-encryption. A clear value reaching SQL any other way (a filter,
``update()``, ``bulk_update``) raises :class:`EncryptedLookupError` rather than storing or
comparing clear text: equality goes through the blind index (:func:`blind_index`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from bindery.control.routers import HOST
from bindery.control.tenancy import new_id
from bindery.security import envelope

PREFIX = "E1:"
KEY_BYTES = 32
NONCE_BYTES = 12
NO_MATCH = "-"  # a blind-index value no row holds (the tenant has no index key yet)


class FieldCryptoError(RuntimeError):
    """A stored value cannot be decrypted: its key is missing, or the value was tampered with."""


class EncryptedLookupError(ValueError):
    """A clear value was about to be compared with, or written to, an encrypted column in SQL."""


@dataclass(frozen=True)
class _Key:
    id: uuid.UUID
    tenant_id: uuid.UUID
    purpose: str
    material: bytes

    def __repr__(self) -> str:  # never show the key itself
        return f"_Key(id={self.id}, purpose={self.purpose})"


_lock = threading.Lock()
_keys: dict[uuid.UUID, _Key] = {}  # key id -> unwrapped key; ids are never reused (UUIDv7)


def _key_aad(key_id: uuid.UUID, tenant_id: uuid.UUID, purpose: str) -> bytes:
    # Binds a sealed key to its row: a key copied to another tenant's row does not unwrap.
    return b"bindery.tenantkey|" + tenant_id.bytes + key_id.bytes + purpose.encode()


def _tenant_key_model() -> Any:
    from bindery.privacy.models import TenantKey

    return TenantKey


def _unwrap(row: Any) -> _Key:
    key = _keys.get(row.pk)
    if key is not None:
        return key
    try:
        material = envelope.open_sealed(bytes(row.sealed), envelope.keyring(),
                                        aad=_key_aad(row.pk, row.tenant_id, row.purpose))
    except envelope.EnvelopeError as exc:
        raise FieldCryptoError(f"tenant key {row.pk} cannot be unwrapped: {exc}") from None
    key = _Key(row.pk, row.tenant_id, row.purpose, material)
    with _lock:
        _keys[key.id] = key
    return key


def key_by_id(alias: str, key_id: uuid.UUID) -> _Key:
    key = _keys.get(key_id)
    if key is not None:
        return key
    row = _tenant_key_model().objects.db_manager(alias).unscoped().filter(pk=key_id).first()
    if row is None:
        raise FieldCryptoError(f"tenant key {key_id} is not in database {alias!r} (a value copied without its key?)")
    return _unwrap(row)


def current_keys(alias: str, tenant_id: uuid.UUID, *, create: bool = True) -> dict[str, _Key]:
    """Return the tenant's current data and index keys on ``alias``, making missing ones if asked."""
    from bindery.privacy.models import KeyPurpose

    rows = _tenant_key_model().objects.db_manager(alias).unscoped().filter(tenant_id=tenant_id, retired_at=None)
    found = {row.purpose: _unwrap(row) for row in rows}
    if create:
        for purpose in KeyPurpose.values:
            if purpose not in found:
                found[purpose] = create_key(alias, tenant_id, purpose)
    return found


def create_key(alias: str, tenant_id: uuid.UUID, purpose: str, *, retire_current: bool = False) -> _Key:
    """Make a new current key of ``purpose`` for the tenant (retiring the current one if asked)."""
    model = _tenant_key_model()
    keyring = envelope.keyring()
    key = _Key(new_id(), tenant_id, purpose, os.urandom(KEY_BYTES))
    sealed = envelope.seal(key.material, keyring, aad=_key_aad(key.id, tenant_id, purpose))
    try:
        with transaction.atomic(using=alias):
            current = model.objects.db_manager(alias).unscoped().filter(tenant_id=tenant_id, purpose=purpose,
                                                                         retired_at=None)
            if retire_current:
                current.update(retired_at=timezone.now())
            model.objects.db_manager(alias).create(id=key.id, tenant_id=tenant_id, purpose=purpose, sealed=sealed,
                                                   master_key_id=keyring.current.key_id_hex)
    except IntegrityError:
        if retire_current:
            raise
        # Another writer made the tenant's first key at the same moment: use theirs.
        return _unwrap(model.objects.db_manager(alias).unscoped().get(tenant_id=tenant_id, purpose=purpose,
                                                                      retired_at=None))
    with _lock:
        _keys[key.id] = key
    return key


def rewrap_tenant_keys(keyring: envelope.Keyring, *, using: str = HOST) -> int:
    """Re-wrap every tenant key not wrapped by the current master key; return how many."""
    model = _tenant_key_model()
    current = keyring.current.key_id_hex
    count = 0
    for key_id in list(model.objects.db_manager(using).unscoped().exclude(master_key_id=current)
                       .values_list("pk", flat=True)):
        with transaction.atomic(using=using):
            row = model.objects.db_manager(using).unscoped().select_for_update().get(pk=key_id)
            row.sealed = envelope.rewrap(bytes(row.sealed), keyring)
            row.master_key_id = current
            row.save(update_fields=["sealed", "master_key_id"])
            count += 1
    return count


def forget_keys() -> None:
    """Drop the process's unwrapped keys (tests, and after a tenant purge)."""
    with _lock:
        _keys.clear()


# --- values -----------------------------------------------------------------------------------


class Opened(str):
    """A decrypted value; remembers its stored ciphertext so it can be written back unchanged."""

    sealed: str
    tenant_id: uuid.UUID
    aad: bytes

    def __new__(cls, text: str, sealed: str, tenant_id: uuid.UUID, aad: bytes) -> Opened:
        obj = super().__new__(cls, text)
        obj.sealed, obj.tenant_id, obj.aad = sealed, tenant_id, aad
        return obj

    def __reduce__(self) -> Any:  # pickles (caches, task arguments) as a plain string
        return (str, (str(self),))


class _Pending(str):
    """A clear value on its way to the database: encrypted once the database is known."""

    tenant_id: uuid.UUID
    aad: bytes
    memo: dict[str, dict[str, uuid.UUID]]

    def __new__(cls, text: str, tenant_id: uuid.UUID, aad: bytes, memo: dict[str, dict[str, uuid.UUID]]) -> _Pending:
        obj = super().__new__(cls, text)
        obj.tenant_id, obj.aad, obj.memo = tenant_id, aad, memo
        return obj

    def __reduce__(self) -> Any:
        return (str, (str(self),))


def _memo(instance: models.Model) -> dict[str, dict[str, uuid.UUID]]:
    # One key lookup per saved row, not per field: the row's fields share its tenant's keys.
    memo: dict[str, dict[str, uuid.UUID]] = instance.__dict__.setdefault("_field_keys", {})
    return memo


def _keys_for(pending: _Pending, alias: str) -> dict[str, _Key]:
    ids = pending.memo.get(alias)
    if ids is not None:
        return {purpose: key_by_id(alias, key_id) for purpose, key_id in ids.items()}
    keys = current_keys(alias, pending.tenant_id)
    pending.memo[alias] = {purpose: key.id for purpose, key in keys.items()}
    return keys


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise EncryptedLookupError("the value is not valid text (a lone surrogate character)") from None


def encrypt_text(text: str, key: _Key, aad: bytes) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key.material).encrypt(nonce, _utf8(text), aad)
    return PREFIX + base64.urlsafe_b64encode(key.id.bytes + nonce + sealed).decode("ascii").rstrip("=")


def decrypt_text(stored: str, alias: str, aad: bytes) -> Opened:
    body = stored[len(PREFIX):]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise FieldCryptoError("an encrypted value is damaged (not base64)") from None
    if len(raw) < 16 + NONCE_BYTES + 16:
        raise FieldCryptoError("an encrypted value is damaged (too short)")
    key = key_by_id(alias, uuid.UUID(bytes=raw[:16]))
    try:
        plain = AESGCM(key.material).decrypt(raw[16:16 + NONCE_BYTES], raw[16 + NONCE_BYTES:], aad)
    except InvalidTag:
        raise FieldCryptoError("an encrypted value does not verify (tampered, or copied from another column)") from None
    return Opened(plain.decode("utf-8"), stored, key.tenant_id, aad)


def normalize_email(value: str) -> str:
    return value.strip().lower()


def index_value(key: _Key, value: str) -> str:
    normalized = normalize_email(value)
    if not normalized:
        return ""
    return hmac.new(key.material, _utf8(normalized), hashlib.sha256).hexdigest()


def blind_index(tenant: Any, value: str, *, using: str = HOST) -> str:
    """Return the blind-index value to filter ``<field>_index`` on for this e-mail ("" for none)."""
    if not normalize_email(value or ""):
        return ""
    tenant_id = tenant if isinstance(tenant, uuid.UUID) else tenant.pk
    keys = current_keys(using, tenant_id, create=False)
    from bindery.privacy.models import KeyPurpose

    key = keys.get(KeyPurpose.INDEX)
    return NO_MATCH if key is None else index_value(key, value)


# --- fields -----------------------------------------------------------------------------------


class EncryptedMixin:
    """Encrypt the field's value with the row tenant's current data key (see the module docstring)."""

    name: str
    attname: str
    model: type[models.Model]

    def get_internal_type(self) -> str:
        return "TextField"  # ciphertext is longer than max_length, which still limits the clear value

    def aad(self) -> bytes:
        return f"{self.model._meta.label}.{self.name}".encode()

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if not value or not value.startswith(PREFIX):
            return value  # empty, or clear text written before encryption (the data migration)
        return decrypt_text(value, connection.alias, self.aad())

    def pre_save(self, instance: models.Model, add: bool) -> Any:
        value = getattr(instance, self.attname)
        if not value:
            return value
        aad = self.aad()
        tenant_id = instance.tenant_id  # type: ignore[attr-defined]
        if isinstance(value, Opened) and value.tenant_id == tenant_id and value.aad == aad:
            return value  # unchanged since it was read: written back as stored
        return _Pending(value, tenant_id, aad, _memo(instance))

    def get_prep_value(self, value: Any) -> Any:
        if value is None or value == "" or isinstance(value, Opened | _Pending):
            return value
        if hasattr(value, "resolve_expression"):
            return value
        raise EncryptedLookupError(
            f"{self.model._meta.label}.{self.name} is encrypted: SQL cannot compare it with, or set it to, "
            "a clear value; use its blind index (e-mail) or filter the decrypted rows")

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        if isinstance(value, Opened):
            return value.sealed
        if isinstance(value, _Pending):
            from bindery.privacy.models import KeyPurpose

            return encrypt_text(str(value), _keys_for(value, connection.alias)[KeyPurpose.DATA], value.aad)
        return value


class EncryptedCharField(EncryptedMixin, models.CharField):
    pass


class EncryptedEmailField(EncryptedMixin, models.EmailField):
    pass


class EncryptedTextField(EncryptedMixin, models.TextField):
    pass


class BlindIndexField(models.CharField):
    """HMAC-SHA256 (tenant index key) of another field's normalized e-mail, for equality lookups."""

    def __init__(self, *args: Any, source: str = "", **kwargs: Any) -> None:
        self.source = source
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        for option in ("max_length", "blank", "default", "editable"):
            kwargs.pop(option, None)
        return name, path, args, kwargs

    def pre_save(self, instance: models.Model, add: bool) -> Any:
        value = getattr(instance, self.source) or ""
        if not normalize_email(value):
            return ""
        return _Pending(value, instance.tenant_id, b"", _memo(instance))  # type: ignore[attr-defined]

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if isinstance(value, _Pending):
            from bindery.privacy.models import KeyPurpose

            return index_value(_keys_for(value, connection.alias)[KeyPurpose.INDEX], str(value))
        return super().get_db_prep_value(value, connection, prepared)


def encrypted_fields(model: type[models.Model]) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedMixin)]


def index_fields(model: type[models.Model]) -> dict[str, str]:
    """Map source field -> blind-index field of the model."""
    return {f.source: f.name for f in model._meta.concrete_fields if isinstance(f, BlindIndexField)}
