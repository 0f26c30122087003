"""Fixtures of the data-protection tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bindery.privacy import fields
from bindery.security import envelope


@pytest.fixture
def fresh_keys() -> Iterator[None]:
    """Forget the process's keyring and cached tenant keys before and after the test."""
    envelope.reset_keyring()
    fields.forget_keys()
    yield
    envelope.reset_keyring()
    fields.forget_keys()
