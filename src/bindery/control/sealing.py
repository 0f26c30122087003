"""Seal small secrets of the control plane (host database URLs) with AES-256-GCM.

All key handling for these secrets lives here, so it can move onto the envelope encryption
of ``bindery.security.envelope`` (rotatable master key) without touching callers: they only
call :func:`seal` and :func:`unseal` with a purpose string.

Format: ``v1.<base64url(nonce || ciphertext+tag)>``. The key is derived with HKDF-SHA256 from
``SECRET_KEY`` (and, for unsealing, each of ``SECRET_KEY_FALLBACKS``, so rotating the secret
key keeps old values readable until they are re-sealed). The purpose is bound as associated
data: a value sealed for one host cannot be swapped onto another row.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

_VERSION = "v1"
_INFO = b"bindery.control.sealing.v1"
_NONCE = 12


class SealError(ValueError):
    """A sealed value is malformed, was sealed for another purpose, or under an unknown key."""


def _key(secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())


def _keys() -> list[bytes]:
    return [_key(settings.SECRET_KEY), *(_key(k) for k in getattr(settings, "SECRET_KEY_FALLBACKS", []))]


@sensitive_variables("plaintext")
def seal(plaintext: str, *, purpose: str) -> str:
    """Return ``plaintext`` encrypted and authenticated for ``purpose``."""
    nonce = os.urandom(_NONCE)
    body = AESGCM(_keys()[0]).encrypt(nonce, plaintext.encode(), purpose.encode())
    return f"{_VERSION}.{base64.urlsafe_b64encode(nonce + body).decode()}"


def unseal(sealed: str, *, purpose: str) -> str:
    """Return the plaintext of :func:`seal`'s output; raise :class:`SealError` when it cannot."""
    version, _, encoded = sealed.partition(".")
    if version != _VERSION or not encoded:
        raise SealError("not a sealed value")
    try:
        raw = base64.urlsafe_b64decode(encoded.encode())
    except (ValueError, TypeError):
        raise SealError("sealed value is not valid base64") from None
    if len(raw) < _NONCE + 16:
        raise SealError("sealed value is too short")
    for key in _keys():
        try:
            return AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], purpose.encode()).decode()
        except InvalidTag:
            continue
    raise SealError("sealed value does not open with the current keys for this purpose")
