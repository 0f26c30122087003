"""Console pages: sign-in, home, password change, sign-out."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import auth
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from bindery.accounts import mfa, sessions, two_step
from bindery.accounts.actions import do_set_password
from bindery.accounts.models import User
from bindery.web.forms import SignInForm


def _tenant_user(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = ""
    if request.method == "POST":
        moved = _workspace_elsewhere(request, request.POST.get("workspace", ""), next_url)
        if moved is not None:
            return moved
    form = SignInForm(request, data=request.POST if request.method == "POST" else None,
                      initial={"workspace": request.GET.get("workspace", "")[:63]})
    if request.method == "POST" and form.is_valid():
        assert form.user is not None
        if mfa.has_mfa(form.user):
            two_step.begin(request, form.user)  # not signed in until the code is right
            target = reverse("web:login_code")
            return HttpResponseRedirect(f"{target}?{urlencode({'next': next_url})}" if next_url else target)
        auth.login(request, form.user)  # rotates the session key
        return HttpResponseRedirect(next_url or reverse("web:home"))
    status = 400 if request.method == "POST" else 200
    return render(request, "web/sign_in.html", {"form": form, "next": next_url}, status=status)


def _workspace_elsewhere(request: HttpRequest, slug: str, next_url: str) -> HttpResponse | None:
    """Send a sign-in for a workspace served by another host to that host's sign-in page.

    303, not 307: the password is not re-posted across hosts (and this host's CSRF token means
    nothing there); the owner's page opens with the workspace filled in. A workspace unknown to
    this host is looked up in the directory by its slug, so signing in at any host works.
    """
    from django.core.exceptions import ValidationError

    from bindery.control.directory import TenantElsewhere, check_served_here, lookup, redirect_url
    from bindery.control.middleware import tenant_elsewhere_response
    from bindery.control.models import LocalTenant, Tenant, slug_validator

    slug = slug.strip().lower()[:63]
    try:
        slug_validator(slug)  # not a slug (empty, NUL, quotes): no workspace anywhere; the form says so
    except ValidationError:
        return None
    try:
        local = LocalTenant.objects.filter(slug=slug).values_list("pk", flat=True).first()
        if local is not None:
            check_served_here(local)
            return None
        try:
            tenant_id = Tenant.objects.filter(slug=slug).values_list("pk", flat=True).first()
        except Exception:  # the control plane is down: nothing to look up, the form says "not right"
            from django.db import connections

            from bindery.control.routers import CONTROL

            connections[CONTROL].close_if_unusable_or_obsolete()
            return None
        entry = lookup(tenant_id) if tenant_id is not None else None
        if entry is None or entry.is_here:
            return None
        raise TenantElsewhere(entry)
    except TenantElsewhere as elsewhere:
        if elsewhere.entry is None:
            return tenant_elsewhere_response(request, elsewhere)
        query = urlencode({"workspace": slug, **({"next": next_url} if next_url else {})})
        response = HttpResponseRedirect(redirect_url(elsewhere.entry, f"{reverse('web:login')}?{query}"))
        response.status_code = 303
        return response


@require_POST
@csrf_protect
def sign_out(request: HttpRequest) -> HttpResponse:
    auth.logout(request)
    return redirect("web:login")


@never_cache
@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = _tenant_user(request)
    if user is None:  # an operator's session: their place is /ops/
        return redirect("ops:index")
    if user.must_change_password:
        return redirect("web:password_change")
    return render(request, "web/home.html", {"tenant": user.tenant, "account": user})


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "web/password_change.html"
    success_url = reverse_lazy("web:home")
    form_class = PasswordChangeForm

    def dispatch(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
        if request.user.is_authenticated and _tenant_user(request) is None:
            return redirect("ops:password_change")
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        user = form.user
        do_set_password(user, form.cleaned_data["new_password1"], actor=user)
        # Keep this session, end every other one (their stored hash no longer matches).
        old_key = self.request.session.session_key
        auth.update_session_auth_hash(self.request, user)  # rotates the session key
        sessions.follow_new_key(self.request, old_key)
        sessions.end_sessions(user, reason="password_changed", keep=self.request)
        return HttpResponseRedirect(self.get_success_url())
