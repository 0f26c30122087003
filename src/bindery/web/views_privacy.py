"""Console pages for data protection: subject export and erasure, and the personal-data access log.

For owners and admins: they answer the merchant's customers' GDPR requests.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from bindery.accounts.models import User
from bindery.accounts.permissions import Access, Area, require_permission
from bindery.accounts.sessions import sudo_required
from bindery.privacy.models import AccessAction, PersonalDataAccess
from bindery.privacy.subjects import Subject, SubjectError, erase_subject, export_as_csv, export_subject
from bindery.security.client_ip import client_ip

LOG_ROWS = 200


def _manager(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("tenant users only")
    require_permission(user, Area.PRIVACY, Access.WRITE if request.method == "POST" else Access.READ)
    return user


class ExportForm(forms.Form):
    # Both forms share field names on one page: distinct ids keep each label tied to its own input.
    def __init__(self, data: object = None) -> None:
        super().__init__(data, auto_id="export_%s")  # type: ignore[arg-type]

    email = forms.EmailField(max_length=254, label="The person's e-mail address")
    format = forms.ChoiceField(choices=[("json", "JSON"), ("csv", "CSV")], initial="json")
    purpose = forms.CharField(max_length=200, initial="subject access request")


class EraseForm(forms.Form):
    def __init__(self, data: object = None) -> None:
        super().__init__(data, auto_id="erase_%s")  # type: ignore[arg-type]

    email = forms.EmailField(max_length=254, label="The person's e-mail address")
    reason = forms.CharField(max_length=500, help_text="Recorded with the erasure, e.g. the request's reference.")
    confirm = forms.BooleanField(label="I understand this cannot be undone")


class LogFilterForm(forms.Form):
    actor = forms.CharField(max_length=100, required=False)
    action = forms.ChoiceField(choices=[("", "any"), *AccessAction.choices], required=False)


def _page(request: HttpRequest, user: User, *, export_form: ExportForm | None = None,
          erase_form: EraseForm | None = None, status: int = 200) -> HttpResponse:
    filters = LogFilterForm(request.GET or None)
    log = PersonalDataAccess.objects.for_tenant(user.tenant).order_by("-created_at")
    if filters.is_valid():
        if filters.cleaned_data["actor"]:
            log = log.filter(actor=filters.cleaned_data["actor"])
        if filters.cleaned_data["action"]:
            log = log.filter(action=filters.cleaned_data["action"])
    return render(request, "web/privacy/index.html", {
        "export_form": export_form or ExportForm(), "erase_form": erase_form or EraseForm(),
        "filters": filters, "log": log[:LOG_ROWS],
    }, status=status)


@never_cache
@login_required
@require_GET
def privacy_home(request: HttpRequest) -> HttpResponse:
    return _page(request, _manager(request))


@never_cache
@login_required
@require_POST
@sudo_required
def privacy_export(request: HttpRequest) -> HttpResponse:
    user = _manager(request)
    form = ExportForm(request.POST)
    if not form.is_valid():
        return _page(request, user, export_form=form, status=400)
    try:
        subject = Subject.parse(form.cleaned_data["email"])
    except SubjectError as exc:
        form.add_error("email", str(exc))
        return _page(request, user, export_form=form, status=400)
    result = export_subject(user.tenant, subject, actor=user, purpose=form.cleaned_data["purpose"],
                            ip=client_ip(request))
    if form.cleaned_data["format"] == "csv":
        response = HttpResponse(export_as_csv(result), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="subject-export.csv"'
    else:
        response = HttpResponse(json.dumps(result, indent=2, default=str), content_type="application/json")
        response["Content-Disposition"] = 'attachment; filename="subject-export.json"'
    return response


@never_cache
@login_required
@require_POST
@sudo_required
def privacy_erase(request: HttpRequest) -> HttpResponse:
    user = _manager(request)
    form = EraseForm(request.POST)
    if not form.is_valid():
        return _page(request, user, erase_form=form, status=400)
    try:
        record = erase_subject(user.tenant, Subject.parse(form.cleaned_data["email"]), actor=user,
                               reason=form.cleaned_data["reason"], ip=client_ip(request))
    except SubjectError as exc:
        form.add_error(None, str(exc))
        return _page(request, user, erase_form=form, status=400)
    messages.success(request, f"Erased: {record.rows_erased} row(s) no longer hold this person's data.")
    return redirect("web:privacy")


for _view in (privacy_home, privacy_export, privacy_erase):
    _view.bindery_area = Area.PRIVACY  # type: ignore[attr-defined]  # read by the permission-matrix test
