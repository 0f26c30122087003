"""Operators' support access pages: open a grant with a reason, then read that tenant's data."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone

from bindery.accounts import support
from bindery.accounts.models import Operator, SupportGrant, User, by_email
from bindery.catalog.models import Product
from bindery.control.models import LocalTenant
from bindery.control.rls import tenant_scope
from bindery.integration.models import Run
from bindery.ops.admin_site import ops_site
from bindery.sales.models import Order


class GrantForm(forms.Form):
    tenant = forms.SlugField(max_length=63, label="Workspace")
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text="The ticket and what you will look at. The workspace's owners see it.")
    hours = forms.IntegerField(min_value=1, max_value=support.MAX_HOURS, initial=2)


def _operator(request: HttpRequest) -> Operator:
    user = request.user
    assert isinstance(user, Operator)  # admin_view lets only operators through
    return user


def support_page(request: HttpRequest) -> HttpResponseBase:
    operator = _operator(request)
    form = GrantForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        tenant = LocalTenant.objects.filter(slug=form.cleaned_data["tenant"].lower()).first()
        if tenant is None:
            form.add_error("tenant", "no such workspace on this host")
        else:
            try:
                grant = support.do_grant_support_access(operator, tenant, form.cleaned_data["reason"],
                                                        form.cleaned_data["hours"])
            except support.SupportError as exc:
                form.add_error(None, str(exc))
            else:
                return redirect("ops_support_grant", grant_id=grant.pk)
    grants = SupportGrant.objects.unscoped().select_related("tenant").filter(
        operator_id=operator.pk, ended_at__isnull=True, expires_at__gt=timezone.now())
    context = {**ops_site.each_context(request), "title": "Support access", "form": form, "grants": grants}
    return render(request, "ops/support.html", context, status=400 if form.errors else 200)


def support_grant(request: HttpRequest, grant_id: uuid.UUID) -> HttpResponse:
    grant = support.active_grant(_operator(request), grant_id)
    if grant is None:
        raise Http404("no running support access with this id")
    tenant = grant.tenant
    with tenant_scope(tenant.pk):
        data = {
            "members": by_email(User.objects.for_tenant(tenant).filter(is_active=True)),
            "runs": list(Run.objects.for_tenant(tenant).order_by("-queued_at")[:50]),
            "products": Product.objects.for_tenant(tenant).count(),
            "orders": Order.objects.for_tenant(tenant).count(),
        }
    context = {**ops_site.each_context(request), "title": f"Support access: {tenant.name}", "grant": grant, **data}
    return render(request, "ops/support_grant.html", context)


def support_end(request: HttpRequest, grant_id: uuid.UUID) -> HttpResponseBase:
    if request.method != "POST":
        raise Http404
    grant = support.active_grant(_operator(request), grant_id)
    if grant is not None:
        support.do_end_support_access(grant, actor=_operator(request))
        messages.success(request, "Support access ended.")
    return redirect("ops_support")
