"""Page-number pagination for console lists: one COUNT and one page of rows, whatever the size."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict

PAGE_SIZE = 50


def paginate(request: HttpRequest, queryset: QuerySet, *, per_page: int = PAGE_SIZE) -> Page:
    """Return the requested page; a malformed or out-of-range ``page`` gives the first or last page."""
    raw = request.GET.get("page", "1")
    return Paginator(queryset, per_page).get_page(raw[:12])


def query_without_page(request: HttpRequest) -> str:
    """Return the current filters as a query string without ``page``, for page links and exports."""
    params: QueryDict = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()
