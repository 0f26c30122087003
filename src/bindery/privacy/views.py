"""The public privacy notice, generated from the personal-data registry."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from bindery.privacy.records import privacy_notice


@require_GET
def notice(request: HttpRequest) -> HttpResponse:
    return render(request, "privacy/notice.html", {"notice": privacy_notice()})
