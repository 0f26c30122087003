"""Console pages for people: members (roles, removal), invitations, the activity log.

Every page goes through :func:`bindery.web.permissions.console_view` with its area, so the roles
matrix decides who may read and who may post.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render

from bindery.accounts import links
from bindery.accounts.access import MemberNotFound, access_member_by_id, list_members
from bindery.accounts.actions import MemberActionError, do_change_role, do_remove_user
from bindery.accounts.models import LinkPurpose, OneTimeLink, Role, User
from bindery.accounts.permissions import Access, Area, can, permissions_for
from bindery.web.permissions import console_view


def member_or_404(user: User, member_id: Any) -> User:
    try:
        return access_member_by_id(user.tenant, member_id, for_write=False)
    except MemberNotFound:
        raise Http404("no such member") from None


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254, label="E-mail")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


def _members_context(user: User, **extra: Any) -> dict[str, Any]:
    return {
        "members": list_members(user.tenant),
        "roles": Role.choices,
        "can_manage": can(user, Area.MEMBERS, Access.WRITE),
        "is_owner": user.role == Role.OWNER,
        "matrix": [(label, permissions_for(value)) for value, label in Role.choices],
        "areas": [str(a) for a in Area],
        "invitations": links.open_invitations(user.tenant),
        "invite_form": InviteForm(),
        **extra,
    }


@console_view(Area.MEMBERS)
def member_list(request: HttpRequest, user: User) -> HttpResponse:
    return render(request, "web/people/members.html", _members_context(user))


@console_view(Area.MEMBERS, methods=("POST",), load=member_or_404, sudo=True)
def member_role(request: HttpRequest, user: User, member: User) -> HttpResponseBase:
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the roles.")
        return redirect("web:members")
    try:
        do_change_role(member, form.cleaned_data["role"], actor=user)
    except MemberActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{member.email} is now {member.get_role_display()}.")
    return redirect("web:members")


@console_view(Area.MEMBERS, methods=("POST",), load=member_or_404, sudo=True)
def member_remove(request: HttpRequest, user: User, member: User) -> HttpResponseBase:
    try:
        do_remove_user(member, actor=user)
    except MemberActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{member.email} was removed.")
    return redirect("web:members")


@console_view(Area.MEMBERS, methods=("POST",), sudo=True)
def member_invite(request: HttpRequest, user: User) -> HttpResponseBase:
    form = InviteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give an e-mail address and a role.")
        return redirect("web:members")
    try:
        links.do_invite(user.tenant, form.cleaned_data["email"], form.cleaned_data["role"], actor=user,
                        request=request)
    except MemberActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Invitation sent to {form.cleaned_data['email']}.")
    return redirect("web:members")


def invitation_or_404(user: User, link_id: Any) -> OneTimeLink:
    link = OneTimeLink.objects.for_tenant(user.tenant).filter(pk=link_id, purpose=LinkPurpose.INVITATION).first()
    if link is None:
        raise Http404("no such invitation")
    return link


@console_view(Area.MEMBERS, methods=("POST",), load=invitation_or_404)
def invitation_revoke(request: HttpRequest, user: User, link: OneTimeLink) -> HttpResponseBase:
    links.do_revoke_invitation(link, actor=user)
    messages.success(request, f"The invitation to {link.email} is withdrawn.")
    return redirect("web:members")
