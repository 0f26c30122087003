"""Creating tenants: validated slugs, both databases or neither."""

from __future__ import annotations

import pytest

from bindery.control.actions import do_create_tenant
from bindery.control.errors import ControlError, ControlErrorCode
from bindery.control.models import LocalTenant, Placement, Tenant

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.mark.parametrize("slug", ["", "-bad", "bad-", "UPPER", "a" * 64, "spa ce", "x/../y", "ünï", "a\x00b"])
def test_invalid_slugs_are_refused(slug: str) -> None:
    """Malformed slugs give a coded error and create nothing."""
    with pytest.raises(ControlError) as caught:
        do_create_tenant(slug, "Name", actor="test")
    assert caught.value.code == ControlErrorCode.TENANT_SLUG_INVALID
    assert Tenant.objects.count() == 0


def test_duplicate_slug_is_refused(tenant: LocalTenant) -> None:
    """A taken slug gives a coded error and leaves the existing tenant alone."""
    with pytest.raises(ControlError) as caught:
        do_create_tenant("acme", "Another", actor="test")
    assert caught.value.code == ControlErrorCode.TENANT_SLUG_TAKEN
    assert Tenant.objects.get(slug="acme").name == "Acme Ltd"


def test_host_failure_leaves_no_control_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """If the host cannot store its copy, the control row is removed again."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("host database refused")

    monkeypatch.setattr(LocalTenant, "save", refuse)
    with pytest.raises(RuntimeError):
        do_create_tenant("doomed", "Doomed", actor="test")
    assert not Tenant.objects.filter(slug="doomed").exists()
    assert not Placement.objects.filter(tenant__slug="doomed").exists()
