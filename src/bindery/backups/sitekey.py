"""The backup site's own key: it wraps every backup's data key and authenticates manifests.

Deliberately not the platform master key (which every delivery host holds): a compromised host
must neither read nor forge stored backups. ``BINDERY_BACKUP_SITE_KEY`` (or ``..._FILE``) holds
comma-separated base64url 32-byte keys, current first, older ones kept for unwrapping; without
it the embedded default generates ``<VAR_DIR>/backup_site_key`` (mode 0600) on first use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bindery.security.envelope import EnvelopeError, Keyring, MasterKey, new_key_text

KEY_FILE_NAME = "backup_site_key"
_WRAP_AAD = b"bindery.backups.data-key:"
_MAC_SALT = b"bindery.backups.manifest-mac"


class SiteKeyError(Exception):
    """The site key is missing or malformed, or a wrapped key / manifest does not verify."""


def load_site_keyring(configured: str | None, var_dir: Path, *, master_key: str | None = None) -> Keyring:
    """Return the site keyring from configuration, else from (or into) the var folder's key file."""
    if configured:
        text = configured
    else:
        path = var_dir / KEY_FILE_NAME
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w", encoding="ascii") as handle:
                    handle.write(new_key_text() + "\n")
        text = path.read_text(encoding="ascii")
    try:
        ring = Keyring.from_text(text)
    except EnvelopeError as exc:
        raise SiteKeyError(f"backup site key: {exc}") from None
    if master_key:
        master_ids = {k.key_id for k in Keyring.from_text(master_key).keys}
        if any(k.key_id in master_ids for k in ring.keys):
            raise SiteKeyError("the backup site key must differ from the platform master key")
    return ring


def _mac_key(key: MasterKey) -> bytes:
    return hmac.new(key.key, _MAC_SALT, hashlib.sha256).digest()


def wrap_data_key(data_key: bytes, ring: Keyring, backup_id: str) -> dict[str, str]:
    nonce = os.urandom(12)
    wrapped = AESGCM(ring.current.key).encrypt(nonce, data_key, _WRAP_AAD + backup_id.encode())
    return {"key_id": ring.current.key_id_hex, "nonce": base64.b64encode(nonce).decode(),
            "wrapped": base64.b64encode(wrapped).decode()}


def unwrap_data_key(entry: dict[str, str], ring: Keyring, backup_id: str) -> bytes:
    try:
        key = ring.find(bytes.fromhex(entry["key_id"]))
        return AESGCM(key.key).decrypt(base64.b64decode(entry["nonce"]), base64.b64decode(entry["wrapped"]),
                                       _WRAP_AAD + backup_id.encode())
    except EnvelopeError as exc:
        raise SiteKeyError(str(exc)) from None
    except (InvalidTag, KeyError, ValueError):
        raise SiteKeyError("the backup's data key does not unwrap (wrong site key or tampered manifest)") from None


def sign_manifest(body: bytes, ring: Keyring) -> str:
    return ring.current.key_id_hex + ":" + hmac.new(_mac_key(ring.current), body, hashlib.sha256).hexdigest()


def check_manifest_mac(body: bytes, mac: str, ring: Keyring) -> None:
    key_id, _, digest = mac.partition(":")
    try:
        key = ring.find(bytes.fromhex(key_id))
    except (EnvelopeError, ValueError):
        raise SiteKeyError("the manifest is signed with an unknown site key") from None
    expected = hmac.new(_mac_key(key), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, digest):
        raise SiteKeyError("the manifest's signature does not verify (tampered)")
