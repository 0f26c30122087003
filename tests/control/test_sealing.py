"""Host database URLs are sealed with AES-GCM, bound to their purpose, and rotate with the key."""

from __future__ import annotations

import pytest
from django.test import override_settings

from bindery.control.sealing import SealError, seal, unseal

URL = "postgres://bindery:s3cret-pass@db.example:5432/host_a"


def test_round_trip_hides_the_plaintext() -> None:
    """A sealed URL opens to the original and contains no part of the password."""
    sealed = seal(URL, purpose="host-database-url:a")
    assert "s3cret" not in sealed
    assert sealed.startswith("v1.")
    assert unseal(sealed, purpose="host-database-url:a") == URL


def test_each_seal_is_different() -> None:
    """A fresh nonce per seal: equal URLs do not give equal ciphertexts."""
    assert seal(URL, purpose="p") != seal(URL, purpose="p")


def test_other_purpose_refused() -> None:
    """A value sealed for one host cannot be moved onto another host's row."""
    sealed = seal(URL, purpose="host-database-url:a")
    with pytest.raises(SealError):
        unseal(sealed, purpose="host-database-url:b")


@pytest.mark.parametrize("bad", ["", "v1.", "v2.AAAA", "v1.!!!!", "v1.QUJD", "plain text", "v1." + "A" * 5000])
def test_malformed_values_refused(bad: str) -> None:
    """Malformed or truncated values raise SealError, never another exception."""
    with pytest.raises(SealError):
        unseal(bad, purpose="p")


def test_tampered_value_refused() -> None:
    sealed = seal(URL, purpose="p")
    flipped = sealed[:-3] + ("A" if sealed[-3] != "A" else "B") + sealed[-2:]
    with pytest.raises(SealError):
        unseal(flipped, purpose="p")


def test_rotated_secret_key_still_opens_old_values() -> None:
    """After rotating SECRET_KEY, values sealed under the old one open through the fallbacks."""
    with override_settings(SECRET_KEY="old-" + "k" * 60):
        sealed = seal(URL, purpose="p")
    with override_settings(SECRET_KEY="new-" + "k" * 60, SECRET_KEY_FALLBACKS=["old-" + "k" * 60]):
        assert unseal(sealed, purpose="p") == URL
    with override_settings(SECRET_KEY="new-" + "k" * 60, SECRET_KEY_FALLBACKS=[]), pytest.raises(SealError):
        unseal(sealed, purpose="p")
