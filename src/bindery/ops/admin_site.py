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
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache

from bindery.accounts.models import Operator

logger = logging.getLogger("bindery.ops.audit")


class OperatorAuthenticationForm(AdminAuthenticationForm):
    def confirm_login_allowed(self, user: Any) -> None:
        if not isinstance(user, Operator):
            raise self.get_invalid_login_error()
        super().confirm_login_allowed(user)  # type: ignore[arg-type]  # stubs expect the tenant User


class OperatorLoginView(LoginView):
    """The password step only: a right password leads to the second step, not into /ops/."""

    def form_valid(self, form: Any) -> HttpResponse:
        from bindery.accounts import two_step

        two_step.begin(self.request, form.get_user())
        return HttpResponseRedirect(reverse("ops_mfa"))


class OpsAdminSite(admin.AdminSite):
    site_header = "Bindery operations"
    site_title = "Bindery operations"
    index_title = "Control plane"
    login_form = OperatorAuthenticationForm
    index_template = "ops/admin_index.html"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return isinstance(user, Operator) and user.is_active

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        from bindery.backups.models import BackupAlert

        alerts = BackupAlert.objects.filter(resolved_at__isnull=True).count()
        return super().index(request, {"open_backup_alerts": alerts, **(extra_context or {})})

    @method_decorator(never_cache)
    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Django's admin login with its form and page, ending in the second step (every operator has one)."""
        if request.method == "GET" and self.has_permission(request):
            return HttpResponseRedirect(reverse("ops:index"))
        context = {**self.each_context(request), "title": "Log in", "subtitle": None,
                   "app_path": request.get_full_path(), "username": "", **(extra_context or {})}
        request.current_app = self.name
        view = OperatorLoginView.as_view(extra_context=context, authentication_form=self.login_form,
                                         template_name=self.login_template or "admin/login.html")
        response = view(request)
        assert isinstance(response, HttpResponse)
        return response


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
