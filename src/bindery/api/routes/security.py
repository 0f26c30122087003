"""The tenant's IP rules and security events. Scopes ``security:read`` / ``security:write``.

Rules for the whole workspace (console and API tokens) or for one integration node; deny wins,
and once a scope has allow rules only their ranges are admitted (see docs/security.md). Events
are the workspace's own: those written for it and those about its accounts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from bindery.accounts.permissions import Access, Area, api_scope
from bindery.api.errors import ApiError, ApiErrorCode
from bindery.api.routes.sales_common import ONE_ERRORS, READ_ERRORS, WRITE_ERRORS, sales_auth
from bindery.api.schemas.common import ErrorOut
from bindery.security.actions import do_add_ip_rule, do_remove_ip_rule
from bindery.security.events import (
    EventFilterError,
    event_filter,
    event_row,
    events_per_hour,
    filter_events,
)
from bindery.security.iprules import IpRuleError
from bindery.security.models import IpRule

router = Router(tags=["security"])
READ = api_scope(Area.SECURITY, Access.READ)
WRITE = api_scope(Area.SECURITY, Access.WRITE)


class IpRuleOut(Schema):
    id: uuid.UUID
    action: str
    network: str
    node_id: uuid.UUID | None
    note: str
    created_by: str
    created_at: dt.datetime


class IpRuleListOut(Schema):
    items: list[IpRuleOut]


class IpRuleIn(Schema):
    action: Literal["allow", "deny"]
    network: str = Field(max_length=200, description="an address or CIDR: 192.0.2.0/24, 2001:db8::/48")
    node_id: uuid.UUID | None = Field(None, description="empty: the whole workspace")
    note: str = Field("", max_length=200)


class EventOut(Schema):
    id: int
    at: dt.datetime
    kind: str
    ip: str
    account: str
    tenant_id: uuid.UUID | None
    detail: dict[str, Any]


class EventListOut(Schema):
    items: list[EventOut]


class HourOut(Schema):
    hour: dt.datetime
    count: int


class PerHourOut(Schema):
    hours: list[HourOut]
    total: int


class EventQuery(Schema):
    kind: str = ""
    ip: str = Field("", max_length=200)
    account: str = Field("", max_length=400)
    hours: int = Field(24, ge=1, le=24 * 31)
    limit: int = Field(200, ge=1, le=1000)


def _rule_error(exc: IpRuleError) -> ApiError:
    status = 404 if exc.code == "unknown_node" else 409 if exc.code in ("duplicate_rule", "too_many_rules") else 400
    field = "network" if exc.code == "invalid_cidr" else "node_id" if exc.code == "unknown_node" else None
    return ApiError(status, exc.code, str(exc), field=field)


@router.get("/security/ip-rules", response={200: IpRuleListOut, **READ_ERRORS}, auth=sales_auth(READ),
            summary="List the workspace's and its nodes' IP rules")
def ip_rules(request: HttpRequest) -> dict[str, Any]:
    rules = IpRule.objects.for_tenant(request.tenant).order_by("node_id", "action", "network")  # type: ignore[attr-defined]
    return {"items": list(rules[:1000])}


@router.post("/security/ip-rules", response={201: IpRuleOut, **WRITE_ERRORS}, auth=sales_auth(WRITE),
             summary="Add an IP rule (deny wins; allow rules admit only their ranges)")
def add_ip_rule(request: HttpRequest, payload: IpRuleIn) -> Status[IpRule]:
    from bindery.integration.access import access_node_by_id
    from bindery.integration.errors import NotFound

    tenant = request.tenant  # type: ignore[attr-defined]
    node = None
    if payload.node_id is not None:
        try:
            node = access_node_by_id(tenant, payload.node_id, for_write=False)
        except NotFound:
            raise ApiError(404, ApiErrorCode.NOT_FOUND, "no such node", field="node_id") from None
    try:
        rule = do_add_ip_rule(tenant, payload.action, payload.network, node=node, note=payload.note,
                              actor=request.auth)  # type: ignore[attr-defined]
    except IpRuleError as exc:
        raise _rule_error(exc) from None
    return Status(201, rule)


@router.delete("/security/ip-rules/{rule_id}", response={204: None, **ONE_ERRORS}, auth=sales_auth(WRITE),
               summary="Remove an IP rule")
def remove_ip_rule(request: HttpRequest, rule_id: uuid.UUID) -> Status[None]:
    rule = IpRule.objects.for_tenant(request.tenant).filter(pk=rule_id).first()  # type: ignore[attr-defined]
    if rule is None:
        raise ApiError(404, ApiErrorCode.NOT_FOUND, "no such IP rule")
    do_remove_ip_rule(rule, actor=request.auth)  # type: ignore[attr-defined]
    return Status(204, None)


def _filter(request: HttpRequest, query: EventQuery) -> Any:
    tenant = request.tenant  # type: ignore[attr-defined]
    try:
        return event_filter(kind=query.kind, ip=query.ip, account=query.account, hours=query.hours,
                            tenant_id=tenant.pk, tenant_slug=tenant.slug)
    except EventFilterError as exc:
        raise ApiError(400, ApiErrorCode.INVALID, str(exc), field=exc.field) from None


@router.get("/security/events", response={200: EventListOut, **READ_ERRORS, 400: ErrorOut}, auth=sales_auth(READ),
            summary="The workspace's security events, newest first (filter by kind, IP, account)")
def events(request: HttpRequest, query: Query[EventQuery]) -> dict[str, Any]:
    rows = filter_events(_filter(request, query))[: query.limit]
    return {"items": [event_row(e) for e in rows]}


@router.get("/security/events/per-hour", response={200: PerHourOut, **READ_ERRORS, 400: ErrorOut},
            auth=sales_auth(READ), summary="Counts of the workspace's security events per hour")
def events_hourly(request: HttpRequest, query: Query[EventQuery]) -> dict[str, Any]:
    buckets = events_per_hour(_filter(request, query))
    return {"hours": [{"hour": h, "count": n} for h, n in buckets], "total": sum(n for _, n in buckets)}
