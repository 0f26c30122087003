"""Console page of the workspace's security: IP rules (add, remove) and security events with a chart.

The ``security`` area of the roles matrix: owners change rules, admins read them. A person
adding an allow rule that would lock out their own address is told so and nothing changes.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from bindery.accounts.models import User
from bindery.accounts.permissions import Area
from bindery.integration.models import Node
from bindery.security.actions import do_add_ip_rule, do_remove_ip_rule
from bindery.security.client_ip import client_ip
from bindery.security.events import (
    EventFilterError,
    event_filter,
    events_per_hour,
    filter_events,
    hourly_chart,
)
from bindery.security.iprules import IpRuleError, RuleSet
from bindery.security.models import IpRule, SecurityEventKind
from bindery.web.permissions import can_write, console_view


class IpRuleForm(forms.Form):
    action = forms.ChoiceField(choices=[("deny", "Deny"), ("allow", "Allow")])
    network = forms.CharField(max_length=200, label="Address or range",
                              help_text="192.0.2.0/24, 2001:db8::/48 or one address")
    node = forms.ChoiceField(required=False, label="Applies to",
                             help_text="The whole workspace (console and API tokens), or one node's inbound calls.")
    note = forms.CharField(max_length=200, required=False)

    def __init__(self, *args: object, nodes: list[Node], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.nodes = {str(n.pk): n for n in nodes}
        self.fields["node"].choices = [("", "The whole workspace"), *((str(n.pk), n.name) for n in nodes)]  # type: ignore[attr-defined]


def _locks_out(user: User, action: str, network: str, request: HttpRequest) -> bool:
    """Return whether adding this workspace-wide allow rule would refuse the person's own address."""
    if action != "allow":
        return False
    rows = list(IpRule.objects.for_tenant(user.tenant).filter(node__isnull=True).values_list("action", "network"))
    return not RuleSet.build([*rows, (action, network)]).admits(client_ip(request))


@console_view(Area.SECURITY, methods=("GET", "POST"))
def security_page(request: HttpRequest, user: User) -> HttpResponse:
    nodes = list(Node.objects.for_tenant(user.tenant).order_by("name")[:500])
    form = IpRuleForm(request.POST if request.method == "POST" else None, nodes=nodes)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        node = form.nodes.get(data["node"] or "")
        try:
            from bindery.security.iprules import normalize_network

            network = normalize_network(data["network"])
            if node is None and _locks_out(user, data["action"], network, request):
                form.add_error("network", f"this rule would refuse your own address ({client_ip(request)}); "
                                          "add an allow rule for it first")
            else:
                rule = do_add_ip_rule(user.tenant, data["action"], network, node=node, note=data["note"], actor=user)
                messages.success(request, f"Rule added: {rule.action} {rule.network}.")
                return redirect("web:security")
        except IpRuleError as exc:
            form.add_error("network", str(exc))
    try:
        flt = event_filter(kind=request.GET.get("kind", ""), ip=request.GET.get("ip", ""),
                           account=request.GET.get("account", ""), hours=request.GET.get("hours") or 24,
                           tenant_id=user.tenant.pk, tenant_slug=user.tenant.slug)
        filter_error = ""
    except EventFilterError as exc:
        flt = event_filter(tenant_id=user.tenant.pk, tenant_slug=user.tenant.slug)
        filter_error = str(exc)
    rules = list(IpRule.objects.for_tenant(user.tenant).select_related("node").order_by("node__name", "action",
                                                                                         "network"))
    events = list(filter_events(flt)[:200])
    return render(request, "web/security/page.html", {
        "form": form, "rules": rules, "events": events, "filter": flt, "filter_error": filter_error,
        "kinds": SecurityEventKind.choices, "chart": hourly_chart(events_per_hour(flt)),
        "can_write": can_write(user, Area.SECURITY), "your_ip": client_ip(request),
    }, status=400 if request.method == "POST" else 200)


def _rule_or_404(user: User, rule_id: str) -> IpRule:
    try:
        pk = uuid.UUID(str(rule_id))
    except ValueError:
        raise Http404("no such rule") from None
    rule = IpRule.objects.for_tenant(user.tenant).filter(pk=pk).first()
    if rule is None:
        raise Http404("no such rule")
    return rule


@console_view(Area.SECURITY, methods=("POST",), load=_rule_or_404)
def ip_rule_remove(request: HttpRequest, user: User, rule: IpRule) -> HttpResponse:
    do_remove_ip_rule(rule, actor=user)
    messages.success(request, f"Rule removed: {rule.action} {rule.network}.")
    return redirect("web:security")
