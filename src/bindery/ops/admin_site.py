"""The operators' admin at /ops/: Django's admin, open to operator accounts only.

Tenant users share the session machinery but never pass :meth:`OpsAdminSite.has_permission`,
and the login form authenticates against operators only. Admin writes are logged as JSON
security events rather than in Django's LogEntry, whose user column points at tenant users.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest

from bindery.accounts.models import Operator

logger = logging.getLogger("bindery.ops.audit")


class OperatorAuthenticationForm(AdminAuthenticationForm):
    def confirm_login_allowed(self, user: Any) -> None:
        if not isinstance(user, Operator):
            raise self.get_invalid_login_error()
        super().confirm_login_allowed(user)  # type: ignore[arg-type]  # stubs expect the tenant User


class OpsAdminSite(admin.AdminSite):
    site_header = "Bindery operations"
    site_title = "Bindery operations"
    index_title = "Control plane"
    login_form = OperatorAuthenticationForm
    index_template = "ops/admin_index.html"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return isinstance(user, Operator) and user.is_active


ops_site = OpsAdminSite(name="ops")


class OpsModelAdmin(admin.ModelAdmin):
    """Base for every model shown to operators: audit writes as structured events."""

    def _audit(self, request: HttpRequest, obj: Any, action: str, message: Any = "") -> None:
        logger.info("operator action", extra={
            "event": f"ops.{action}", "operator_id": str(getattr(request.user, "pk", "")),
            "model": obj._meta.label, "object_id": str(obj.pk),
        })

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> None:  # type: ignore[override]
        self._audit(request, obj, "add")

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> None:  # type: ignore[override]
        self._audit(request, obj, "change")

    def log_deletions(self, request: HttpRequest, queryset: Any) -> None:  # type: ignore[override]
        for obj in queryset:
            self._audit(request, obj, "delete")
