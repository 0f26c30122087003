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
