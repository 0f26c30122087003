"""The development outbox for operators: mail the platform sent while no SMTP server is set."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from bindery.accounts.outbox import list_messages
from bindery.ops.admin_site import ops_site


def outbox(request: HttpRequest) -> HttpResponse:
    smtp = settings.EMAIL_BACKEND != "bindery.accounts.outbox.OutboxBackend"
    context = {**ops_site.each_context(request), "title": "Outbox", "smtp": smtp,
               "messages_sent": [] if smtp else list_messages()}
    return render(request, "ops/outbox.html", context)
