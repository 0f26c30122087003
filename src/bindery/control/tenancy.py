"""Tenant isolation, in one place.

Every tenant-owned model inherits :class:`TenantOwnedModel`: a UUIDv7 primary key (globally
unique, so a tenant's rows can be copied to another host without collisions), a ``tenant``
foreign key to the host's :class:`~bindery.control.models.LocalTenant`, and timestamps.

Its default manager refuses to run a query that was not scoped: ``Model.objects.filter(...)``
raises :class:`UnscopedQueryError` when evaluated, ``Model.objects.for_tenant(t).filter(...)``
works. Code that must cross tenants on purpose (operators' tools, the tenant mover, backups)
says so with ``.unscoped()``. Django's own machinery (related-object access, cascades, ``save``)
uses the plain base manager and is unaffected.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, ClassVar, Self

import uuid6
from django.db import models

if TYPE_CHECKING:
    from bindery.control.models import LocalTenant


def new_id() -> uuid.UUID:
    """Return a new UUIDv7: time-ordered, so indexes stay compact, and globally unique."""
    return uuid.UUID(int=uuid6.uuid7().int)


class UnscopedQueryError(RuntimeError):
    """A query on a tenant-owned model was evaluated without a tenant scope."""


class TenantQuerySet(models.QuerySet):
    """A queryset that must be scoped to one tenant (or explicitly unscoped) before it runs."""

    _scope_checked: bool = False

    def _clone(self) -> Self:
        clone = super()._clone()  # type: ignore[misc]  # private Django API, absent from the stubs
        clone._scope_checked = self._scope_checked
        return clone

    def for_tenant(self, tenant: LocalTenant | uuid.UUID | None) -> Self:
        """Limit to one tenant; ``None`` (no tenant resolved) yields nothing rather than everything."""
        if tenant is None:
            qs = self.none()
        else:
            tenant_id = tenant if isinstance(tenant, uuid.UUID) else tenant.pk
            qs = self.filter(tenant_id=tenant_id)
        qs._scope_checked = True
        return qs

    def unscoped(self) -> Self:
        """Cross tenants on purpose (operators' tools, tenant moves, backups)."""
        qs = self._chain()  # type: ignore[attr-defined]  # private Django API, absent from the stubs
        qs._scope_checked = True
        return qs

    def _require_scope(self) -> None:
        if not self._scope_checked:
            raise UnscopedQueryError(
                f"{self.model.__name__} is tenant-owned: call .for_tenant(tenant) "
                "(or .unscoped() in cross-tenant tools) before running the query"
            )

    # Every way a queryset reaches the database passes one of these.
    def _fetch_all(self) -> None:
        if self._result_cache is None:
            self._require_scope()
        super()._fetch_all()

    def iterator(self, chunk_size: int | None = None) -> Any:
        self._require_scope()
        return super().iterator(chunk_size=chunk_size)

    def count(self) -> int:
        if self._result_cache is None:
            self._require_scope()
        return super().count()

    def exists(self) -> bool:
        if self._result_cache is None:
            self._require_scope()
        return super().exists()

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._require_scope()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs: Any) -> int:
        self._require_scope()
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        self._require_scope()
        return super().delete()

    def explain(self, *, format: Any = None, **options: Any) -> str:
        self._require_scope()
        return super().explain(format=format, **options)


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    """Default manager of tenant-owned models; see the module docstring."""

    def for_tenant(self, tenant: LocalTenant | uuid.UUID | None) -> TenantQuerySet:
        return self.get_queryset().for_tenant(tenant)

    def unscoped(self) -> TenantQuerySet:
        return self.get_queryset().unscoped()


class TenantOwnedModel(models.Model):
    """Base of every tenant-owned row; lives in the delivery host's database."""

    database_role: ClassVar[str] = "host"

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    tenant = models.ForeignKey(
        "control.LocalTenant", on_delete=models.PROTECT, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    objects = TenantManager()

    class Meta:
        abstract = True
