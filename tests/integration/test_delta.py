"""Delta reads: the (modified_at, id) keyset never skips or repeats rows sharing a timestamp."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from bindery.catalog.models import Product
from bindery.control.models import LocalTenant
from bindery.integration.delta import changed_products, keyset_pages
from bindery.integration.schemas import ProductFilter
from tests.integration.conftest import make_products

pytestmark = pytest.mark.django_db(databases="__all__")


def test_pages_over_timestamp_ties_read_every_row_once(tenant: LocalTenant, warehouses: None) -> None:
    """37 products in 3 shared timestamps, every page size from 1 to 40: each product read exactly once."""
    make_products(tenant, 37)
    base = timezone.now() - dt.timedelta(hours=1)
    ids = list(Product.objects.for_tenant(tenant).order_by("sku").values_list("pk", flat=True))
    for index, pk in enumerate(ids):
        Product.objects.for_tenant(tenant).filter(pk=pk).update(modified_at=base + dt.timedelta(seconds=index % 3))
    queryset = changed_products(tenant.pk, since=None, until=timezone.now(), product_filter=ProductFilter())
    for size in range(1, 41):
        seen = [p.pk for page in keyset_pages(queryset, page_size=size) for p in page]
        assert len(seen) == 37, size
        assert set(seen) == set(ids), size


def test_window_bounds_and_filters(tenant: LocalTenant, warehouses: None) -> None:
    """since/until bound the window; a filter narrows it; products changed after the run started wait."""
    make_products(tenant, 6)
    now = timezone.now()
    Product.objects.for_tenant(tenant).filter(sku__in=["SKU-0000", "SKU-0001"]).update(
        modified_at=now - dt.timedelta(days=1))
    Product.objects.for_tenant(tenant).filter(sku="SKU-0005").update(modified_at=now + dt.timedelta(seconds=30))
    recent = changed_products(tenant.pk, since=now - dt.timedelta(hours=1), until=now, product_filter=ProductFilter())
    assert sorted(recent.values_list("sku", flat=True)) == ["SKU-0002", "SKU-0003", "SKU-0004"]
    narrowed = changed_products(tenant.pk, since=None, until=now,
                                product_filter=ProductFilter(skus=["SKU-0001", "SKU-0003"]))
    assert sorted(narrowed.values_list("sku", flat=True)) == ["SKU-0001", "SKU-0003"]


def test_id_chunks_read_in_id_order_once_and_skip_rows_deleted_meanwhile(
        tenant: LocalTenant, warehouses: None, django_assert_max_num_queries: object) -> None:
    from bindery.integration.delta import id_chunks

    make_products(tenant, 23)
    everything = Product.objects.for_tenant(tenant)
    expected = list(everything.order_by("pk").values_list("pk", flat=True))
    chunks = id_chunks(everything, size=5)
    first = next(chunks)
    Product.objects.for_tenant(tenant).filter(pk=expected[7]).delete()  # gone before its chunk is read
    rest = list(chunks)
    assert [len(c) for c in [first, *rest]] == [5, 4, 5, 5, 3]
    assert [p.pk for c in [first, *rest] for p in c] == [pk for pk in expected if pk != expected[7]]
    # One read of the ids, then one query per chunk: no page query that sorts what is left.
    with django_assert_max_num_queries(1 + 5):  # type: ignore[operator]
        assert sum(len(c) for c in id_chunks(everything, size=5)) == 22
