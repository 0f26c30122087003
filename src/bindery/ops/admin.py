"""Control-plane models in the operators' admin."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from bindery.accounts.models import Operator
from bindery.control.models import Tenant
from bindery.ops.admin_site import OpsModelAdmin, ops_site


@admin.register(Tenant, site=ops_site)
class TenantAdmin(OpsModelAdmin):
    list_display = ("slug", "name", "plan", "created_at")
    search_fields = ("slug", "name")
    readonly_fields = ("id", "created_at")


@admin.register(Operator, site=ops_site)
class OperatorAdmin(OpsModelAdmin):
    list_display = ("email", "name", "is_active", "last_login")
    search_fields = ("email", "name")
    fields = ("email", "name", "is_active", "last_login", "created_at")
    readonly_fields = ("last_login", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Operators are created with `bindery operators create`, which sets a strong password.
        return False
