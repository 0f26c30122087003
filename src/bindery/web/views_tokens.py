"""Console pages for the tenant's API tokens: list, create (shown once), revoke.

Managing tokens is the ``tokens`` area of the roles matrix (owners and admins): a token reaches
the tenant's data without a person, so it may only carry scopes the creator's role holds.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from bindery.accounts.models import User
from bindery.accounts.permissions import Access, Area, require_permission, scope_within_role
from bindery.accounts.sessions import sudo_required
from bindery.integration.models import Node
from bindery.security.actions import TOKEN_NODE_TECHNOLOGIES, do_create_api_token, do_revoke_api_token
from bindery.security.errors import TokenActionError
from bindery.security.models import ApiToken
from bindery.security.scopes import all_scopes


def _manager(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("tenant users only")
    require_permission(user, Area.TOKENS, Access.WRITE if request.method == "POST" else Access.READ)
    return user


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)
    scopes = forms.MultipleChoiceField(choices=[(s, s) for s in all_scopes()],
                                       widget=forms.CheckboxSelectMultiple)
    expires_days = forms.IntegerField(min_value=1, max_value=3650, required=False,
                                      label="Expires after (days)", help_text="Empty: never expires.")
    node = forms.ChoiceField(required=False, label="For node",
                             help_text="Empty: a workspace token for the management API. A developer-API or "
                                       "logistics node: the token opens only that node's connector URLs.")

    def __init__(self, *args: Any, tenant: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        nodes = Node.objects.for_tenant(tenant).filter(technology__in=TOKEN_NODE_TECHNOLOGIES).order_by("name")
        node_field = self.fields["node"]
        assert isinstance(node_field, forms.ChoiceField)
        node_field.choices = [("", "— workspace —"), *((str(n.pk), n.name) for n in nodes)]
        self._nodes = {str(n.pk): n for n in nodes}

    def chosen_node(self) -> Any:
        return self._nodes.get(self.cleaned_data.get("node") or "")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
@sudo_required
def token_list(request: HttpRequest) -> HttpResponse:
    user = _manager(request)
    form = TokenForm(request.POST if request.method == "POST" else None, tenant=user.tenant)
    if request.method == "POST" and form.is_valid():
        beyond = [s for s in form.cleaned_data["scopes"] if not scope_within_role(s, user.role)]
        if beyond:
            form.add_error("scopes", f"your role cannot grant {', '.join(beyond)}")
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["expires_days"]
        try:
            row, plaintext = do_create_api_token(
                user.tenant, form.cleaned_data["name"], form.cleaned_data["scopes"],
                expires_in=dt.timedelta(days=days) if days else None, node=form.chosen_node(), actor=user)
        except TokenActionError as exc:
            form.add_error(None, str(exc))
        else:
            # Rendered once, never stored in clear: the page is not cached and not redirected to.
            return render(request, "web/tokens/created.html", {"token": row, "plaintext": plaintext})
    now = timezone.now()
    tokens = [(token, token.state(now)) for token in
              ApiToken.objects.for_tenant(user.tenant).select_related("node").order_by("-created_at")[:500]]
    status = 400 if request.method == "POST" else 200
    return render(request, "web/tokens/list.html", {"form": form, "tokens": tokens}, status=status)


token_list.bindery_area = Area.TOKENS  # type: ignore[attr-defined]


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: str) -> HttpResponse:
    user = _manager(request)
    try:
        pk = uuid.UUID(token_id)
    except ValueError:
        raise Http404("no such token") from None
    token = ApiToken.objects.for_tenant(user.tenant).filter(pk=pk).first()
    if token is None:
        raise Http404("no such token")
    do_revoke_api_token(token, actor=user)
    return redirect("web:tokens")


token_revoke.bindery_area = Area.TOKENS  # type: ignore[attr-defined]
