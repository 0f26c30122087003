"""Data-subject requests and the personal-data access log.

Requests name the person in the body (POST), never in the URL, so addresses stay out of
access logs and browser history.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field as NinjaField
from ninja import Query, Router, Schema
from pydantic import AwareDatetime

from bindery.api.errors import ApiError, ApiErrorCode
from bindery.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate
from bindery.api.routes.sales_common import READ_ERRORS, WRITE_ERRORS, sales_auth
from bindery.privacy.audit import PURPOSE_HEADER
from bindery.privacy.models import PersonalDataAccess
from bindery.privacy.subjects import Subject, SubjectError, erase_subject, export_as_csv, export_subject
from bindery.security.client_ip import client_ip

READ = "privacy:read"
WRITE = "privacy:write"

router = Router(tags=["privacy"])


class SubjectIn(Schema):
    email: str = NinjaField("", max_length=254, description="The person's e-mail address (case-insensitive)")
    customer_ids: list[uuid.UUID] = NinjaField(default_factory=list, max_length=100)


class ExportIn(SubjectIn):
    format: str = NinjaField("json", pattern="^(json|csv)$")
    purpose: str = NinjaField("subject access request", min_length=1, max_length=200)


class EraseIn(SubjectIn):
    reason: str = NinjaField(..., min_length=1, max_length=500, description="Recorded with the erasure")


class EraseOut(Schema):
    journal_id: uuid.UUID
    rows_erased: int


class AccessOut(Schema):
    id: uuid.UUID
    created_at: AwareDatetime
    actor: str
    action: str
    resource: str
    object_id: str
    purpose: str
    ip: str | None


class AccessPageOut(Schema):
    items: list[AccessOut]
    next_cursor: str | None


class AccessFilters(Schema):
    actor: str | None = NinjaField(None, max_length=100)
    action: str | None = NinjaField(None, max_length=20)
    since: AwareDatetime | None = None
    cursor: str | None = None
    limit: int = NinjaField(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


def _subject(payload: SubjectIn) -> Subject:
    try:
        return Subject.parse(payload.email, payload.customer_ids)
    except SubjectError as exc:
        raise ApiError(422, ApiErrorCode.INVALID, str(exc), field="email") from None


@router.post("/subject-exports", auth=sales_auth(READ), response={200: dict[str, Any], **READ_ERRORS},
             summary="Export everything held about a person",
             description="JSON by default (every registered personal field of every table where the person "
                         "appears); `format: csv` answers text/csv. Recorded in the access log.")
def export(request: HttpRequest, payload: ExportIn) -> Any:
    result = export_subject(request.tenant, _subject(payload), actor=request.auth,  # type: ignore[attr-defined]
                            purpose=payload.purpose, ip=client_ip(request))
    if payload.format == "csv":
        response = HttpResponse(export_as_csv(result), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="subject-export.csv"'
        return response
    return result


@router.post("/erasures", auth=sales_auth(WRITE), response={200: EraseOut, **WRITE_ERRORS},
             summary="Erase a person's personal data",
             description="Blanks every erasable personal field (order totals, VAT, dates and SKUs stay); "
                         "journaled outside the host's tables and replayed after a restore.")
def erase(request: HttpRequest, payload: EraseIn) -> dict[str, Any]:
    try:
        record = erase_subject(request.tenant, _subject(payload), actor=request.auth,  # type: ignore[attr-defined]
                               reason=payload.reason, ip=client_ip(request))
    except SubjectError as exc:
        raise ApiError(422, ApiErrorCode.INVALID, str(exc)) from None
    return {"journal_id": record.pk, "rows_erased": record.rows_erased}


@router.get("/access-log", auth=sales_auth(READ), response={200: AccessPageOut, **READ_ERRORS},
            summary="Who read, exported or erased personal data",
            description=f"Oldest first. API clients state their purpose in the `{PURPOSE_HEADER[5:]}` header.")
def access_log(request: HttpRequest, filters: Query[AccessFilters]) -> dict[str, Any]:
    qs = PersonalDataAccess.objects.for_tenant(request.tenant)  # type: ignore[attr-defined]
    if filters.actor:
        qs = qs.filter(actor=filters.actor)
    if filters.action:
        qs = qs.filter(action=filters.action)
    if filters.since:
        qs = qs.filter(created_at__gte=filters.since)
    items, next_cursor = paginate(qs, cursor=filters.cursor, limit=filters.limit)
    return {"items": items, "next_cursor": next_cursor}


class KeyRotationOut(Schema):
    key_id: uuid.UUID
    rows_reencrypted: int
    retired_keys: int


@router.post("/key-rotations", auth=sales_auth(WRITE), response={200: KeyRotationOut, **WRITE_ERRORS},
             summary="Rotate the tenant's field-encryption key",
             description="Makes a new data key and re-encrypts every encrypted personal field under it; "
                         "retired keys are kept so older backups stay readable.")
def rotate_key(request: HttpRequest) -> dict[str, Any]:
    from bindery.privacy.keys import rotate_tenant_key

    rotation = rotate_tenant_key(request.tenant, actor=request.auth)  # type: ignore[attr-defined]
    return {"key_id": rotation.key_id, "rows_reencrypted": rotation.rows, "retired_keys": rotation.retired_keys}


class IndexKeyRotationOut(Schema):
    key_id: uuid.UUID
    rows_reindexed: int
    retired_keys: int


@router.post("/index-key-rotations", auth=sales_auth(WRITE), response={200: IndexKeyRotationOut, **WRITE_ERRORS},
             summary="Rotate the tenant's blind-index key",
             description="Makes a new blind-index key and recomputes the e-mail index of every row (customers, "
                         "order addresses, members, invitations) from the decrypted values.")
def rotate_index_key(request: HttpRequest) -> dict[str, Any]:
    from bindery.privacy.keys import rotate_index_key as rotate

    rotation = rotate(request.tenant, actor=request.auth)  # type: ignore[attr-defined]
    return {"key_id": rotation.key_id, "rows_reindexed": rotation.rows, "retired_keys": rotation.retired_keys}
