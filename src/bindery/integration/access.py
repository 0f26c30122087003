"""Tenant-scoped getters for integration rows: another tenant's object is simply "not found"."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from django.db.models import QuerySet

from bindery.control.models import LocalTenant
from bindery.control.tenancy import TenantOwnedModel
from bindery.integration.errors import NotFound
from bindery.integration.models import Connector, ExportReference, Node, Procedure, Run

M = TypeVar("M", bound=TenantOwnedModel)


def _parse_id(value: uuid.UUID | str) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _one(model: type[M], tenant: LocalTenant, object_id: uuid.UUID | str, *, for_write: bool, what: str,
         field: str) -> M:
    pk = _parse_id(object_id)
    queryset = model.objects.for_tenant(tenant)
    if for_write:
        queryset = queryset.select_for_update()
    found = queryset.filter(pk=pk).first() if pk is not None else None
    if found is None:
        raise NotFound(f"no {what} {str(object_id)[:60]!r}", field=field)
    return found


def access_node_by_id(tenant: LocalTenant, node_id: uuid.UUID | str, *, for_write: bool) -> Node:
    return _one(Node, tenant, node_id, for_write=for_write, what="node", field="node_id")


def access_connector_by_id(tenant: LocalTenant, connector_id: uuid.UUID | str, *, for_write: bool) -> Connector:
    return _one(Connector, tenant, connector_id, for_write=for_write, what="connector", field="connector_id")


def access_procedure_by_id(tenant: LocalTenant, procedure_id: uuid.UUID | str, *, for_write: bool) -> Procedure:
    return _one(Procedure, tenant, procedure_id, for_write=for_write, what="procedure", field="procedure_id")


def access_run_by_id(tenant: LocalTenant, run_id: uuid.UUID | str, *, for_write: bool) -> Run:
    return _one(Run, tenant, run_id, for_write=for_write, what="run", field="run_id")


def _by_name(model: type[M], tenant: LocalTenant, name: str, *, what: str) -> M:
    found = model.objects.for_tenant(tenant).filter(name=name).first()
    if found is None:
        raise NotFound(f"no {what} named {name[:60]!r}", field="name")
    return found


def access_node_by_ref(tenant: LocalTenant, ref: str) -> Node:
    """A node by id or by name (CLI convenience)."""
    pk = _parse_id(ref)
    return access_node_by_id(tenant, pk, for_write=False) if pk else _by_name(Node, tenant, ref, what="node")


def access_connector_by_ref(tenant: LocalTenant, ref: str) -> Connector:
    pk = _parse_id(ref)
    if pk:
        return access_connector_by_id(tenant, pk, for_write=False)
    return _by_name(Connector, tenant, ref, what="connector")


def access_procedure_by_ref(tenant: LocalTenant, ref: str) -> Procedure:
    pk = _parse_id(ref)
    if pk:
        return access_procedure_by_id(tenant, pk, for_write=False)
    return _by_name(Procedure, tenant, ref, what="procedure")


def exported_ids(connector: Connector, entity_kind: str) -> QuerySet[Any]:
    """Hub ids this connector exported already (a subquery for "not yet exported")."""
    return ExportReference.objects.for_tenant(connector.tenant_id).filter(
        connector=connector, entity_kind=entity_kind).values("hub_id")
