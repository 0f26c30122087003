"""Customers: list (by e-mail, free text, delta) and read. Customers are written by order upserts."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest
from ninja import Field as NinjaField
from ninja import Query, Router, Schema
from pydantic import AwareDatetime

from bindery.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate
from bindery.api.routes.sales_common import ONE_ERRORS, READ, READ_ERRORS, sales_auth
from bindery.api.routes.sales_schemas import CustomerOut, CustomerPageOut
from bindery.privacy.fields import blind_index
from bindery.sales.access import access_customer_by_id, search_customers
from bindery.sales.models import Customer

router = Router(tags=["customers"])


class CustomerFilters(Schema):
    email: str | None = NinjaField(None, max_length=254, description="Exact, case-insensitive")
    q: str | None = NinjaField(None, min_length=1, max_length=200,
                               description="Part of the name, surname, company, e-mail or code (these are encrypted: "
                               "searched by decrypting, at most 1,000 matches)")
    modified_since: AwareDatetime | None = NinjaField(
        None, description="Delta mode: customers changed at or after this time (ISO 8601 with offset)")
    cursor: str | None = NinjaField(None, description="next_cursor of the previous page")
    limit: int = NinjaField(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


@router.get("", response={200: CustomerPageOut, **READ_ERRORS}, auth=sales_auth(READ),
            summary="List customers", description="Oldest first; follow `next_cursor` until it is null.")
def list_customers(request: HttpRequest, filters: Query[CustomerFilters]) -> dict[str, Any]:
    tenant = request.tenant  # type: ignore[attr-defined]
    qs = Customer.objects.for_tenant(tenant)
    if filters.q is not None:
        qs = search_customers(tenant, filters.q)
    if filters.email is not None:
        # The e-mail is encrypted: equality goes through its blind index (lower-cased, stripped).
        qs = qs.filter(email_index=blind_index(tenant, filters.email) or "-")
    if filters.modified_since is not None:
        qs = qs.filter(modified_at__gte=filters.modified_since)
    items, next_cursor = paginate(qs, cursor=filters.cursor, limit=filters.limit)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/{customer_id}", response={200: CustomerOut, **ONE_ERRORS}, auth=sales_auth(READ),
            summary="Read a customer")
def get_customer(request: HttpRequest, customer_id: uuid.UUID) -> Customer:
    return access_customer_by_id(request.tenant, customer_id, for_write=False)  # type: ignore[attr-defined]
