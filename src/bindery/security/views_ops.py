"""Operators' security events page and JSON API under /ops/: every tenant, filters, events per hour.

Filters: kind, IP, account (part of it), tenant (slug) and the window in hours. The page goes
through the ops admin site (operators only); the JSON API answers 403 to anyone else.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from bindery.security.events import (
    EventFilter,
    EventFilterError,
    event_filter,
    event_row,
    events_per_hour,
    filter_events,
    hourly_chart,
)
from bindery.security.models import SecurityEventKind

PAGE_LIMIT = 500


def _filter_from(request: HttpRequest) -> EventFilter:
    from bindery.control.models import Tenant

    slug = request.GET.get("tenant", "").strip().lower()[:63]
    tenant_id = None
    if slug:
        tenant_id = Tenant.objects.filter(slug=slug).values_list("id", flat=True).first()
        if tenant_id is None:
            raise EventFilterError("tenant", f"no tenant {slug!r}")
    return event_filter(kind=request.GET.get("kind", ""), ip=request.GET.get("ip", ""),
                        account=request.GET.get("account", ""), hours=request.GET.get("hours") or None,
                        tenant_id=tenant_id, tenant_slug=slug)


def events_page(request: HttpRequest) -> HttpResponse:
    from bindery.ops.admin_site import ops_site

    error = ""
    try:
        flt = _filter_from(request)
    except EventFilterError as exc:
        flt, error = event_filter(), str(exc)
    context: dict[str, Any] = {
        **ops_site.each_context(request), "title": "Security events", "filter": flt, "filter_error": error,
        "tenant": request.GET.get("tenant", "")[:63], "kinds": SecurityEventKind.choices,
        "events": list(filter_events(flt)[:PAGE_LIMIT]), "chart": hourly_chart(events_per_hour(flt)),
    }
    return TemplateResponse(request, "security/ops_events.html", context, status=400 if error else 200)


@require_GET
def api_events(request: HttpRequest) -> JsonResponse:
    from bindery.ops.admin_site import ops_site

    if not ops_site.has_permission(request):
        return JsonResponse({"error": {"code": "forbidden", "message": "operators only"}}, status=403)
    try:
        flt = _filter_from(request)
    except EventFilterError as exc:
        return JsonResponse({"error": {"code": "invalid", "field": exc.field, "message": str(exc)}}, status=400)
    rows = [{**event_row(e), "at": e.created_at.isoformat(), "tenant_id": str(e.tenant_id) if e.tenant_id else None}
            for e in filter_events(flt)[:PAGE_LIMIT]]
    hours = [{"hour": h.isoformat(), "count": n} for h, n in events_per_hour(flt)]
    return JsonResponse({"events": rows, "per_hour": hours})
