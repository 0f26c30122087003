"""Console pages of the integration engine: connectors and procedures (run now), runs with
progress, a run's log, and a chart of run durations.

Reads are scoped with ``for_tenant`` or the integration access helpers; writes (run now,
cancel) go through the integration actions with the signed-in user as actor.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from bindery.accounts.models import User
from bindery.accounts.permissions import Area
from bindery.integration.access import (
    access_connector_by_id,
    access_node_by_id,
    access_procedure_by_id,
    access_run_by_id,
)
from bindery.integration.actions import do_cancel_run, do_enqueue_run
from bindery.integration.calls import call_url
from bindery.integration.errors import IntegrationError
from bindery.integration.models import (
    Connector,
    Node,
    Procedure,
    ProcedureStep,
    Run,
    RunItemFailure,
    RunLogLine,
    RunStatus,
    Watermark,
)
from bindery.web.paging import paginate, query_without_page
from bindery.web.permissions import can_write, console_view


def node_or_404(user: User, node_id: uuid.UUID) -> Node:
    try:
        return access_node_by_id(user.tenant, node_id, for_write=False)
    except IntegrationError:
        raise Http404("no such node") from None


def connector_or_404(user: User, connector_id: uuid.UUID) -> Connector:
    try:
        return access_connector_by_id(user.tenant, connector_id, for_write=False)
    except IntegrationError:
        raise Http404("no such connector") from None


def procedure_or_404(user: User, procedure_id: uuid.UUID) -> Procedure:
    try:
        return access_procedure_by_id(user.tenant, procedure_id, for_write=False)
    except IntegrationError:
        raise Http404("no such procedure") from None


def run_or_404(user: User, run_id: uuid.UUID) -> Run:
    try:
        return access_run_by_id(user.tenant, run_id, for_write=False)
    except IntegrationError:
        raise Http404("no such run") from None


@console_view(Area.INTEGRATION)
def connector_list(request: HttpRequest, user: User) -> HttpResponse:
    connectors = list(Connector.objects.for_tenant(user.tenant).select_related("node").order_by("name"))
    marks = dict(Watermark.objects.for_tenant(user.tenant).values_list("connector_id", "since"))
    for connector in connectors:
        connector.watermark_since = marks.get(connector.pk)
        connector.call_url = call_url(connector, connector.node.technology)
    return render(request, "web/integration/connector_list.html",
                  {"connectors": connectors, "can_write": can_write(user, Area.INTEGRATION)})


@console_view(Area.INTEGRATION, methods=("POST",), load=connector_or_404)
def connector_run(request: HttpRequest, user: User, connector: Connector) -> HttpResponse:
    try:
        run = do_enqueue_run(connector=connector, actor=user)
    except IntegrationError as exc:
        messages.error(request, exc.message)
        return redirect("web:connectors")
    messages.success(request, f"Run of {connector.name} queued.")
    return redirect("web:run_detail", run_id=run.pk)


@console_view(Area.INTEGRATION)
def procedure_list(request: HttpRequest, user: User) -> HttpResponse:
    procedures = list(Procedure.objects.for_tenant(user.tenant).order_by("name"))
    steps: dict[uuid.UUID, list[str]] = {}
    for step in (ProcedureStep.objects.for_tenant(user.tenant).select_related("connector").order_by("position")):
        steps.setdefault(step.procedure_id, []).append(step.connector.name)
    latest: dict[uuid.UUID, Run] = {}
    for run in Run.objects.for_tenant(user.tenant).filter(procedure__in=procedures).order_by("queued_at"):
        latest[run.procedure_id] = run
    for procedure in procedures:
        procedure.step_names = steps.get(procedure.pk, [])
        procedure.last_run = latest.get(procedure.pk)
    return render(request, "web/integration/procedure_list.html",
                  {"procedures": procedures, "can_write": can_write(user, Area.INTEGRATION)})


@console_view(Area.INTEGRATION, methods=("POST",), load=procedure_or_404)
def procedure_run(request: HttpRequest, user: User, procedure: Procedure) -> HttpResponse:
    try:
        run = do_enqueue_run(procedure=procedure, actor=user)
    except IntegrationError as exc:
        messages.error(request, exc.message)
        return redirect("web:procedures")
    messages.success(request, f"Run of {procedure.name} queued.")
    return redirect("web:run_detail", run_id=run.pk)


@console_view(Area.INTEGRATION)
def run_list(request: HttpRequest, user: User) -> HttpResponse:
    runs = (Run.objects.for_tenant(user.tenant).filter(parent__isnull=True)
            .select_related("connector", "procedure").order_by("-queued_at", "-id"))
    status = request.GET.get("status", "")
    if status in RunStatus.values:
        runs = runs.filter(status=status)
    else:
        status = ""
    page = paginate(request, runs)
    return render(request, "web/integration/run_list.html",
                  {"page": page, "query": query_without_page(request), "status": status,
                   "statuses": RunStatus.choices, "chart": duration_chart(user)})


@console_view(Area.INTEGRATION, load=run_or_404)
def run_detail(request: HttpRequest, user: User, run: Run) -> HttpResponse:
    children = list(Run.objects.for_tenant(user.tenant).filter(parent=run).select_related("connector")
                    .order_by("queued_at"))
    lines = list(RunLogLine.objects.for_tenant(user.tenant).filter(run__in=[run, *children])
                 .order_by("at", "id")[:2000])
    failures = list(RunItemFailure.objects.for_tenant(user.tenant).filter(run__in=[run, *children])
                    .order_by("id")[:500])
    return render(request, "web/integration/run_detail.html",
                  {"run": run, "children": children, "lines": lines, "failures": failures,
                   "can_write": can_write(user, Area.INTEGRATION)})


@console_view(Area.INTEGRATION, methods=("POST",), load=run_or_404)
def run_cancel(request: HttpRequest, user: User, run: Run) -> HttpResponse:
    try:
        do_cancel_run(run, actor=user)
        messages.success(request, "Cancellation requested.")
    except IntegrationError as exc:
        messages.error(request, exc.message)
    return redirect("web:run_detail", run_id=run.pk)


# --- the chart: durations and items of the latest finished runs, as a server-side SVG -----------

CHART_RUNS = 40
CHART_W, CHART_H, PAD = 640, 160, 24


def duration_chart(user: User) -> dict[str, Any] | None:
    """Bars of the last finished runs' durations (oldest left), with items read in the title."""
    runs = list(Run.objects.for_tenant(user.tenant).filter(parent__isnull=True, finished_at__isnull=False,
                                                            started_at__isnull=False)
                .select_related("connector", "procedure").order_by("-finished_at")[:CHART_RUNS])
    if not runs:
        return None
    runs.reverse()
    longest = max((r.duration_seconds or 0) for r in runs) or 1.0
    width = (CHART_W - 2 * PAD) / CHART_RUNS
    bars = []
    for index, run in enumerate(runs):
        seconds = run.duration_seconds or 0
        height = max(1.0, (CHART_H - 2 * PAD) * seconds / longest)
        bars.append({"x": round(PAD + index * width, 1), "y": round(CHART_H - PAD - height, 1),
                     "w": round(width * 0.8, 1), "h": round(height, 1), "status": run.status,
                     "title": f"{run.target_name}: {seconds:.1f} s, {run.read_count} items, {run.status}"})
    return {"bars": bars, "width": CHART_W, "height": CHART_H, "longest": f"{longest:.1f}",
            "baseline": CHART_H - PAD, "pad": PAD, "right": CHART_W - PAD}
