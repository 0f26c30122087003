"""Operators' backups page and API under /ops/: per-database status, alerts, history, sizes.

Read-only views over the control plane's backup catalog (written by the backup site). The
metrics endpoint speaks the Prometheus text format so monitoring can alert on the same numbers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Max
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from bindery.backups.models import (
    BackupAlert,
    BackupKind,
    BackupRecord,
    BackupState,
    DistanceOverride,
    RestoreRequest,
)
from bindery.backups.site import STALE_AFTER

CHART_WIDTH = 600
CHART_HEIGHT = 160
HISTORY = 100


def _is_operator(request: HttpRequest) -> bool:
    from bindery.ops.admin_site import ops_site

    return ops_site.has_permission(request)


def backup_status(now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """One row per database: last good backup and its age, last verify and drill, open alerts."""
    now = now or timezone.now()
    databases = sorted(set(BackupRecord.objects.values_list("database", flat=True).distinct())
                       | set(BackupAlert.objects.filter(resolved_at__isnull=True)
                             .values_list("database", flat=True).distinct()))
    alerts: dict[str, list[BackupAlert]] = {}
    for alert in BackupAlert.objects.filter(resolved_at__isnull=True).order_by("raised_at"):
        alerts.setdefault(alert.database, []).append(alert)
    overrides = {o.database: {"by": o.requested_by, "at": o.created_at.isoformat(), "reason": o.reason}
                 for o in DistanceOverride.objects.filter(revoked_at__isnull=True)}
    rows = []
    for database in databases:
        records = BackupRecord.objects.filter(database=database)
        good = records.filter(kind=BackupKind.BACKUP, state=BackupState.OK).order_by("-started_at").first()
        finished = records.exclude(state=BackupState.RUNNING).order_by("-started_at")
        verify = finished.filter(kind=BackupKind.VERIFY).first()
        drill = finished.filter(kind=BackupKind.DRILL).first()
        checked = finished.filter(kind=BackupKind.BACKUP, detail__has_key="distance").first()
        distance = checked.detail["distance"] if checked else None
        age = (now - good.started_at).total_seconds() if good else None
        rows.append({
            "database": database,
            "last_good_at": good.started_at.isoformat() if good else None,
            "last_good_age_seconds": round(age) if age is not None else None,
            "last_good_age_hours": round(age / 3600, 1) if age is not None else None,
            "stale": age is None or age > STALE_AFTER.total_seconds(),
            "last_backup_id": good.backup_id if good else "",
            "snapshot_bytes": good.snapshot_bytes if good else None,
            "stored_bytes": good.stored_bytes if good else None,
            "last_verify": verify.state if verify else None,
            "last_drill": drill.state if drill else None,
            "last_drill_at": drill.started_at.isoformat() if drill else None,
            "distance_km": distance.get("km") if distance else None,
            "distance_allowed": distance.get("allowed") if distance else None,
            "distance_reason": distance.get("reason", "") if distance else "",
            "override": overrides.get(database),
            "alerts": [{"kind": a.kind, "message": a.message, "raised_at": a.raised_at.isoformat()}
                       for a in alerts.get(database, [])],
        })
    return rows


def _history(limit: int = HISTORY) -> list[dict[str, Any]]:
    return [{"database": r.database, "kind": r.kind, "state": r.state, "backup_id": r.backup_id,
             "started_at": r.started_at.isoformat(), "seconds": r.seconds, "snapshot_bytes": r.snapshot_bytes,
             "stored_bytes": r.stored_bytes, "error": r.error[:300]}
            for r in BackupRecord.objects.order_by("-started_at", "-id")[:limit]]


def _chart(days: int = 30, now: dt.datetime | None = None) -> dict[str, Any]:
    """Stored MB of the good backups of the last ``days`` days, one bar per backup, per database."""
    now = now or timezone.now()
    records = list(BackupRecord.objects.filter(kind=BackupKind.BACKUP, state=BackupState.OK,
                                               started_at__gte=now - dt.timedelta(days=days))
                   .order_by("started_at")[:500])
    peak = max([r.stored_bytes or 0 for r in records] + [1])
    databases = sorted({r.database for r in records})
    palette = ["#2e86c1", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d"]
    colour = {d: palette[i % len(palette)] for i, d in enumerate(databases)}
    step = CHART_WIDTH / max(len(records), 1)
    bars = []
    for i, r in enumerate(records):
        height = round((CHART_HEIGHT - 20) * (r.stored_bytes or 0) / peak, 1)
        bars.append({"x": round(i * step, 1), "y": round(CHART_HEIGHT - height, 1), "w": max(round(step - 1, 1), 1),
                     "h": height, "fill": colour[r.database],
                     "title": f"{r.database} {r.started_at:%Y-%m-%d %H:%M}: {(r.stored_bytes or 0) / 1e6:.2f} MB"})
    legend = [{"database": d, "fill": colour[d], "y": 14 + 16 * i} for i, d in enumerate(databases)]
    return {"bars": bars, "legend": legend, "peak_mb": round(peak / 1e6, 2), "width": CHART_WIDTH,
            "height": CHART_HEIGHT}


def backup_metrics(now: dt.datetime | None = None) -> str:
    """Prometheus text: age of the last good backup, its size, and open alerts per database."""
    lines = [
        "# HELP bindery_backup_last_good_age_seconds Seconds since the last good backup (-1: never).",
        "# TYPE bindery_backup_last_good_age_seconds gauge",
    ]
    status = backup_status(now)
    for row in status:
        age = row["last_good_age_seconds"]
        lines.append(f'bindery_backup_last_good_age_seconds{{database="{row["database"]}"}} '
                     f'{age if age is not None else -1}')
    lines += ["# HELP bindery_backup_stored_bytes Stored size of the last good backup.",
              "# TYPE bindery_backup_stored_bytes gauge"]
    lines += [f'bindery_backup_stored_bytes{{database="{row["database"]}"}} {row["stored_bytes"] or 0}'
              for row in status]
    lines += ["# HELP bindery_backup_open_alerts Open backup alerts (stale, backup, verify or drill failed).",
              "# TYPE bindery_backup_open_alerts gauge"]
    lines += [f'bindery_backup_open_alerts{{database="{row["database"]}"}} {len(row["alerts"])}' for row in status]
    return "\n".join(lines) + "\n"


def _restores(limit: int = 20) -> list[dict[str, Any]]:
    return [{"id": r.pk, "tenant": r.tenant_slug, "to_host": r.to_host, "backup_id": r.backup_ref,
             "reason": r.reason, "requested_by": r.requested_by, "requested_at": r.requested_at.isoformat(),
             "state": r.state, "started_at": r.started_at.isoformat() if r.started_at else None,
             "finished_at": r.finished_at.isoformat() if r.finished_at else None, "progress": r.progress,
             "error": r.error, "detail": r.detail} for r in RestoreRequest.objects.all()[:limit]]


def _restore_choices() -> dict[str, Any]:
    from bindery.control.models import Host, HostState, Tenant

    backups = (BackupRecord.objects.filter(kind=BackupKind.BACKUP, state=BackupState.OK, database__startswith="host-")
               .exclude(backup_id="").order_by("-started_at").values_list("backup_id", flat=True)[:50])
    return {"tenants": list(Tenant.objects.order_by("slug").values_list("slug", flat=True)[:500]),
            "hosts": list(Host.objects.exclude(state=HostState.RETIRED).order_by("name")
                          .values_list("name", flat=True)),
            "backups": list(backups)}


def backups_page(request: HttpRequest) -> HttpResponse:
    from bindery.ops.admin_site import ops_site

    status = backup_status()
    totals = BackupRecord.objects.filter(kind=BackupKind.BACKUP, state=BackupState.OK).aggregate(last=Max("started_at"))
    context = {
        **ops_site.each_context(request), "title": "Backups", "status": status, "history": _history(),
        "chart": _chart(), "open_alerts": sum(len(r["alerts"]) for r in status), "last_backup_at": totals["last"],
        "stale_hours": round(STALE_AFTER.total_seconds() / 3600), "restores": _restores(),
        "restore_choices": _restore_choices(),
    }
    return TemplateResponse(request, "backups/ops_backups.html", context)


@require_POST
def distance_override(request: HttpRequest) -> HttpResponse:
    """Record (or revoke) an operator's override of the 500 km rule for one database."""
    from django.contrib import messages
    from django.shortcuts import redirect

    from bindery.backups.actions import do_record_distance_override, do_revoke_distance_override

    database = request.POST.get("database", "").strip()[:80]
    known = set(BackupRecord.objects.values_list("database", flat=True).distinct())
    if database not in known:
        messages.error(request, "Unknown database.")
    elif request.POST.get("revoke"):
        do_revoke_distance_override(database, actor=request.user)
        messages.success(request, f"Override for {database} revoked.")
    else:
        try:
            do_record_distance_override(database, reason=request.POST.get("reason", "")[:500], actor=request.user)
        except ValueError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Override for {database} recorded.")
    return redirect("ops_backups")


def _denied(request: HttpRequest) -> JsonResponse | None:
    if not _is_operator(request):
        return JsonResponse({"error": {"code": "forbidden", "message": "operators only"}}, status=403)
    return None


@require_GET
def api_backups(request: HttpRequest) -> JsonResponse:
    denied = _denied(request)
    return denied or JsonResponse({"databases": backup_status(), "history": _history()})


@require_GET
def metrics_backups(request: HttpRequest) -> HttpResponse:
    denied = _denied(request)
    return denied or HttpResponse(backup_metrics(), content_type="text/plain; version=0.0.4")


def _request_restore(data: Any, actor: Any) -> RestoreRequest:
    from bindery.backups.actions import do_request_tenant_restore

    def text(name: str) -> str:
        value = data.get(name, "")
        if not isinstance(value, str):
            from bindery.backups.actions import RestoreRequestError

            raise RestoreRequestError(f"{name} must be text", field=name)
        return value[:600]

    return do_request_tenant_restore(text("tenant"), text("to_host"), reason=text("reason"), actor=actor,
                                     backup_ref=text("backup"))


@require_POST
def restore_tenant(request: HttpRequest) -> HttpResponse:
    """Queue a tenant restore (the backup site runs it) or cancel a queued one; the slug is typed to confirm."""
    from django.contrib import messages
    from django.shortcuts import redirect

    from bindery.backups.actions import RestoreRequestError, do_cancel_restore_request

    cancel = request.POST.get("cancel", "")
    if cancel:
        found = RestoreRequest.objects.filter(pk=int(cancel) if cancel.isdigit() else 0).first()
        if found is None or not do_cancel_restore_request(found, actor=request.user):
            messages.error(request, "That request is not waiting any more; it cannot be cancelled.")
        else:
            messages.success(request, f"Restore request {found.pk} cancelled.")
        return redirect("ops_backups")
    if request.POST.get("confirm", "").strip() != request.POST.get("tenant", "").strip():
        messages.error(request, "Type the tenant's slug again to confirm the restore.")
        return redirect("ops_backups")
    try:
        queued = _request_restore(request.POST, request.user)
    except RestoreRequestError as exc:
        messages.error(request, f"{exc.field}: {exc}")
    else:
        messages.success(request, f"Restore of {queued.tenant_slug} from {queued.backup_ref} into {queued.to_host} "
                                  "queued; the backup site runs it on its next pass.")
    return redirect("ops_backups")


def api_restores(request: HttpRequest) -> JsonResponse:
    """GET: the restore requests with state and progress. POST (JSON): queue one."""
    import json

    from bindery.backups.actions import RestoreRequestError

    denied = _denied(request)
    if denied:
        return denied
    if request.method == "GET":
        return JsonResponse({"restores": _restores(limit=100)})
    if request.method != "POST":
        return JsonResponse({"error": {"code": "method_not_allowed", "message": "GET or POST"}}, status=405)
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return JsonResponse({"error": {"code": "invalid", "message": "the body is not JSON"}}, status=400)
    if not isinstance(data, dict):
        return JsonResponse({"error": {"code": "invalid", "message": "send a JSON object"}}, status=400)
    try:
        queued = _request_restore(data, request.user)
    except RestoreRequestError as exc:
        return JsonResponse({"error": {"code": "invalid", "field": exc.field, "message": str(exc)}}, status=400)
    return JsonResponse({"restore": next(r for r in _restores(limit=100) if r["id"] == queued.pk)}, status=201)
