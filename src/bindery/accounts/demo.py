"""The embedded default's demo tenant, so a first start has someone to sign in as."""

from __future__ import annotations

from dataclasses import dataclass

from bindery.accounts.actions import do_create_user, generate_password
from bindery.accounts.models import Role, User, email_is
from bindery.control.actions import do_create_tenant
from bindery.control.models import LocalTenant, Plan

DEMO_TENANT = "demo"
DEMO_EMAIL = "owner@demo.example"


@dataclass(frozen=True)
class DemoAccount:
    tenant: str
    email: str
    password: str | None  # only when just created: it is shown once and never stored in clear


def ensure_demo_account() -> DemoAccount:
    """Create the demo tenant and its owner unless they exist; return the new password once."""
    tenant = LocalTenant.objects.filter(slug=DEMO_TENANT).first()
    if tenant is None:
        do_create_tenant(DEMO_TENANT, "Demo shop", plan=Plan.DEMO, actor="system:demo")
        tenant = LocalTenant.objects.get(slug=DEMO_TENANT)
    if User.objects.for_tenant(tenant).filter(email_is(tenant, DEMO_EMAIL)).exists():
        return DemoAccount(DEMO_TENANT, DEMO_EMAIL, None)
    password = generate_password()
    do_create_user(tenant, DEMO_EMAIL, password, role=Role.OWNER, name="Demo owner",
                   must_change_password=True, actor="system:demo")
    return DemoAccount(DEMO_TENANT, DEMO_EMAIL, password)
