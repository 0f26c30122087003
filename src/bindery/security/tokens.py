"""The API token format: generate, parse and hash tokens, without touching the database.

A token looks like ``bnd_k3v9x0c2m7qa_6hV0...Zt9_1a2B3c``::

    bnd_ <lookup: 12 x [a-z0-9]> _ <secret: 22-172 x [A-Za-z0-9]> _ <checksum: 6 x [A-Za-z0-9]>

- ``bnd_`` makes leaked tokens recognizable; secret scanners can use :data:`SCANNER_REGEX`
  ``\\bbnd_[a-z0-9]{12}_[A-Za-z0-9]{22,172}_[A-Za-z0-9]{6}\\b``.
- The lookup id is public: it finds the row and is what the console and CLI show.
- The secret is base62 (URL-safe, and one double-click selects the whole token); its length
  follows ``settings.BINDERY_API_TOKEN_SECRET_BYTES`` (default 32 bytes of entropy = 43 chars).
- The checksum is CRC32 of everything before it, in base62. A single mistyped character
  always changes a CRC32, so typos and truncations are rejected before any database query.

Only a keyed hash of the whole token is stored: HMAC-SHA256 (``salted_hmac`` with the salt
:data:`HASH_SALT`, keyed by ``SECRET_KEY``), bound to the tenant id, so a hash copied to
another tenant's row matches nothing. ``SECRET_KEY_FALLBACKS`` are tried too, so the secret key
can be rotated without invalidating tokens.
"""

from __future__ import annotations

import math
import re
import secrets
import string
import zlib
from dataclasses import dataclass

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac
from django.views.decorators.debug import sensitive_variables

PREFIX = "bnd_"
HASH_SALT = "bindery.security.api_token"
LOOKUP_LENGTH = 12
CHECKSUM_LENGTH = 6
MIN_SECRET_BYTES = 16
MAX_SECRET_BYTES = 128
DEFAULT_SECRET_BYTES = 32

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_LOOKUP_ALPHABET = string.digits + string.ascii_lowercase


def secret_length(secret_bytes: int) -> int:
    """Return how many base62 characters carry ``secret_bytes`` bytes of entropy."""
    return math.ceil(secret_bytes * 8 / math.log2(62))


MIN_SECRET_CHARS = secret_length(MIN_SECRET_BYTES)  # 22
MAX_SECRET_CHARS = secret_length(MAX_SECRET_BYTES)  # 172
MAX_TOKEN_LENGTH = len(PREFIX) + LOOKUP_LENGTH + 1 + MAX_SECRET_CHARS + 1 + CHECKSUM_LENGTH

SCANNER_REGEX = (
    rf"\b{PREFIX}[a-z0-9]{{{LOOKUP_LENGTH}}}_[A-Za-z0-9]{{{MIN_SECRET_CHARS},{MAX_SECRET_CHARS}}}"
    rf"_[A-Za-z0-9]{{{CHECKSUM_LENGTH}}}\b"
)
# ASCII-only character classes and \Z: NUL bytes, newlines and non-ASCII never match.
_TOKEN = re.compile(
    rf"{PREFIX}(?P<lookup>[a-z0-9]{{{LOOKUP_LENGTH}}})_[A-Za-z0-9]{{{MIN_SECRET_CHARS},{MAX_SECRET_CHARS}}}"
    rf"_(?P<checksum>[A-Za-z0-9]{{{CHECKSUM_LENGTH}}})\Z"
)


@dataclass(frozen=True, slots=True)
class ParsedToken:
    """A well-formed token: its public lookup id and the full text (which contains the secret)."""

    lookup: str
    raw: str

    def __repr__(self) -> str:  # never show the secret in tracebacks or debug output
        return f"ParsedToken(lookup={self.lookup!r})"


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "".join(reversed(chars))


def checksum(body: str) -> str:
    """Return the 6-character base62 CRC32 of ``body`` (``bnd_<lookup>_<secret>``)."""
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


def new_lookup() -> str:
    """Return a random public lookup id (12 chars, about 62 bits: collisions are retried anyway)."""
    return "".join(secrets.choice(_LOOKUP_ALPHABET) for _ in range(LOOKUP_LENGTH))


def configured_secret_bytes() -> int:
    """Return the secret size from settings, clamped to the range the parser accepts."""
    value = int(getattr(settings, "BINDERY_API_TOKEN_SECRET_BYTES", DEFAULT_SECRET_BYTES))
    return min(max(value, MIN_SECRET_BYTES), MAX_SECRET_BYTES)


@sensitive_variables("secret", "body")
def generate_token(lookup: str, *, secret_bytes: int | None = None) -> str:
    """Return a new plaintext token for ``lookup``; the caller shows it once and keeps only its hash."""
    size = configured_secret_bytes() if secret_bytes is None else secret_bytes
    if not MIN_SECRET_BYTES <= size <= MAX_SECRET_BYTES:
        raise ValueError(f"secret size must be {MIN_SECRET_BYTES}-{MAX_SECRET_BYTES} bytes")
    secret = "".join(secrets.choice(_BASE62) for _ in range(secret_length(size)))
    body = f"{PREFIX}{lookup}_{secret}"
    return f"{body}_{checksum(body)}"


@sensitive_variables("raw")
def parse_token(raw: object) -> ParsedToken | None:
    """Return the parsed token, or None if ``raw`` is not a well-formed token with a valid checksum.

    Cheap and database-free: the length is checked before the regular expression runs, so a
    100 KB header costs nothing, and a typo never reaches the database.
    """
    if not isinstance(raw, str) or len(raw) > MAX_TOKEN_LENGTH:
        return None
    match = _TOKEN.match(raw)
    if match is None:
        return None
    body = raw[: -CHECKSUM_LENGTH - 1]
    if not constant_time_compare(checksum(body), match["checksum"]):
        return None
    return ParsedToken(lookup=match["lookup"], raw=raw)


def _hash_with(key: str | bytes, tenant_id: object, raw: str) -> str:
    return salted_hmac(HASH_SALT, f"{tenant_id}:{raw}", secret=key, algorithm="sha256").hexdigest()


@sensitive_variables("raw")
def hash_token(tenant_id: object, raw: str) -> str:
    """Return the stored form of a token: HMAC-SHA256 keyed by the current SECRET_KEY."""
    return _hash_with(settings.SECRET_KEY, tenant_id, raw)


@sensitive_variables("raw")
def verify_token_hash(tenant_id: object, raw: str, stored: str) -> tuple[bool, bool]:
    """Compare ``raw`` with a stored hash in constant time; return (matches, made with the current key).

    Every key in ``[SECRET_KEY, *SECRET_KEY_FALLBACKS]`` is always computed and compared, so
    the time taken does not say which key (if any) matched.
    """
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    results = [constant_time_compare(_hash_with(key, tenant_id, raw), stored) for key in keys]
    return any(results), results[0]
