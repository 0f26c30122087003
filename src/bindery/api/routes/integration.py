"""Integration API: technologies, nodes, connectors, procedures and runs (scopes ``integration:*``).

Credentials go in and never come out: responses list the stored credential field names with
masked values. Settings, credentials and configurations are validated by the technology's
schemas; every bad field comes back in ``errors`` of a 422.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Router, Schema, Status
from pydantic import ConfigDict, Field

from bindery.api.auth import require_scope
from bindery.api.pagination import DEFAULT_LIMIT, paginate
from bindery.api.schemas.common import ERRORS_LIST, ERRORS_READ, ERRORS_WRITE
from bindery.control.models import LocalTenant
from bindery.integration import registry
from bindery.integration.access import (
    access_connector_by_id,
    access_node_by_id,
    access_procedure_by_id,
    access_run_by_id,
)
from bindery.integration.actions import (
    do_cancel_run,
    do_create_connector,
    do_create_node,
    do_create_procedure,
    do_delete_connector,
    do_delete_node,
    do_delete_procedure,
    do_enqueue_run,
    do_update_connector,
    do_update_node,
    do_update_procedure,
    masked_credentials,
)
from bindery.integration.calls import call_url
from bindery.integration.errors import IntegrationError, IntegrationErrorCode
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

router = Router(tags=["integration"])
Name = Field(min_length=1, max_length=100)
JsonObject = dict[str, Any]


def _tenant(request: HttpRequest) -> LocalTenant:
    tenant: LocalTenant = request.tenant  # type: ignore[attr-defined]  # set by bindery.api.auth
    return tenant


class InputSchema(Schema):
    model_config = ConfigDict(extra="forbid")


# --- schemas ------------------------------------------------------------------------------------


class ConnectorTypeOut(Schema):
    key: str
    name: str
    direction: str
    capabilities: list[str]
    description: str
    config_schema: JsonObject


class TechnologyOut(Schema):
    key: str
    name: str
    description: str
    settings_schema: JsonObject
    credentials_schema: JsonObject
    connector_types: list[ConnectorTypeOut]


class NodeIn(InputSchema):
    name: str = Name
    technology: str = Field(min_length=1, max_length=50)
    settings: JsonObject | None = None
    credentials: JsonObject | None = Field(default=None, description="stored encrypted; never returned")


class NodePatch(InputSchema):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    settings: JsonObject | None = None
    credentials: JsonObject | None = Field(default=None, description="replaces all stored credentials")
    enabled: bool | None = None


class NodeOut(Schema):
    id: uuid.UUID
    name: str
    technology: str
    settings: JsonObject
    credentials: dict[str, str] = Field(description="field names with masked values")
    enabled: bool
    created_at: dt.datetime
    modified_at: dt.datetime


class NodePageOut(Schema):
    items: list[NodeOut]
    next_cursor: str | None


class ConnectorIn(InputSchema):
    name: str = Name
    node_id: uuid.UUID
    connector_type: str = Field(min_length=1, max_length=50)
    config: JsonObject | None = None
    simulate: bool = False
    differential: bool = False
    product_filter: JsonObject | None = None
    order_filter: JsonObject | None = None
    output_node_id: uuid.UUID | None = None


class ConnectorPatch(InputSchema):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    config: JsonObject | None = None
    simulate: bool | None = None
    differential: bool | None = None
    product_filter: JsonObject | None = None
    order_filter: JsonObject | None = None
    enabled: bool | None = None


class ConnectorOut(Schema):
    id: uuid.UUID
    name: str
    node_id: uuid.UUID
    connector_type: str
    config: JsonObject
    simulate: bool
    differential: bool
    product_filter: JsonObject
    order_filter: JsonObject
    output_node_id: uuid.UUID | None
    enabled: bool
    watermark: dt.datetime | None = Field(description="start of the last successful run (differential)")
    url: str | None = Field(default=None, description="for a passive connector: the method and URL other "
                                                      "systems call")
    created_at: dt.datetime
    modified_at: dt.datetime


class ConnectorPageOut(Schema):
    items: list[ConnectorOut]
    next_cursor: str | None


class ProcedureIn(InputSchema):
    name: str = Name
    connector_ids: list[uuid.UUID] = Field(max_length=100)
    interval_minutes: int = Field(default=60, ge=1, le=44640)
    windows: list[JsonObject] | None = Field(default=None, max_length=50)
    enabled: bool = True
    alert_emails: list[str] | None = Field(default=None, max_length=10, description="e-mailed on failed or late runs")
    delay_alert_minutes: int | None = Field(default=None, ge=1, le=10080)


class ProcedurePatch(InputSchema):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    connector_ids: list[uuid.UUID] | None = Field(default=None, max_length=100)
    interval_minutes: int | None = Field(default=None, ge=1, le=44640)
    windows: list[JsonObject] | None = Field(default=None, max_length=50)
    enabled: bool | None = None
    alert_emails: list[str] | None = Field(default=None, max_length=10)
    delay_alert_minutes: int | None = Field(default=None, ge=1, le=10080)


class ProcedureOut(Schema):
    id: uuid.UUID
    name: str
    connector_ids: list[uuid.UUID]
    interval_minutes: int
    windows: list[JsonObject]
    enabled: bool
    alert_emails: list[str]
    delay_alert_minutes: int | None
    next_run_at: dt.datetime | None
    created_at: dt.datetime
    modified_at: dt.datetime


class ProcedurePageOut(Schema):
    items: list[ProcedureOut]
    next_cursor: str | None


class RunOut(Schema):
    id: uuid.UUID
    connector_id: uuid.UUID | None
    procedure_id: uuid.UUID | None
    parent_id: uuid.UUID | None
    status: str
    trigger: str
    simulate: bool
    differential_since: dt.datetime | None
    attempt: int
    max_attempts: int
    queued_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    cancel_requested: bool
    progress_done: int
    progress_total: int | None
    counters: dict[str, int]
    error: str


class RunPageOut(Schema):
    items: list[RunOut]
    next_cursor: str | None


class LogLineOut(Schema):
    at: dt.datetime
    level: str
    message: str


class FailureOut(Schema):
    item: str
    code: str
    field: str
    message: str


class RunLogOut(Schema):
    lines: list[LogLineOut]
    failures: list[FailureOut]


# --- serializers --------------------------------------------------------------------------------


def _node(node: Node) -> dict[str, Any]:
    return {"id": node.pk, "name": node.name, "technology": node.technology, "settings": node.settings,
            "credentials": masked_credentials(node), "enabled": node.enabled, "created_at": node.created_at,
            "modified_at": node.modified_at}


def _connector(connector: Connector, watermarks: dict[uuid.UUID, dt.datetime] | None = None) -> dict[str, Any]:
    if watermarks is None:
        watermarks = dict(Watermark.objects.for_tenant(connector.tenant_id).filter(connector=connector)
                          .values_list("connector_id", "since"))
    return {"id": connector.pk, "name": connector.name, "node_id": connector.node_id,
            "connector_type": connector.connector_type, "config": connector.config, "simulate": connector.simulate,
            "differential": connector.differential, "product_filter": connector.product_filter,
            "order_filter": connector.order_filter, "output_node_id": connector.output_node_id,
            "enabled": connector.enabled, "watermark": watermarks.get(connector.pk),
            "url": call_url(connector, connector.node.technology),  # lists read nodes in the same query
            "created_at": connector.created_at, "modified_at": connector.modified_at}


def _procedure(procedure: Procedure, steps: dict[uuid.UUID, list[uuid.UUID]] | None = None) -> dict[str, Any]:
    if steps is None:
        steps = _steps_of(procedure.tenant_id, [procedure.pk])
    return {"id": procedure.pk, "name": procedure.name, "connector_ids": steps.get(procedure.pk, []),
            "interval_minutes": procedure.interval_minutes, "windows": procedure.windows,
            "enabled": procedure.enabled, "alert_emails": list(procedure.alert_emails or []),
            "delay_alert_minutes": procedure.delay_alert_minutes,
            "next_run_at": procedure.next_run_at, "created_at": procedure.created_at,
            "modified_at": procedure.modified_at}


def _steps_of(tenant_id: uuid.UUID, procedure_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    steps: dict[uuid.UUID, list[uuid.UUID]] = {}
    for procedure_id, connector_id in (ProcedureStep.objects.for_tenant(tenant_id)
                                       .filter(procedure_id__in=procedure_ids).order_by("position")
                                       .values_list("procedure_id", "connector_id")):
        steps.setdefault(procedure_id, []).append(connector_id)
    return steps


def _run(run: Run) -> dict[str, Any]:
    return {"id": run.pk, "connector_id": run.connector_id, "procedure_id": run.procedure_id,
            "parent_id": run.parent_id, "status": run.status, "trigger": run.trigger, "simulate": run.simulate,
            "differential_since": run.differential_since, "attempt": run.attempt, "max_attempts": run.max_attempts,
            "queued_at": run.queued_at, "started_at": run.started_at, "finished_at": run.finished_at,
            "heartbeat_at": run.heartbeat_at, "cancel_requested": run.cancel_requested,
            "progress_done": run.progress_done, "progress_total": run.progress_total,
            "counters": {"read": run.read_count, "created": run.created_count, "updated": run.updated_count,
                         "skipped": run.skipped_count, "failed": run.failed_count},
            "error": run.error}


# --- technologies -------------------------------------------------------------------------------


@router.get("/technologies", response={200: list[TechnologyOut], **ERRORS_READ},
            summary="Installed technologies, their schemas and connector types")
def list_technologies(request: HttpRequest) -> list[dict[str, Any]]:
    require_scope(request, "integration:read")
    return [{"key": t.key, "name": t.name, "description": t.description,
             "settings_schema": registry.describe_schema(t.settings_schema),
             "credentials_schema": registry.describe_schema(t.credentials_schema),
             "connector_types": [{"key": c.key, "name": c.name, "direction": str(c.direction),
                                  "capabilities": sorted(str(x) for x in c.capabilities),
                                  "description": c.description,
                                  "config_schema": registry.describe_schema(c.config_schema)}
                                 for c in t.connector_types]}
            for t in registry.all_technologies()]


# --- nodes --------------------------------------------------------------------------------------


@router.get("/nodes", response={200: NodePageOut, **ERRORS_LIST}, summary="List nodes (credentials masked)")
def list_nodes(request: HttpRequest, cursor: str | None = None, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    require_scope(request, "integration:read")
    rows, next_cursor = paginate(Node.objects.for_tenant(_tenant(request)), cursor=cursor, limit=limit)
    return {"items": [_node(n) for n in rows], "next_cursor": next_cursor}


@router.post("/nodes", response={201: NodeOut, **ERRORS_WRITE}, summary="Create a node")
def create_node(request: HttpRequest, payload: NodeIn) -> Status:
    token = require_scope(request, "integration:write")
    node = do_create_node(_tenant(request), payload.name, payload.technology, settings=payload.settings,
                          credentials=payload.credentials, actor=token)
    return Status(201, _node(node))


@router.get("/nodes/{node_id}", response={200: NodeOut, **ERRORS_READ}, summary="Read a node")
def read_node(request: HttpRequest, node_id: uuid.UUID) -> dict[str, Any]:
    require_scope(request, "integration:read")
    return _node(access_node_by_id(_tenant(request), node_id, for_write=False))


@router.patch("/nodes/{node_id}", response={200: NodeOut, **ERRORS_WRITE},
              summary="Change a node (credentials, when given, replace the stored ones)")
def update_node(request: HttpRequest, node_id: uuid.UUID, payload: NodePatch) -> dict[str, Any]:
    token = require_scope(request, "integration:write")
    node = access_node_by_id(_tenant(request), node_id, for_write=False)
    given = payload.model_dump(exclude_unset=True)
    kwargs: dict[str, Any] = {k: given[k] for k in ("settings", "credentials") if k in given}
    node = do_update_node(node, name=payload.name, enabled=payload.enabled, actor=token, **kwargs)
    return _node(node)


@router.delete("/nodes/{node_id}", response={204: None, **ERRORS_WRITE},
               summary="Delete a node with its bindings (409 while connectors use it)")
def delete_node(request: HttpRequest, node_id: uuid.UUID) -> Status:
    token = require_scope(request, "integration:write")
    do_delete_node(access_node_by_id(_tenant(request), node_id, for_write=False), actor=token)
    return Status(204, None)


class WebhookSecretIn(Schema):
    scheme: Literal["standard", "shopify", "woocommerce"]
    secret: str | None = Field(default=None, max_length=300,
                               description="the sender's secret (Shopify, WooCommerce); omit to have one generated")


class WebhookInboxOut(Schema):
    url: str
    scheme: str
    secret: str | None = Field(description="the generated secret, shown this once; null when you gave yours")


@router.post("/nodes/{node_id}/webhook-secret", response={201: WebhookInboxOut, **ERRORS_WRITE},
             summary="Open (or re-key) the node's webhook inbox")
def set_webhook_secret(request: HttpRequest, node_id: uuid.UUID, payload: WebhookSecretIn) -> Status:
    from django.conf import settings

    from bindery.integration.webhooks import do_set_webhook_secret

    token = require_scope(request, "integration:write")
    node = access_node_by_id(_tenant(request), node_id, for_write=False)
    secret = do_set_webhook_secret(node, scheme=payload.scheme, secret=payload.secret, actor=token)
    return Status(201, {"url": f"{settings.BINDERY_PUBLIC_URL.rstrip('/')}/api/webhooks/{node.pk}",
                        "scheme": payload.scheme, "secret": None if payload.secret else secret})


# --- connectors ---------------------------------------------------------------------------------


@router.get("/connectors", response={200: ConnectorPageOut, **ERRORS_LIST}, summary="List connectors")
def list_connectors(request: HttpRequest, node_id: uuid.UUID | None = None, cursor: str | None = None,
                    limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    require_scope(request, "integration:read")
    tenant = _tenant(request)
    connectors = Connector.objects.for_tenant(tenant).select_related("node")
    if node_id is not None:
        connectors = connectors.filter(node_id=node_id)
    rows, next_cursor = paginate(connectors, cursor=cursor, limit=limit)
    marks = dict(Watermark.objects.for_tenant(tenant).filter(connector__in=rows).values_list("connector_id", "since"))
    return {"items": [_connector(c, marks) for c in rows], "next_cursor": next_cursor}


@router.post("/connectors", response={201: ConnectorOut, **ERRORS_WRITE}, summary="Create a connector")
def create_connector(request: HttpRequest, payload: ConnectorIn) -> Status:
    token = require_scope(request, "integration:write")
    tenant = _tenant(request)
    node = access_node_by_id(tenant, payload.node_id, for_write=False)
    output = access_node_by_id(tenant, payload.output_node_id, for_write=False) if payload.output_node_id else None
    connector = do_create_connector(tenant, payload.name, node, payload.connector_type, config=payload.config,
                                    simulate=payload.simulate, differential=payload.differential,
                                    product_filter=payload.product_filter, order_filter=payload.order_filter,
                                    output_node=output, actor=token)
    return Status(201, _connector(connector))


@router.get("/connectors/{connector_id}", response={200: ConnectorOut, **ERRORS_READ}, summary="Read a connector")
def read_connector(request: HttpRequest, connector_id: uuid.UUID) -> dict[str, Any]:
    require_scope(request, "integration:read")
    return _connector(access_connector_by_id(_tenant(request), connector_id, for_write=False))


@router.patch("/connectors/{connector_id}", response={200: ConnectorOut, **ERRORS_WRITE},
              summary="Change a connector (a new configuration or filter resets its watermark)")
def update_connector(request: HttpRequest, connector_id: uuid.UUID, payload: ConnectorPatch) -> dict[str, Any]:
    token = require_scope(request, "integration:write")
    connector = access_connector_by_id(_tenant(request), connector_id, for_write=False)
    given = payload.model_dump(exclude_unset=True)
    kwargs: dict[str, Any] = {k: given[k] for k in ("config", "product_filter", "order_filter") if k in given}
    connector = do_update_connector(connector, name=payload.name, simulate=payload.simulate,
                                    differential=payload.differential, enabled=payload.enabled, actor=token,
                                    **kwargs)
    return _connector(connector)


@router.delete("/connectors/{connector_id}", response={204: None, **ERRORS_WRITE},
               summary="Delete a connector with its runs (409 while a procedure lists it or it runs)")
def delete_connector(request: HttpRequest, connector_id: uuid.UUID) -> Status:
    token = require_scope(request, "integration:write")
    do_delete_connector(access_connector_by_id(_tenant(request), connector_id, for_write=False), actor=token)
    return Status(204, None)


@router.post("/connectors/{connector_id}/run", response={202: RunOut, **ERRORS_WRITE},
             summary="Run a connector now (409 if it is already queued or running)")
def run_connector(request: HttpRequest, connector_id: uuid.UUID) -> Status:
    token = require_scope(request, "integration:write")
    connector = access_connector_by_id(_tenant(request), connector_id, for_write=False)
    run = do_enqueue_run(connector=connector, actor=token)
    run.refresh_from_db()
    return Status(202, _run(run))


# --- procedures ---------------------------------------------------------------------------------


def _connectors(tenant: LocalTenant, ids: list[uuid.UUID]) -> list[Connector]:
    found = {c.pk: c for c in Connector.objects.for_tenant(tenant).filter(pk__in=ids)}
    for index, connector_id in enumerate(ids):
        if connector_id not in found:
            raise IntegrationError(IntegrationErrorCode.NOT_FOUND, f"no connector {connector_id}",
                                   field=f"connector_ids.{index}")
    return [found[i] for i in ids]


@router.get("/procedures", response={200: ProcedurePageOut, **ERRORS_LIST}, summary="List procedures")
def list_procedures(request: HttpRequest, cursor: str | None = None, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    require_scope(request, "integration:read")
    tenant = _tenant(request)
    rows, next_cursor = paginate(Procedure.objects.for_tenant(tenant), cursor=cursor, limit=limit)
    steps = _steps_of(tenant.pk, [p.pk for p in rows])
    return {"items": [_procedure(p, steps) for p in rows], "next_cursor": next_cursor}


@router.post("/procedures", response={201: ProcedureOut, **ERRORS_WRITE}, summary="Create a procedure")
def create_procedure(request: HttpRequest, payload: ProcedureIn) -> Status:
    token = require_scope(request, "integration:write")
    tenant = _tenant(request)
    procedure = do_create_procedure(tenant, payload.name, _connectors(tenant, payload.connector_ids),
                                    interval_minutes=payload.interval_minutes, windows=payload.windows,
                                    enabled=payload.enabled, alert_emails=payload.alert_emails,
                                    delay_alert_minutes=payload.delay_alert_minutes, actor=token)
    return Status(201, _procedure(procedure))


@router.get("/procedures/{procedure_id}", response={200: ProcedureOut, **ERRORS_READ}, summary="Read a procedure")
def read_procedure(request: HttpRequest, procedure_id: uuid.UUID) -> dict[str, Any]:
    require_scope(request, "integration:read")
    return _procedure(access_procedure_by_id(_tenant(request), procedure_id, for_write=False))


@router.patch("/procedures/{procedure_id}", response={200: ProcedureOut, **ERRORS_WRITE},
              summary="Change a procedure (connector_ids replaces the ordered steps)")
def update_procedure(request: HttpRequest, procedure_id: uuid.UUID, payload: ProcedurePatch) -> dict[str, Any]:
    token = require_scope(request, "integration:write")
    tenant = _tenant(request)
    procedure = access_procedure_by_id(tenant, procedure_id, for_write=False)
    given = payload.model_dump(exclude_unset=True)
    kwargs: dict[str, Any] = {k: given[k] for k in ("windows", "alert_emails", "delay_alert_minutes") if k in given}
    connectors = _connectors(tenant, payload.connector_ids) if payload.connector_ids is not None else None
    procedure = do_update_procedure(procedure, name=payload.name, connectors=connectors,
                                    interval_minutes=payload.interval_minutes, enabled=payload.enabled,
                                    actor=token, **kwargs)
    return _procedure(procedure)


@router.delete("/procedures/{procedure_id}", response={204: None, **ERRORS_WRITE},
               summary="Delete a procedure with its steps and runs (409 while it runs); connectors stay")
def delete_procedure(request: HttpRequest, procedure_id: uuid.UUID) -> Status:
    token = require_scope(request, "integration:write")
    do_delete_procedure(access_procedure_by_id(_tenant(request), procedure_id, for_write=False), actor=token)
    return Status(204, None)


@router.post("/procedures/{procedure_id}/run", response={202: RunOut, **ERRORS_WRITE},
             summary="Run a procedure now (409 if it is already queued or running)")
def run_procedure(request: HttpRequest, procedure_id: uuid.UUID) -> Status:
    token = require_scope(request, "integration:write")
    procedure = access_procedure_by_id(_tenant(request), procedure_id, for_write=False)
    run = do_enqueue_run(procedure=procedure, actor=token)
    run.refresh_from_db()
    return Status(202, _run(run))


# --- runs ---------------------------------------------------------------------------------------


@router.get("/runs", response={200: RunPageOut, **ERRORS_LIST}, summary="List runs, newest last (cursor order)")
def list_runs(request: HttpRequest, status: RunStatus | None = None, connector_id: uuid.UUID | None = None,
              procedure_id: uuid.UUID | None = None, parent_id: uuid.UUID | None = None,
              cursor: str | None = None, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    require_scope(request, "integration:read")
    runs = Run.objects.for_tenant(_tenant(request))
    for name, value in (("status", status), ("connector_id", connector_id), ("procedure_id", procedure_id),
                        ("parent_id", parent_id)):
        if value is not None:
            runs = runs.filter(**{name: value})
    rows, next_cursor = paginate(runs, cursor=cursor, limit=limit)
    return {"items": [_run(r) for r in rows], "next_cursor": next_cursor}


@router.get("/runs/{run_id}", response={200: RunOut, **ERRORS_READ}, summary="Read a run (status, progress)")
def read_run(request: HttpRequest, run_id: uuid.UUID) -> dict[str, Any]:
    require_scope(request, "integration:read")
    return _run(access_run_by_id(_tenant(request), run_id, for_write=False))


@router.get("/runs/{run_id}/log", response={200: RunLogOut, **ERRORS_READ},
            summary="A run's readable log and failed items (first 1000 of each)")
def read_run_log(request: HttpRequest, run_id: uuid.UUID) -> dict[str, Any]:
    require_scope(request, "integration:read")
    tenant = _tenant(request)
    run = access_run_by_id(tenant, run_id, for_write=False)
    lines = RunLogLine.objects.for_tenant(tenant).filter(run=run).order_by("id")[:1000]
    failures = RunItemFailure.objects.for_tenant(tenant).filter(run=run).order_by("id")[:1000]
    return {"lines": [{"at": x.at, "level": x.level, "message": x.message} for x in lines],
            "failures": [{"item": f.item, "code": f.code, "field": f.field, "message": f.message} for f in failures]}


@router.post("/runs/{run_id}/cancel", response={200: RunOut, **ERRORS_WRITE},
             summary="Cancel a queued run, or ask a running one to stop at its next checkpoint")
def cancel_run(request: HttpRequest, run_id: uuid.UUID) -> dict[str, Any]:
    token = require_scope(request, "integration:write")
    run = do_cancel_run(access_run_by_id(_tenant(request), run_id, for_write=False), actor=token)
    return _run(run)


_STATUS = {
    IntegrationErrorCode.NOT_FOUND: 404,
    IntegrationErrorCode.ALREADY_EXISTS: 409,
    IntegrationErrorCode.ALREADY_RUNNING: 409,
    IntegrationErrorCode.NOT_CANCELLABLE: 409,
    IntegrationErrorCode.IN_USE: 409,
    IntegrationErrorCode.DISABLED: 409,
}


def register(api: NinjaAPI) -> None:
    """Add the integration routes and the IntegrationError handler (called from bindery.api.main)."""

    def _integration_error(request: HttpRequest, exc: IntegrationError | type[IntegrationError]) -> HttpResponse:
        assert isinstance(exc, IntegrationError)
        body: dict[str, Any] = {"code": str(exc.code), "message": exc.message}
        if exc.field:
            body["field"] = exc.field
        if exc.errors:
            body["errors"] = [{"field": e.field, "message": e.message} for e in exc.errors]
        return api.create_response(request, body, status=_STATUS.get(exc.code, 422))

    api.add_exception_handler(IntegrationError, _integration_error)
    api.add_router("", router)
