"""Tenant-scoped getters: another tenant's object is indistinguishable from a missing one."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from django.db import transaction

from bindery.catalog.access import (
    access_category_by_path,
    access_price_list_by_name,
    access_product_by_id,
    access_product_by_sku,
    access_products_by_ids,
    access_warehouse_by_key,
    products_modified_since,
)
from bindery.catalog.actions import do_create_category, do_create_price_list, do_create_warehouse, do_upsert_product
from bindery.catalog.errors import CatalogErrorCode, NotFound
from bindery.catalog.payloads import ProductData
from bindery.control.models import LocalTenant
from tests.catalog.conftest import ACTOR

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def foreign_id(other_tenant: LocalTenant) -> uuid.UUID:
    result = do_upsert_product(other_tenant, ProductData(sku="SECRET"), actor=ACTOR)
    assert result.product_id is not None
    return result.product_id


def test_own_product_is_found(tenant: LocalTenant) -> None:
    """A tenant reaches its own product by id (also locked, for writes) and by SKU."""
    product_id = do_upsert_product(tenant, ProductData(sku="MINE"), actor=ACTOR).product_id
    assert product_id is not None
    assert access_product_by_id(tenant, str(product_id), for_write=False).sku == "MINE"
    with transaction.atomic():
        assert access_product_by_id(tenant, product_id, for_write=True).sku == "MINE"
    assert access_product_by_sku(tenant, "MINE", for_write=False).pk == product_id


def _lookup(how: str, tenant: LocalTenant, product_id: uuid.UUID, sku: str) -> Callable[[], object]:
    return {
        "by_id": lambda: access_product_by_id(tenant, product_id, for_write=False),
        "by_sku": lambda: access_product_by_sku(tenant, sku, for_write=False),
        "bulk": lambda: access_products_by_ids(tenant, [product_id], for_write=False),
    }[how]


@pytest.mark.parametrize("how", ["by_id", "by_sku", "bulk"])
def test_other_tenants_product_is_not_found(tenant: LocalTenant, foreign_id: uuid.UUID, how: str) -> None:
    """Another tenant's product raises NotFound, with the same message a missing one gets."""
    with pytest.raises(NotFound) as caught:
        _lookup(how, tenant, foreign_id, "SECRET")()
    assert caught.value.code == CatalogErrorCode.NOT_FOUND
    with pytest.raises(NotFound) as missing:
        _lookup(how, tenant, uuid.uuid4(), "NOPE")()
    assert (missing.value.field, type(missing.value)) == (caught.value.field, type(caught.value))

    def shape(message: str) -> str:
        """The message without the SKU or ids asked for, which differ by construction."""
        return message.replace("NOPE", "?").replace("SECRET", "?").split(": ")[0]

    assert shape(missing.value.message) == shape(caught.value.message)


def test_malformed_id_is_not_found(tenant: LocalTenant) -> None:
    """A string that is not a UUID is simply not found, never a server error."""
    with pytest.raises(NotFound):
        access_product_by_id(tenant, "not-a-uuid", for_write=False)
    with pytest.raises(NotFound):
        access_products_by_ids(tenant, ["x"], for_write=False)


def test_bulk_access_fails_if_any_id_is_foreign(tenant: LocalTenant, foreign_id: uuid.UUID) -> None:
    """The bulk getter returns products in the order asked, and fails whole if one id is not the tenant's."""
    ids = [do_upsert_product(tenant, ProductData(sku=s), actor=ACTOR).product_id for s in ("B", "A")]
    assert [p.sku for p in access_products_by_ids(tenant, [i for i in ids if i], for_write=False)] == ["B", "A"]
    with pytest.raises(NotFound):
        access_products_by_ids(tenant, [*[i for i in ids if i], foreign_id], for_write=False)


def test_other_getters_are_scoped(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    """Warehouses, price lists and categories of another tenant are not found by key, name or path."""
    do_create_warehouse(other_tenant, "main", actor=ACTOR)
    do_create_price_list(other_tenant, "retail", "EUR", actor=ACTOR)
    do_create_category(other_tenant, "A|B", actor=ACTOR)
    for lookup in (lambda: access_warehouse_by_key(tenant, "main", for_write=False),
                   lambda: access_price_list_by_name(tenant, "retail", for_write=False),
                   lambda: access_category_by_path(tenant, "A|B", for_write=False)):
        with pytest.raises(NotFound):
            lookup()
    assert access_category_by_path(other_tenant, "A|B", for_write=False).name == "B"


def test_products_modified_since_is_scoped(tenant: LocalTenant, foreign_id: uuid.UUID) -> None:
    """The delta query returns only this tenant's products modified at or after the watermark."""
    do_upsert_product(tenant, ProductData(sku="MINE"), actor=ACTOR)
    mine = access_product_by_sku(tenant, "MINE", for_write=False)
    assert [p.sku for p in products_modified_since(tenant, mine.modified_at)] == ["MINE"]
