"""Reading what changed: keyset pages over ``(modified_at, id)``, bounded by the run's start.

Airbyte's trap is a cursor on a timestamp alone: when a page ends in the middle of rows that
share one ``modified_at``, ``modified_at > last`` skips the rest of them and ``>=`` repeats
the page forever. The cursor here is the pair ``(modified_at, id)`` with a strict tuple
comparison, so every row is read exactly once whatever the page size or timestamp ties.

The upper bound is the run's start: rows changed while the run reads (including by the run
itself) belong to the next differential run, whose watermark is this run's start.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from itertools import islice
from typing import Any

from django.db.models import Q, QuerySet

from bindery.catalog.models import Product
from bindery.integration.schemas import ProductFilter


def changed_products(tenant_id: Any, *, since: dt.datetime | None, until: dt.datetime,
                     product_filter: ProductFilter) -> QuerySet[Product]:
    """Products (filtered) modified in ``[since, until]``; all of them when ``since`` is None."""
    queryset = Product.objects.for_tenant(tenant_id).filter(modified_at__lte=until)
    if since is not None:
        queryset = queryset.filter(modified_at__gte=since)
    return product_filter.apply(queryset)


def keyset_pages(queryset: QuerySet[Any], *, page_size: int) -> Iterator[list[Any]]:
    """Yield pages in ``(modified_at, id)`` order, each strictly after the previous page's last row."""
    last: tuple[dt.datetime, Any] | None = None
    while True:
        page_qs = queryset
        if last is not None:
            page_qs = page_qs.filter(Q(modified_at__gt=last[0]) | Q(modified_at=last[0], id__gt=last[1]))
        page = list(page_qs.order_by("modified_at", "id")[:page_size])
        if not page:
            return
        yield page
        if len(page) < page_size:
            return
        last = (page[-1].modified_at, page[-1].id)


def id_chunks(queryset: QuerySet[Any], *, size: int) -> Iterator[list[Any]]:
    """The queryset's rows in id order, ``size`` at a time, from one streamed read of their ids.

    Paging with ``id > last ORDER BY id LIMIT n`` instead let PostgreSQL choose the
    ``(tenant, modified_at)`` index when its statistics were stale after a bulk load, and sort
    every remaining row for each page: quadratic (publishing 100,000 products took 17 times as
    long as 20,000). Here the ids are read once, in order, through a server-side cursor, and each
    chunk's rows by primary key. Rows deleted meanwhile are skipped; the order stays fixed.
    """
    ids = queryset.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=max(size, 2000))
    while chunk := list(islice(ids, size)):
        found = {row.pk: row for row in queryset.filter(pk__in=chunk)}
        yield [found[pk] for pk in chunk if pk in found]
