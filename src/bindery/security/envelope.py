"""Envelope encryption for secrets Bindery keeps (node credentials): AES-256-GCM.

Each record is encrypted with its own random 256-bit *data key*; the data key is stored
beside the ciphertext, wrapped (AES-256-GCM too) by a *master key* that never touches the
database. Rotating the master key therefore re-wraps small data keys and never re-encrypts
the records themselves (:func:`rewrap`).

Master keys come from ``BINDERY_MASTER_KEY`` (or ``BINDERY_MASTER_KEY_FILE``): a comma-
separated list of base64url-encoded 32-byte keys, the first one current, the others fallbacks
still accepted for unwrapping. Without it the embedded default keeps its keys in
``<VAR_DIR>/master_key`` (one key a line, current first), created with mode 0600 on first use.

The sealed form is binary, versioned and self-describing::

    version(1) | key id(8) | wrap nonce(12) | wrapped data key(48) | data nonce(12) | ciphertext+tag

The key id is the first 8 bytes of SHA-256 over the master key, so a record names the key it
needs without revealing it. The record's own associated data (e.g. its row id) is bound into
the data encryption, so a ciphertext copied onto another row does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = 1
KEY_BYTES = 32
KEY_ID_BYTES = 8
NONCE_BYTES = 12
WRAPPED_BYTES = KEY_BYTES + 16
HEADER_BYTES = 1 + KEY_ID_BYTES + NONCE_BYTES + WRAPPED_BYTES + NONCE_BYTES
KEY_FILE_NAME = "master_key"


class EnvelopeError(Exception):
    """A sealed value cannot be opened (unknown key, tampered or damaged) or a key is malformed."""


@dataclass(frozen=True)
class MasterKey:
    key: bytes = b""

    @property
    def key_id(self) -> bytes:
        return hashlib.sha256(self.key).digest()[:KEY_ID_BYTES]

    @property
    def key_id_hex(self) -> str:
        return self.key_id.hex()

    def __repr__(self) -> str:  # never show the key itself
        return f"MasterKey(id={self.key_id_hex})"


def parse_key(text: str) -> MasterKey:
    """Decode one base64url master key; raise EnvelopeError unless it is exactly 32 bytes."""
    raw = text.strip()
    try:
        key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise EnvelopeError("a master key must be base64url text") from None
    if len(key) != KEY_BYTES:
        raise EnvelopeError(f"a master key must decode to {KEY_BYTES} bytes, got {len(key)}")
    return MasterKey(key)


def new_key_text() -> str:
    """Return a fresh random master key as base64url text."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii").rstrip("=")


class Keyring:
    """The current master key plus fallbacks, looked up by key id."""

    def __init__(self, keys: Iterable[MasterKey]) -> None:
        self.keys = list(keys)
        if not self.keys:
            raise EnvelopeError("no master key configured")
        self.current = self.keys[0]
        self._by_id = {k.key_id: k for k in self.keys}

    @classmethod
    def from_text(cls, text: str) -> Keyring:
        parts = [p for p in text.replace("\n", ",").split(",") if p.strip()]
        return cls(parse_key(p) for p in parts)

    def find(self, key_id: bytes) -> MasterKey:
        try:
            return self._by_id[key_id]
        except KeyError:
            raise EnvelopeError(f"sealed with master key {key_id.hex()}, which is not configured") from None

    def __repr__(self) -> str:
        return f"Keyring(current={self.current.key_id_hex}, keys={len(self.keys)})"


def seal(plaintext: bytes, keyring: Keyring, *, aad: bytes) -> bytes:
    """Encrypt ``plaintext`` under a fresh data key wrapped by the current master key."""
    master = keyring.current
    data_key = AESGCM.generate_key(bit_length=256)
    header = bytes([VERSION]) + master.key_id
    wrap_nonce = os.urandom(NONCE_BYTES)
    wrapped = AESGCM(master.key).encrypt(wrap_nonce, data_key, header)
    data_nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(data_nonce, plaintext, aad)
    return header + wrap_nonce + wrapped + data_nonce + ciphertext


def _split(sealed: bytes) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    if len(sealed) < HEADER_BYTES + 16 or sealed[0] != VERSION:
        raise EnvelopeError("not a sealed value of a known version")
    key_id = sealed[1:1 + KEY_ID_BYTES]
    at = 1 + KEY_ID_BYTES
    wrap_nonce = sealed[at:at + NONCE_BYTES]
    at += NONCE_BYTES
    wrapped = sealed[at:at + WRAPPED_BYTES]
    at += WRAPPED_BYTES
    data_nonce = sealed[at:at + NONCE_BYTES]
    at += NONCE_BYTES
    return key_id, wrap_nonce, wrapped, data_nonce, sealed[at:]


def _unwrap(key_id: bytes, wrap_nonce: bytes, wrapped: bytes, keyring: Keyring) -> bytes:
    master = keyring.find(key_id)
    try:
        return AESGCM(master.key).decrypt(wrap_nonce, wrapped, bytes([VERSION]) + key_id)
    except InvalidTag:
        raise EnvelopeError("the wrapped data key does not verify (tampered or wrong key)") from None


def open_sealed(sealed: bytes, keyring: Keyring, *, aad: bytes) -> bytes:
    """Decrypt a value made by :func:`seal`; raise EnvelopeError if it was tampered with."""
    key_id, wrap_nonce, wrapped, data_nonce, ciphertext = _split(bytes(sealed))
    data_key = _unwrap(key_id, wrap_nonce, wrapped, keyring)
    try:
        return AESGCM(data_key).decrypt(data_nonce, ciphertext, aad)
    except InvalidTag:
        raise EnvelopeError("the sealed value does not verify (tampered, or copied from another record)") from None


def sealed_key_id(sealed: bytes) -> str:
    """Return the hex id of the master key a value is wrapped with."""
    return _split(bytes(sealed))[0].hex()


def rewrap(sealed: bytes, keyring: Keyring) -> bytes:
    """Re-wrap the value's data key under the current master key; the ciphertext is unchanged."""
    key_id, wrap_nonce, wrapped, data_nonce, ciphertext = _split(bytes(sealed))
    if key_id == keyring.current.key_id:
        return bytes(sealed)
    data_key = _unwrap(key_id, wrap_nonce, wrapped, keyring)
    header = bytes([VERSION]) + keyring.current.key_id
    new_nonce = os.urandom(NONCE_BYTES)
    new_wrapped = AESGCM(keyring.current.key).encrypt(new_nonce, data_key, header)
    return header + new_nonce + new_wrapped + data_nonce + ciphertext


# --- the process's keyring --------------------------------------------------------------------

_lock = threading.Lock()
_cached: Keyring | None = None


def key_file_path() -> Path:
    from django.conf import settings

    return Path(settings.BINDERY_VAR_DIR) / KEY_FILE_NAME


def _read_or_create_key_file(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first; read theirs
        else:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(new_key_text() + "\n")
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvelopeError(f"cannot read the master key file {path}: {exc}") from None


def keyring() -> Keyring:
    """Return the configured keyring (BINDERY_MASTER_KEY, else the generated key file)."""
    global _cached
    with _lock:
        if _cached is None:
            from django.conf import settings

            configured: str | None = getattr(settings, "BINDERY_MASTER_KEY", None)
            text = configured if configured else _read_or_create_key_file(key_file_path())
            _cached = Keyring.from_text(text)
        return _cached


def reset_keyring() -> None:
    """Forget the cached keyring (after the key file changed, and in tests)."""
    global _cached
    with _lock:
        _cached = None


def add_key_to_file(path: Path | None = None) -> MasterKey:
    """Put a new current key at the top of the key file, keeping the old ones as fallbacks."""
    path = path or key_file_path()
    old = _read_or_create_key_file(path)
    fresh = new_key_text()
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(fresh + "\n" + old.strip() + "\n")
    os.replace(tmp, path)
    reset_keyring()
    return parse_key(fresh)
