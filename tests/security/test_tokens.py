"""The token format: recognizable, checksummed, rejected cheaply when malformed."""

from __future__ import annotations

import re
import string

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bindery.security.access import authenticate_api_token
from bindery.security.tokens import (
    MAX_TOKEN_LENGTH,
    SCANNER_REGEX,
    checksum,
    generate_token,
    hash_token,
    new_lookup,
    parse_token,
    verify_token_hash,
)
from tests.security.conftest import no_queries

BASE62 = string.digits + string.ascii_letters

lookups = st.text(alphabet=string.digits + string.ascii_lowercase, min_size=12, max_size=12)
secrets_ = st.text(alphabet=BASE62, min_size=22, max_size=172)


@st.composite
def valid_tokens(draw: st.DrawFn) -> str:
    body = f"bnd_{draw(lookups)}_{draw(secrets_)}"
    return f"{body}_{checksum(body)}"


def test_generated_token_shape() -> None:
    """A new token has the bnd_ prefix, the lookup id, 43 secret characters by default and parses."""
    lookup = new_lookup()
    token = generate_token(lookup)
    prefix, got_lookup, secret, check = token.split("_")
    assert (prefix, got_lookup) == ("bnd", lookup)
    assert len(secret) == 43
    assert len(check) == 6
    parsed = parse_token(token)
    assert parsed is not None
    assert parsed.lookup == lookup
    assert token not in repr(parsed)


def test_secret_length_is_configurable() -> None:
    """BINDERY_API_TOKEN_SECRET_BYTES changes the secret's length; explicit sizes outside 16-128 fail."""
    with override_settings(BINDERY_API_TOKEN_SECRET_BYTES=64):
        token = generate_token(new_lookup())
    assert len(token.split("_")[2]) == 86
    assert parse_token(token) is not None
    assert len(generate_token(new_lookup(), secret_bytes=16).split("_")[2]) == 22
    assert len(generate_token(new_lookup(), secret_bytes=128)) == MAX_TOKEN_LENGTH
    with pytest.raises(ValueError, match="secret size"):
        generate_token(new_lookup(), secret_bytes=8)


def test_tokens_are_unique() -> None:
    """Two tokens for the same lookup id never share a secret."""
    lookup = new_lookup()
    assert len({generate_token(lookup) for _ in range(50)}) == 50


@given(valid_tokens())
def test_scanner_regex_finds_tokens_in_text(token: str) -> None:
    """The documented secret-scanner regex finds a token inside surrounding text, exactly."""
    found = re.findall(SCANNER_REGEX, f"export KEY={token}\nother text bnd_short_x_y")
    assert found == [token]


@given(valid_tokens(), st.data())
def test_any_single_character_change_is_rejected(token: str, data: st.DataObject) -> None:
    """Changing any one character of a valid token (to anything) makes it fail the format or checksum."""
    assert parse_token(token) is not None
    index = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.characters().filter(lambda c: c != token[index]))
    assert parse_token(token[:index] + replacement + token[index + 1:]) is None


@given(valid_tokens(), st.data())
def test_swapped_neighbours_and_deletions_are_rejected(token: str, data: st.DataObject) -> None:
    """Swapping two different adjacent characters, or dropping one, is rejected too."""
    index = data.draw(st.integers(0, len(token) - 2))
    swapped = token[:index] + token[index + 1] + token[index] + token[index + 2:]
    if swapped != token:
        assert parse_token(swapped) is None
    assert parse_token(token[:index] + token[index + 1:]) is None


@pytest.mark.django_db(databases="__all__")
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.one_of(st.text(), st.text(alphabet=BASE62 + "_"),
                 st.from_regex(r"bnd_[a-z0-9]{12}_[A-Za-z0-9]{22,60}_[A-Za-z0-9]{6}", fullmatch=True)))
def test_random_strings_are_rejected_without_queries(raw: str) -> None:
    """Random text, even shaped like a token, is refused before any database query (bad checksum)."""
    body, _, check = raw.rpartition("_")
    if body.isascii() and body and check == checksum(body):  # hypothesis happened on a real checksum
        return
    with no_queries():
        assert authenticate_api_token(raw) is None


@pytest.mark.parametrize("raw", [
    "",
    "bnd_",
    "x" * 100_000,
    "bnd_" + "a" * 12 + "_" + "A" * 100_000 + "_aaaaaa",
    "bnd_abcdefghijkl_" + "A" * 43 + "\x00_aaaaaa",
    "bnd_abcdefghijkl_" + "Ä" * 43 + "_aaaaaa",
    "\x00" * 200,
    "ghp_" + "a" * 36,
])
def test_hostile_strings_are_refused(raw: str) -> None:
    """Huge, NUL-laden, non-ASCII or foreign tokens parse to None without an exception."""
    assert parse_token(raw) is None


def test_non_string_input_is_refused() -> None:
    """Bytes or None (a caller's mistake) parse to None instead of raising."""
    token = generate_token(new_lookup())
    assert parse_token(token.encode()) is None
    assert parse_token(None) is None


def test_trailing_newline_is_refused() -> None:
    """A token followed by a newline does not parse ($ would accept it; the parser uses \\Z)."""
    token = generate_token(new_lookup())
    assert parse_token(token + "\n") is None


def test_hash_is_keyed_bound_to_tenant_and_survives_key_rotation() -> None:
    """The stored hash depends on SECRET_KEY and the tenant; old keys still verify as fallbacks."""
    token = generate_token(new_lookup())
    with override_settings(SECRET_KEY="old-key-" + "x" * 50):
        old_hash = hash_token("tenant-a", token)
    assert old_hash != hash_token("tenant-a", token)
    assert hash_token("tenant-a", token) != hash_token("tenant-b", token)
    assert token not in old_hash
    assert verify_token_hash("tenant-a", token, hash_token("tenant-a", token)) == (True, True)
    assert verify_token_hash("tenant-b", token, hash_token("tenant-a", token)) == (False, False)
    assert verify_token_hash("tenant-a", token, old_hash) == (False, False)
    with override_settings(SECRET_KEY_FALLBACKS=["old-key-" + "x" * 50]):
        assert verify_token_hash("tenant-a", token, old_hash) == (True, False)
