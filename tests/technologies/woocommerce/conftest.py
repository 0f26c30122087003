"""Fixtures of the WooCommerce tests: a fresh keyring, the fake shop, a catalogue with its price list and warehouse."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bindery.catalog.actions import do_create_price_list, do_create_warehouse
from bindery.control.models import LocalTenant
from bindery.security import envelope
from tests.fakes.woocommerce import FakeWoo, fake_woocommerce


@pytest.fixture(autouse=True)
def _fresh_keyring() -> Iterator[None]:
    envelope.reset_keyring()
    yield
    envelope.reset_keyring()


@pytest.fixture
def shop() -> Iterator[FakeWoo]:
    with fake_woocommerce() as fake:
        yield fake


@pytest.fixture
def catalog(tenant: LocalTenant) -> LocalTenant:
    do_create_warehouse(tenant, "main", actor="test")
    do_create_price_list(tenant, "retail", "EUR", actor="test")
    return tenant
