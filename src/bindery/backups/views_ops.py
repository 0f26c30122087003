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

from bindery.backups.models import BackupAlert, BackupKind, BackupRecord, BackupState, DistanceOverride
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


def backups_page(request: HttpRequest) -> HttpResponse:
    from bindery.ops.admin_site import ops_site

    status = backup_status()
    totals = BackupRecord.objects.filter(kind=BackupKind.BACKUP, state=BackupState.OK).aggregate(last=Max("started_at"))
    context = {
        **ops_site.each_context(request), "title": "Backups", "status": status, "history": _history(),
        "chart": _chart(), "open_alerts": sum(len(r["alerts"]) for r in status), "last_backup_at": totals["last"],
        "stale_hours": round(STALE_AFTER.total_seconds() / 3600),
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
