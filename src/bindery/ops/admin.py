"""Control-plane models in the operators' admin."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from bindery.accounts.models import Operator
from bindery.control.models import Tenant
from bindery.ops.admin_site import OpsModelAdmin, ops_site
from bindery.security.bruteforce import lift
from bindery.security.models import Ban, GlobalIpRule, SecurityEvent


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


@admin.register(Ban, site=ops_site)
class BanAdmin(OpsModelAdmin):
    """The brute-force guard's blacklist; lifting a ban is a recorded security event."""

    list_display = ("source", "account", "scope", "level", "until", "reason", "lifted_by")
    list_filter = ("scope",)
    search_fields = ("source", "account")
    readonly_fields = ("scope", "source", "account", "level", "until", "reason", "created_at", "lifted_at",
                       "lifted_by")
    actions = ["lift_bans", "promote_bans"]

    @admin.action(description="Lift the selected bans")
    def lift_bans(self, request: HttpRequest, queryset: QuerySet[Ban]) -> None:
        for entry in queryset:
            lift(entry, actor=f"operator:{request.user.pk}")

    @admin.action(description="Promote the selected bans to every host and firewall")
    def promote_bans(self, request: HttpRequest, queryset: QuerySet[Ban]) -> None:
        from django.contrib import messages

        from bindery.security.actions import do_promote_ban
        from bindery.security.iprules import IpRuleError

        for entry in queryset:
            try:
                rule = do_promote_ban(entry, actor=f"operator:{request.user.pk}")
            except IpRuleError as exc:
                self.message_user(request, f"{entry.source}: {exc}", messages.WARNING)
            else:
                self.message_user(request, f"{entry.source}: every host refuses {rule.network}.")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # `bindery blacklist add` records who banned and why

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(SecurityEvent, site=ops_site)
class SecurityEventAdmin(OpsModelAdmin):
    list_display = ("created_at", "kind", "ip", "account", "tenant_id", "detail")
    list_filter = ("kind",)
    search_fields = ("ip", "account")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(GlobalIpRule, site=ops_site)
class GlobalIpRuleAdmin(OpsModelAdmin):
    """Rules for every host (promoted bans among them); added and removed as recorded security events."""

    list_display = ("action", "network", "origin", "origin_host", "expires_at", "note", "created_by", "created_at")
    list_filter = ("action", "origin")
    search_fields = ("network", "note")
    readonly_fields = ("action", "network", "origin", "origin_host", "expires_at", "note", "created_by", "created_at")
    actions = ["remove_rules"]

    @admin.action(description="Remove the selected rules")
    def remove_rules(self, request: HttpRequest, queryset: QuerySet[GlobalIpRule]) -> None:
        from bindery.security.actions import do_remove_global_ip_rule

        for rule in queryset:
            do_remove_global_ip_rule(rule, actor=f"operator:{request.user.pk}")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # `bindery iprules add` validates the range and records who added it

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # the "remove" action records a security event; the admin's delete would not
