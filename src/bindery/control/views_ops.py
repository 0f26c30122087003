"""Operators' pages and REST API for hosts, tenants' placement and moves (under /ops/).

Pages go through the ops admin site's ``admin_view`` (operators only, sign-in redirect); the
JSON API answers 403 to anyone else. Both are read-only views over the control plane and the
hosts' measured load; writes stay with the ``bindery`` commands (they run for minutes).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from bindery.control.load import HostLoad, measure_hosts, recommend_moves
from bindery.control.models import Placement, TenantMove

CHART_WIDTH = 400


def _is_operator(request: HttpRequest) -> bool:
    from bindery.ops.admin_site import ops_site

    return ops_site.has_permission(request)


def _host_rows(loads: list[HostLoad]) -> list[dict[str, Any]]:
    peak = max([max(load.units, load.host.capacity) for load in loads] + [1])
    rows = []
    for i, load in enumerate(loads):
        host = load.host
        rows.append({
            "name": host.name, "datacenter": host.datacenter.name, "country": host.datacenter.country,
            "state": host.state, "dedicated": host.dedicated, "public_url": host.public_url,
            "app_version": host.app_version, "capacity": host.capacity, "units": round(load.units, 2),
            "share": round(load.share, 4), "pressure": round(load.pressure, 4), "hot": load.hot, "cold": load.cold,
            "reachable": load.reachable, "runs_per_day": round(load.runs_per_day, 2),
            "queue_lag_seconds": load.queue_lag_seconds, "lagging": load.lagging,
            "tenants": [{"slug": t.slug, "products": t.products, "orders_30d": t.orders_30d,
                         "runs_per_day": t.runs_per_day, "queue_lag_seconds": t.queue_lag_seconds,
                         "units": round(t.units, 2)} for t in load.tenants],
            # Chart geometry (SVG attributes, no inline styles: the CSP forbids them).
            "bar_y": 10 + i * 28, "text_y": 24 + i * 28,
            "load_w": round(CHART_WIDTH * load.units / peak, 1),
            "cap_x": round(120 + CHART_WIDTH * host.capacity / peak, 1),
        })
    return rows


def _moves(limit: int = 50) -> list[dict[str, Any]]:
    out = []
    for move in TenantMove.objects.select_related("tenant", "source", "target")[:limit]:
        window = (move.unfenced_at - move.fenced_at).total_seconds() if move.fenced_at and move.unfenced_at else None
        out.append({
            "tenant": move.tenant.slug, "source": move.source.name, "target": move.target.name,
            "state": move.state, "step": move.step, "rows_copied": move.rows_copied, "rows_total": move.rows_total,
            "progress": round(min(move.rows_copied / move.rows_total, 1.0), 4) if move.rows_total else 0.0,
            "started_at": move.started_at.isoformat(), "error": move.error,
            "finished_at": move.finished_at.isoformat() if move.finished_at else None,
            "write_pause_seconds": window,
        })
    return out


def _placements() -> list[dict[str, Any]]:
    return [{"tenant": p.tenant.slug, "plan": p.tenant.plan, "host": p.host.name, "epoch": p.epoch,
             "state": p.state, "dedicated": p.tenant.dedicated, "allowed_countries": p.tenant.allowed_countries}
            for p in Placement.objects.select_related("tenant", "host").order_by("tenant__slug")]


def _recommendations(loads: list[HostLoad]) -> list[dict[str, Any]]:
    return [{"tenant": r.tenant_slug, "source": r.source, "target": r.target, "units": r.units, "reason": r.reason}
            for r in recommend_moves(loads)]


def hosts_page(request: HttpRequest) -> HttpResponse:
    from bindery.ops.admin_site import ops_site

    loads = measure_hosts()
    rows = _host_rows(loads)
    context = {
        **ops_site.each_context(request), "title": "Delivery hosts", "hosts": rows,
        "chart_height": 20 + 28 * len(rows), "chart_width": CHART_WIDTH + 200,
        "recommendations": _recommendations(loads), "placements": _placements(), "moves": _moves(),
    }
    return TemplateResponse(request, "control/ops_hosts.html", context)


def _api(request: HttpRequest) -> JsonResponse | None:
    if not _is_operator(request):
        return JsonResponse({"error": {"code": "forbidden", "message": "operators only"}}, status=403)
    return None


@require_GET
def api_hosts(request: HttpRequest) -> JsonResponse:
    denied = _api(request)
    if denied:
        return denied
    loads = measure_hosts()
    hosts = [{k: v for k, v in row.items() if k not in ("bar_y", "text_y", "load_w", "cap_x")}
             for row in _host_rows(loads)]
    return JsonResponse({"hosts": hosts, "recommendations": _recommendations(loads)})


@require_GET
def api_tenants(request: HttpRequest) -> JsonResponse:
    denied = _api(request)
    return denied or JsonResponse({"tenants": _placements()})


@require_GET
def api_moves(request: HttpRequest) -> JsonResponse:
    denied = _api(request)
    return denied or JsonResponse({"moves": _moves()})
