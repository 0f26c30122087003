"""Who may use the console's pages: the wrapper that applies the roles matrix to a view.

Every console page is for a signed-in tenant user (an operator's session belongs in /ops/). A
page belongs to one :class:`~bindery.accounts.permissions.Area`; reading it (GET) needs read
access on that area and every POST needs write access — both from the one matrix in
:mod:`bindery.accounts.permissions`. A refused write answers 403 before any form is looked at.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponseBase, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from bindery.accounts import sessions
from bindery.accounts.access import unwrap_user
from bindery.accounts.models import User
from bindery.accounts.permissions import Access, Area, can, require_permission

WRITE_METHODS = frozenset({"POST"})

ConsoleView = Callable[Concatenate[HttpRequest, User, ...], HttpResponseBase]
Loader = Callable[[User, Any], Any]


def can_write(user: User, area: Area) -> bool:
    """Return whether this user may change the tenant's data in ``area``."""
    return can(user, area, Access.WRITE)


def console_view(area: Area, *, methods: tuple[str, ...] = ("GET",), load: Loader | None = None,
                 sudo: bool = False, write: bool = False) -> Callable[[ConsoleView], Callable[..., HttpResponseBase]]:
    """Wrap a page of ``area``: tenant user signed in, object found, method allowed, role allowed.

    Also CSRF protection and no caching. The view receives the signed-in :class:`User` after the
    request, then, with ``load``, the object the URL's one keyword names, resolved through
    ``load(user, value)`` (which raises Http404 for unknown and other tenants' ids):
    ``view(request, user, obj)``. The lookup runs before the method and role checks, so an id
    that is not the tenant's answers 404 whatever the method or role. With ``write``, reading the
    page needs write access too (a form to create something is of no use to a reader).
    """
    allowed = tuple(m.upper() for m in methods)

    def decorate(view: ConsoleView) -> Callable[..., HttpResponseBase]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = unwrap_user(request.user)
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not isinstance(user, User):  # an operator's session: their place is /ops/
                return redirect("ops:index")
            if user.must_change_password:
                return redirect("web:password_change")
            if load is not None:
                [value] = kwargs.values()
                args, kwargs = (load(user, value),), {}
            if request.method not in allowed:
                return HttpResponseNotAllowed(allowed)
            require_permission(user, area, Access.WRITE if write or request.method in WRITE_METHODS
                               else Access.READ)
            if sudo and request.method in WRITE_METHODS and not sessions.in_sudo(request):
                return sessions.ask_to_confirm(request)
            return view(request, user, *args, **kwargs)

        wrapper.bindery_area = area  # type: ignore[attr-defined]  # read by the permission-matrix test
        wrapper.bindery_read_access = Access.WRITE if write else Access.READ  # type: ignore[attr-defined]
        return never_cache(csrf_protect(wrapper))

    return decorate
