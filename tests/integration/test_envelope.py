"""Envelope encryption: AES-256-GCM data keys wrapped by a master key, rotation by re-wrapping."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bindery.config import ConfigError, load
from bindery.security import envelope
from bindery.security.envelope import EnvelopeError, Keyring


def keyring(*texts: str) -> Keyring:
    return Keyring.from_text(",".join(texts))


def test_seal_and_open_round_trip_with_a_fresh_data_key_each_time() -> None:
    """The same plaintext sealed twice gives different ciphertexts that both open."""
    ring = keyring(envelope.new_key_text())
    one = envelope.seal(b"password", ring, aad=b"row-1")
    two = envelope.seal(b"password", ring, aad=b"row-1")
    assert one != two
    assert b"password" not in one
    assert envelope.open_sealed(one, ring, aad=b"row-1") == b"password"
    assert envelope.open_sealed(two, ring, aad=b"row-1") == b"password"


def test_tampering_another_row_or_another_key_is_refused() -> None:
    """A flipped bit, a ciphertext moved to another row, or an unknown master key all fail clearly."""
    ring = keyring(envelope.new_key_text())
    sealed = bytearray(envelope.seal(b"password", ring, aad=b"row-1"))
    with pytest.raises(EnvelopeError, match="copied from another record"):
        envelope.open_sealed(bytes(sealed), ring, aad=b"row-2")
    sealed[-1] ^= 1
    with pytest.raises(EnvelopeError, match="does not verify"):
        envelope.open_sealed(bytes(sealed), ring, aad=b"row-1")
    with pytest.raises(EnvelopeError, match="not configured"):
        envelope.open_sealed(envelope.seal(b"x", ring, aad=b""), keyring(envelope.new_key_text()), aad=b"")
    with pytest.raises(EnvelopeError, match="known version"):
        envelope.open_sealed(b"\x09" + bytes(100), ring, aad=b"")


def test_rewrap_moves_to_the_current_key_without_touching_the_ciphertext() -> None:
    """After rotation the value opens with the new key alone; the encrypted data itself is unchanged."""
    old, new = envelope.new_key_text(), envelope.new_key_text()
    sealed = envelope.seal(b"password", keyring(old), aad=b"r")
    rotated = envelope.rewrap(sealed, keyring(new, old))
    assert envelope.sealed_key_id(rotated) == keyring(new).current.key_id_hex
    assert rotated[-24:] == sealed[-24:]
    assert envelope.open_sealed(rotated, keyring(new), aad=b"r") == b"password"
    assert envelope.rewrap(rotated, keyring(new)) == rotated


def test_malformed_master_keys_are_refused_by_the_configuration() -> None:
    """BINDERY_MASTER_KEY must be base64url 32-byte keys; the error names the variable, not the value."""
    with pytest.raises(ConfigError) as short:
        load({"BINDERY_MASTER_KEY": "c2hvcnQ"}, create=False)
    assert short.value.variable == "BINDERY_MASTER_KEY"
    assert "32 bytes" in short.value.problem
    with pytest.raises(ConfigError, match="base64url"):
        load({"BINDERY_MASTER_KEY": "not base64 !!!"}, create=False)
    good = envelope.new_key_text()
    assert load({"BINDERY_MASTER_KEY": f"{good}, {envelope.new_key_text()}"}, create=False).master_key


def test_embedded_default_generates_a_private_key_file(tmp_path: Path) -> None:
    """Without BINDERY_MASTER_KEY a key file is created once, mode 0600; a new key goes on top."""
    path = tmp_path / "master_key"
    first = envelope._read_or_create_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert envelope._read_or_create_key_file(path) == first
    added = envelope.add_key_to_file(path)
    ring = Keyring.from_text(path.read_text())
    assert ring.current.key_id == added.key_id
    assert len(ring.keys) == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "MasterKey(id=" in repr(ring.current)
    assert first.strip() not in repr(ring)
