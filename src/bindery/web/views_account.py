"""Console pages for one's own account: second factor, sessions, re-authentication, resets, invitations.

Pages for the signed-in person need only a signed-in tenant user (no matrix area: everyone manages
their own account); the workspace's security policy and activity log go through the matrix.
"""

from __future__ import annotations

import functools
from typing import Any

from django import forms
from django.contrib import auth, messages
from django.contrib.auth.password_validation import password_validators_help_texts
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from bindery.accounts import links, mfa, passkeys, sessions, support, two_step
from bindery.accounts.access import unwrap_user
from bindery.accounts.activity import EventKind, record_event
from bindery.accounts.models import AccountEvent, LinkPurpose, SecurityPolicy, SupportGrant, User, by_email
from bindery.accounts.permissions import Access, Area, can
from bindery.control.routers import HOST
from bindery.web.csv_export import CHUNK_SIZE, csv_response
from bindery.web.permissions import console_view

CODE_FIELD = forms.CharField(max_length=64, label="Code", strip=True,
                             widget=forms.TextInput(attrs={"autocomplete": "one-time-code",
                                                           "inputmode": "numeric", "autofocus": True}))


class CodeForm(forms.Form):
    code = CODE_FIELD


class ConfirmForm(forms.Form):
    password = forms.CharField(max_length=4096, strip=False, label="Password",
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    code = forms.CharField(max_length=64, required=False, label="Code from your authenticator app",
                           widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}))


class NewPasswordForm(forms.Form):
    password1 = forms.CharField(max_length=4096, strip=False, label="New password",
                                help_text=" ".join(password_validators_help_texts()),
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(max_length=4096, strip=False, label="New password again",
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password1") and data.get("password1") != data.get("password2"):
            raise ValidationError("The two passwords differ.")
        return data


class InvitationForm(NewPasswordForm):
    name = forms.CharField(max_length=200, required=False, label="Your name")
    field_order = ["name", "password1", "password2"]


class ResetRequestForm(forms.Form):
    workspace = forms.SlugField(max_length=63, label="Workspace")
    email = forms.EmailField(max_length=254, label="E-mail")


def _safe_next(request: HttpRequest, value: str | None) -> str:
    if value and url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()},
                                                 require_https=request.is_secure()):
        return value
    return ""


def _signed_in_user(request: HttpRequest) -> User | None:
    user = unwrap_user(request.user)
    return user if isinstance(user, User) and user.is_authenticated else None


def own_account_view(view: Any) -> Any:
    """A page about the signed-in tenant user's own account."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = _signed_in_user(request)
        if user is None:
            if request.user.is_authenticated:
                return redirect("ops:index")
            return redirect_to_login(request.get_full_path())
        return view(request, user, *args, **kwargs)

    return never_cache(csrf_protect(wrapper))


# --- sign-in, second step ---------------------------------------------------------------------


@never_cache
@csrf_protect
@sensitive_post_parameters("code")
def sign_in_code(request: HttpRequest) -> HttpResponse:
    account = two_step.pending(request, "user")
    if account is None:
        messages.error(request, "Sign in again.")
        return redirect("web:login")
    assert isinstance(account, User)
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        method = two_step.check_code(request, account, form.cleaned_data["code"])
        if method is not None:
            two_step.finish(request, account)
            if method == mfa.Method.RECOVERY_CODE:
                left = mfa.recovery_codes_left(account)
                record_event(account.tenant_id, EventKind.RECOVERY_CODE_USED, actor=account, user=account,
                             request=request, detail={"left": left})
                messages.warning(request, f"You used a recovery code; {left} left. Make new ones on the "
                                          "two-step sign-in page when few remain.")
            return HttpResponseRedirect(next_url or reverse("web:home"))
        record_event(account.tenant_id, EventKind.MFA_FAILED, actor=account, user=account, request=request)
        if two_step.pending(request, "user") is None:
            messages.error(request, "Too many wrong codes. Sign in again later.")
            return redirect("web:login")
        form.add_error("code", "That code is not right.")
    status = 400 if request.method == "POST" else 200
    return render(request, "web/account/form.html", {
        "title": "Enter your code", "form": form, "submit": "Sign in", "next": next_url,
        "passkey": bool(passkeys.passkeys_of(account)),
        "intro": "Type the six digits from your authenticator app, or one of your recovery codes.",
    }, status=status)


def pending_passkey_step(view: Any) -> Any:
    """A JSON endpoint of the passkey second step: POST only, for the account waiting for it."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        account = two_step.pending(request, "user")
        if not isinstance(account, User):
            return JsonResponse({"detail": "sign in again"}, status=401)
        response: HttpResponse = view(request, account)
        return response

    return never_cache(csrf_protect(require_POST(wrapper)))


@pending_passkey_step
def sign_in_passkey_options(request: HttpRequest, account: User) -> HttpResponse:
    try:
        return HttpResponse(passkeys.authentication_options(request, account), content_type="application/json")
    except passkeys.PasskeyError as exc:
        return JsonResponse({"detail": str(exc)}, status=400)


@pending_passkey_step
def sign_in_passkey(request: HttpRequest, account: User) -> HttpResponse:
    try:
        used = passkeys.authenticate(request, account, request.body)
    except passkeys.PasskeyError as exc:
        record_event(account.tenant_id, EventKind.MFA_FAILED, actor=account, user=account, request=request,
                     detail={"method": "passkey"})
        return JsonResponse({"detail": str(exc)}, status=400)
    two_step.finish(request, account)
    record_event(account.tenant_id, EventKind.SIGN_IN, actor=account, user=account, request=request,
                 detail={"method": "passkey", "passkey": used.name})
    return JsonResponse({"redirect": _safe_next(request, request.GET.get("next")) or reverse("web:home")})


# --- second factor ----------------------------------------------------------------------------


@own_account_view
@sensitive_post_parameters("code")
def mfa_page(request: HttpRequest, user: User) -> HttpResponse:
    policy = sessions.policy_for(user.tenant_id)
    context: dict[str, Any] = {"required": policy.require_mfa}
    action = request.POST.get("action") if request.method == "POST" else None
    sensitive = action in ("disable", "regenerate")
    if sensitive and not sessions.in_sudo(request):
        return redirect(f"{reverse('web:confirm')}?next={reverse('web:mfa')}")
    try:
        if action == "start":
            context["enrolment"] = mfa.start_enrolment(user)
            context["confirm_form"] = CodeForm()
        elif action == "confirm":
            form = CodeForm(request.POST)
            if form.is_valid():
                context["codes"] = mfa.confirm_enrolment(user, form.cleaned_data["code"])
                record_event(user.tenant_id, EventKind.MFA_ENABLED, actor=user, user=user, request=request)
            else:
                context["error"] = "Type the six digits from your app."
        elif action == "regenerate":
            context["codes"] = mfa.regenerate_recovery_codes(user)
            record_event(user.tenant_id, EventKind.RECOVERY_CODES_REGENERATED, actor=user, user=user,
                         request=request)
        elif action == "disable":
            if policy.require_mfa:
                context["error"] = "Your workspace requires a second step; it cannot be turned off."
            elif mfa.disable(user):
                record_event(user.tenant_id, EventKind.MFA_DISABLED, actor=user, user=user, request=request)
                messages.success(request, "Two-step sign-in is off.")
                return redirect("web:mfa")
    except mfa.MfaError as exc:
        context["error"] = str(exc)
    context["enabled"] = mfa.has_mfa(user)
    context["codes_left"] = mfa.recovery_codes_left(user)
    context["passkeys"] = passkeys.passkeys_of(user)
    status = 400 if context.get("error") else 200
    return render(request, "web/account/mfa.html", context, status=status)


@own_account_view
def passkey_options(request: HttpRequest, user: User) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not mfa.has_mfa(user):
        return JsonResponse({"detail": "set up an authenticator app first"}, status=400)
    if not sessions.in_sudo(request):
        return JsonResponse({"detail": "confirm your password first", "confirm": reverse("web:confirm")}, status=403)
    return HttpResponse(passkeys.registration_options(request, user), content_type="application/json")


@own_account_view
def passkey_register(request: HttpRequest, user: User) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        added = passkeys.register(request, user, request.body)
    except passkeys.PasskeyError as exc:
        return JsonResponse({"detail": str(exc)}, status=400)
    record_event(user.tenant_id, EventKind.MFA_ENABLED, actor=user, user=user, request=request,
                 detail={"method": "passkey", "name": added.name})
    return JsonResponse({"id": str(added.pk), "name": added.name}, status=201)


@own_account_view
@sessions.sudo_required
def passkey_remove(request: HttpRequest, user: User, passkey_id: Any) -> HttpResponseBase:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not passkeys.remove(user, passkey_id):
        raise Http404("no such passkey")
    record_event(user.tenant_id, EventKind.MFA_DISABLED, actor=user, user=user, request=request,
                 detail={"method": "passkey"})
    messages.success(request, "Passkey removed.")
    return redirect("web:mfa")


# --- re-authentication (sudo mode) ------------------------------------------------------------


@own_account_view
@sensitive_post_parameters("password", "code")
def confirm(request: HttpRequest, user: User) -> HttpResponse:
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    form = ConfirmForm(request.POST if request.method == "POST" else None)
    needs_code = mfa.has_mfa(user)
    if not needs_code:
        del form.fields["code"]
    if request.method == "POST" and form.is_valid():
        again = auth.authenticate(request, tenant_slug=user.tenant.slug, email=user.email,
                                  password=form.cleaned_data["password"])
        if again is None or again.pk != user.pk:
            form.add_error("password", "That password is not right.")
        elif needs_code and mfa.verify(user, form.cleaned_data.get("code", "")) is None:
            form.add_error("code", "That code is not right.")
        else:
            sessions.grant_sudo(request)
            return HttpResponseRedirect(next_url or reverse("web:home"))
    status = 400 if request.method == "POST" else 200
    return render(request, "web/account/form.html", {
        "title": "Confirm it is you", "form": form, "submit": "Confirm", "next": next_url,
        "intro": "This action needs your password again (and a code, with two-step sign-in on). "
                 "You will not be asked again for 15 minutes.",
    }, status=status)


# --- sessions ---------------------------------------------------------------------------------


@own_account_view
def sessions_page(request: HttpRequest, user: User) -> HttpResponseBase:
    if request.method == "POST":
        if request.POST.get("everywhere"):
            count = sessions.end_sessions(user, reason="signed_out_everywhere")
            record_event(user.tenant_id, EventKind.SESSIONS_ENDED, actor=user, user=user, request=request,
                         detail={"count": count, "everywhere": True})
            auth.logout(request)
            messages.success(request, f"Signed out everywhere ({count} sessions).")
            return redirect("web:login")
        if sessions.end_session(user, request.POST.get("session", "")[:64] or None, reason="signed_out"):
            record_event(user.tenant_id, EventKind.SESSIONS_ENDED, actor=user, user=user, request=request,
                         detail={"count": 1})
            messages.success(request, "That browser is signed out.")
        return redirect("web:sessions")
    return render(request, "web/account/sessions.html", {
        "sessions": sessions.active_sessions(user), "current": sessions.current_session_id(request)})


# --- password reset ---------------------------------------------------------------------------


@never_cache
@csrf_protect
def password_reset(request: HttpRequest) -> HttpResponse:
    form = ResetRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        links.do_request_password_reset(form.cleaned_data["workspace"], form.cleaned_data["email"], request=request)
        # The same answer whether or not the account exists.
        return render(request, "web/account/message.html", {
            "title": "Check your e-mail",
            "text": "If that account exists, we sent it a link to choose a new password. The link works "
                    "once, for one hour."})
    status = 400 if request.method == "POST" else 200
    return render(request, "web/account/form.html", {
        "title": "Forgot your password?", "form": form, "submit": "Send me a link",
        "intro": "We will e-mail a link to choose a new password."}, status=status)


@never_cache
@csrf_protect
@sensitive_post_parameters("password1", "password2")
def password_reset_confirm(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link = links.find_link(token, LinkPurpose.PASSWORD_RESET)
    except links.LinkError as exc:
        return render(request, "web/account/message.html", {
            "title": "Link not valid", "text": str(exc), "link": reverse("web:password_reset"),
            "link_text": "Ask for a new link"}, status=404)
    form = NewPasswordForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            links.do_reset_password(token, form.cleaned_data["password1"], request=request)
        except ValidationError as exc:
            form.add_error("password1", exc)
        except links.LinkError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Your password is changed and every session is signed out. Sign in.")
            return redirect("web:login")
    status = 400 if request.method == "POST" else 200
    return render(request, "web/account/form.html", {
        "title": f"New password for {link.email}", "form": form, "submit": "Set password"}, status=status)


# --- invitations ------------------------------------------------------------------------------


@never_cache
@csrf_protect
@sensitive_post_parameters("password1", "password2")
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link = links.find_link(token, LinkPurpose.INVITATION)
    except links.LinkError as exc:
        return render(request, "web/account/message.html", {"title": "Invitation not valid", "text": str(exc)},
                      status=404)
    form = InvitationForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            user = links.do_accept_invitation(token, name=form.cleaned_data["name"],
                                              password=form.cleaned_data["password1"], request=request)
        except ValidationError as exc:
            form.add_error("password1", exc)
        except links.LinkError as exc:
            form.add_error(None, str(exc))
        else:
            auth.logout(request)
            auth.login(request, user, backend="bindery.accounts.backends.TenantUserBackend")
            messages.success(request, f"Welcome to {user.tenant.name}.")
            if sessions.policy_for(user.tenant_id).require_mfa:
                return redirect("web:mfa")
            return redirect("web:home")
    status = 400 if request.method == "POST" else 200
    return render(request, "web/account/form.html", {
        "title": f"Join {link.tenant.name}", "form": form, "submit": "Create my account",
        "intro": f"You were invited as {link.get_role_display()} with the address {link.email}."}, status=status)


# --- workspace security policy and activity log -----------------------------------------------


class PolicyForm(forms.ModelForm):
    class Meta:
        model = SecurityPolicy
        fields = ["require_mfa", "idle_minutes", "absolute_hours"]

    def clean_idle_minutes(self) -> int:
        value = int(self.cleaned_data["idle_minutes"])
        if not 5 <= value <= 24 * 60:
            raise ValidationError("between 5 minutes and 24 hours")
        return value

    def clean_absolute_hours(self) -> int:
        value = int(self.cleaned_data["absolute_hours"])
        if not 1 <= value <= 24 * 30:
            raise ValidationError("between 1 hour and 30 days")
        return value


@console_view(Area.SECURITY, methods=("GET", "POST"), sudo=True)
def security_policy(request: HttpRequest, user: User) -> HttpResponseBase:
    current = SecurityPolicy.objects.for_tenant(user.tenant).first() or SecurityPolicy(tenant=user.tenant)
    was_required = current.require_mfa
    form = PolicyForm(request.POST if request.method == "POST" else None, instance=current)
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["require_mfa"] and not mfa.has_mfa(user):
            form.add_error("require_mfa", "Set up your own second factor first, so you are not locked out.")
        else:
            with transaction.atomic(using=HOST):
                policy = form.save(commit=False)
                policy.tenant = user.tenant
                policy.save()
                if policy.require_mfa != was_required:
                    record_event(user.tenant_id, EventKind.MFA_POLICY_CHANGED, actor=user, request=request,
                                 detail={"require_mfa": policy.require_mfa})
            messages.success(request, "Saved.")
            return redirect("web:sign_in_policy")
    if not can(user, Area.SECURITY, Access.WRITE):
        for field in form.fields.values():
            field.disabled = True
    without = [m.email for m in by_email(User.objects.for_tenant(user.tenant).filter(is_active=True))
               if not mfa.has_mfa(m)][:50]
    status = 400 if request.method == "POST" else 200
    return render(request, "web/account/security.html", {
        "form": form, "without_mfa": without, "can_write": can(user, Area.SECURITY, Access.WRITE)}, status=status)


@console_view(Area.ACTIVITY)
def activity(request: HttpRequest, user: User) -> HttpResponse:
    events = AccountEvent.objects.for_tenant(user.tenant).order_by("-created_at")[:500]
    return render(request, "web/account/activity.html", {
        "events": events, "grants": support.active_grants_for(user.tenant)})


def grant_or_404(user: User, grant_id: Any) -> SupportGrant:
    grant = SupportGrant.objects.for_tenant(user.tenant).filter(pk=grant_id).first()
    if grant is None:
        raise Http404("no such support access")
    return grant


@console_view(Area.SECURITY, methods=("POST",), load=grant_or_404)
def support_end(request: HttpRequest, user: User, grant: SupportGrant) -> HttpResponseBase:
    support.do_end_support_access(grant, actor=user)
    messages.success(request, f"Support access of {grant.operator_email} ended.")
    return redirect("web:activity")


@console_view(Area.ACTIVITY)
def activity_csv(request: HttpRequest, user: User) -> StreamingHttpResponse:
    rows = AccountEvent.objects.for_tenant(user.tenant).order_by("-created_at").values_list(
        "created_at", "kind", "email", "actor", "ip", "detail").iterator(chunk_size=CHUNK_SIZE)
    return csv_response(user.tenant_id, "account-activity.csv", ["time", "kind", "email", "actor", "ip", "detail"],
                        ((c, k, e, a, ip, str(d)) for c, k, e, a, ip, d in rows))
