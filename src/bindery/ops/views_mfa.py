"""The operators' second step: enrol an authenticator at the first sign-in, then a code every time."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from bindery.accounts import mfa, two_step
from bindery.accounts.models import Operator
from bindery.ops.admin_site import ops_site


@never_cache
@csrf_protect
@sensitive_post_parameters("code")
def operator_mfa(request: HttpRequest) -> HttpResponseBase:
    operator = two_step.pending(request, "operator")
    if not isinstance(operator, Operator):
        return redirect("ops:login")
    context = {**ops_site.each_context(request), "title": "Second step", "error": ""}
    code = request.POST.get("code", "") if request.method == "POST" else ""
    if not mfa.has_mfa(operator):
        # First sign-in: operators must have a second factor before they reach anything.
        if request.method == "POST":
            try:
                codes = mfa.confirm_enrolment(operator, code)
            except mfa.MfaError as exc:
                context["error"] = str(exc)
            else:
                two_step.finish(request, operator)
                return render(request, "ops/mfa.html", {**context, "codes": codes})
        context["enrolment"] = mfa.start_enrolment(operator)
        return render(request, "ops/mfa.html", context, status=400 if context["error"] else 200)
    if request.method == "POST":
        if two_step.check_code(request, operator, code) is not None:
            two_step.finish(request, operator)
            return HttpResponseRedirect(reverse("ops:index"))
        if two_step.pending(request, "operator") is None:
            return redirect("ops:login")
        context["error"] = "That code is not right."
    status = 400 if context["error"] else 200
    response: HttpResponse = render(request, "ops/mfa.html", context, status=status)
    return response
