"""Routing: a host serves only its own tenants, redirects the others, and survives a control outage."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator

import pytest
from django.db import connections
from django.test import override_settings

from bindery.accounts.models import User
from bindery.control import directory
from bindery.control.hosts import do_add_datacenter, ensure_local_host
from bindery.control.models import Host, LocalTenant, Placement
from bindery.control.routers import CONTROL
from bindery.control.sealing import seal
from bindery.security.actions import do_create_api_token
from tests.conftest import HttpsClient

pytestmark = pytest.mark.django_db(databases="__all__")


def _host_b() -> Host:
    dc = do_add_datacenter("dc-b", "DE", actor="test")
    return Host.objects.create(name="host-b", datacenter=dc, public_url="https://b.example:9443",
                               database_url_sealed=seal("sqlite:///unused", purpose="host-database-url:host-b"))


def _place(tenant: LocalTenant, host: Host) -> None:
    Placement.objects.filter(tenant_id=tenant.pk).update(host=host, epoch=2)
    directory.clear()


def test_own_tenant_is_served(client: HttpsClient, owner: User) -> None:
    client.force_login(owner, backend="bindery.accounts.backends.TenantUserBackend")
    assert client.get("/").status_code in (200, 302)
    assert directory.lookup(owner.tenant_id).is_here  # type: ignore[union-attr]


def test_pages_of_a_tenant_elsewhere_redirect_307(client: HttpsClient, owner: User, tenant: LocalTenant) -> None:
    """A signed-in user of a tenant placed on another host is sent there, path and query kept."""
    client.force_login(owner, backend="bindery.accounts.backends.TenantUserBackend")
    _place(tenant, _host_b())
    response = client.get("/catalog/products/?q=shirt")
    assert response.status_code == 307
    assert response["Location"] == "https://b.example:9443/catalog/products/?q=shirt"
    posted = client.post("/catalog/products/", {"x": "1"})
    assert posted.status_code == 307  # 307 keeps the method and body


def test_api_of_a_tenant_elsewhere_redirects_307(client: HttpsClient, tenant: LocalTenant) -> None:
    """API calls with a token of a tenant placed elsewhere are redirected, before any work is done."""
    token, plaintext = do_create_api_token(tenant, "erp", ["catalog:read"], actor="test")
    _place(tenant, _host_b())
    response = client.get("/api/v1/products?limit=5", headers={"Authorization": f"Bearer {plaintext}"})
    assert response.status_code == 307
    assert response["Location"] == "https://b.example:9443/api/v1/products?limit=5"
    token.refresh_from_db()
    assert token.last_used_at is None


def test_cache_keeps_its_entry_for_the_ttl(tenant: LocalTenant) -> None:
    """Within the TTL the cached entry answers; after it the control plane is asked again."""
    first = directory.lookup(tenant.pk, now=1000.0)
    assert first is not None
    assert first.is_here
    Placement.objects.filter(tenant_id=tenant.pk).update(host=_host_b())
    with override_settings(BINDERY_DIRECTORY_TTL=30):
        assert directory.lookup(tenant.pk, now=1010.0) == first
        later = directory.lookup(tenant.pk, now=1031.0)
    assert later is not None
    assert later.host_name == "host-b"


@contextlib.contextmanager
def control_down() -> Iterator[None]:
    """Make the control database unreachable for real: its alias connects to nothing."""
    conn = connections[CONTROL]
    broken = dict(conn.settings_dict)
    if conn.vendor == "sqlite":
        broken["NAME"] = "/nonexistent-folder/control.sqlite3"
    else:
        broken["PORT"] = "1"
    connections[CONTROL] = type(conn)(broken, CONTROL)
    try:
        yield
    finally:
        connections[CONTROL].close()
        connections[CONTROL] = conn


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_control_outage_keeps_serving_own_tenants(tenant: LocalTenant, owner: User) -> None:
    """With the control database down, a host keeps serving from its cache and its own records."""
    ensure_local_host()
    client = HttpsClient()
    client.force_login(owner, backend="bindery.accounts.backends.TenantUserBackend")
    cached = directory.lookup(tenant.pk, now=0.0)
    assert cached is not None
    with control_down(), override_settings(BINDERY_DIRECTORY_TTL=0):
        assert directory.lookup(tenant.pk) == cached  # stale, but better than nothing
        directory.clear()
        assert directory.lookup(tenant.pk) is None  # nothing known: the host's records decide
        assert client.get("/").status_code in (200, 302)
    assert directory.lookup(tenant.pk, now=time.monotonic() + directory.BACKOFF_MAX) == cached


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_an_outage_is_not_retried_on_every_request(tenant: LocalTenant, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a failed attempt the control database is left alone for 1 s, then 2, 4 ... up to 10 s,
    and the first answer ends the back-off."""
    attempts: list[float] = []
    ask = directory._from_control

    def counted(tenant_id: uuid.UUID) -> directory.DirectoryEntry | None:
        attempts.append(time.monotonic())
        return ask(tenant_id)

    monkeypatch.setattr(directory, "_from_control", counted)
    cached = directory.lookup(tenant.pk, now=0.0)
    with control_down(), override_settings(BINDERY_DIRECTORY_TTL=10):
        now = 100.0
        assert directory.lookup(tenant.pk, now=now) == cached  # expired: asked, failed, stale answer
        assert len(attempts) == 2
        assert directory.retry_at() == now + 1
        for _ in range(50):  # requests during the back-off answer at once, without a connection attempt
            assert directory.lookup(tenant.pk, now=now + 0.5) == cached
        assert len(attempts) == 2
        waits = []
        for _ in range(8):
            now = directory.retry_at()
            assert directory.lookup(tenant.pk, now=now) == cached
            waits.append(directory.retry_at() - now)
        assert waits == [2, 4, 8, 10, 10, 10, 10, 10]
        assert len(attempts) == 10
    now = directory.retry_at()
    assert directory.lookup(tenant.pk, now=now) == cached  # the control database answers again
    assert directory.retry_at() == 0.0
    assert len(attempts) == 11


def test_signing_in_to_a_workspace_elsewhere_goes_to_its_host(client: HttpsClient, owner: User,
                                                              tenant: LocalTenant) -> None:
    """The sign-in form sends a workspace served elsewhere to its host's sign-in page (303, no password
    re-posted); the password is not even checked here."""
    from tests.conftest import PASSWORD

    _place(tenant, _host_b())
    response = client.post("/login/?next=/catalog/", {"workspace": "ACME ", "email": owner.email,
                                                      "password": PASSWORD, "next": "/catalog/"})
    assert response.status_code == 303
    assert response["Location"] == "https://b.example:9443/login/?workspace=acme&next=%2Fcatalog%2F"
    assert "_auth_user_id" not in client.session
    shown = client.get("/login/?workspace=acme")
    assert shown.status_code == 200
    assert 'value="acme"' in shown.content.decode()


def test_signing_in_to_a_workspace_this_host_never_held(client: HttpsClient) -> None:
    """A workspace only the directory knows (never on this host) is found by its slug."""
    from bindery.control.models import Plan, Tenant

    host_b = _host_b()
    elsewhere = Tenant.objects.create(slug="faraway", name="Far away", plan=Plan.STANDARD)
    Placement.objects.create(tenant=elsewhere, host=host_b, epoch=1)
    response = client.post("/login/", {"workspace": "faraway", "email": "x@faraway.example", "password": "x"})
    assert response.status_code == 303
    assert response["Location"] == "https://b.example:9443/login/?workspace=faraway"
    unknown = client.post("/login/", {"workspace": "nowhere", "email": "x@nowhere.example", "password": "x"})
    assert unknown.status_code == 400  # the usual "not right", nothing revealed


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_a_fenced_copy_is_not_served_when_the_directory_is_down(tenant: LocalTenant, owner: User) -> None:
    """A tenant that moved away (fenced copy here) gets 503, not stale data, when nobody can say where."""
    ensure_local_host()
    _token, plaintext = do_create_api_token(tenant, "erp", ["catalog:read"], actor="test")
    client = HttpsClient()
    client.force_login(owner, backend="bindery.accounts.backends.TenantUserBackend")
    LocalTenant.objects.filter(pk=tenant.pk).update(fenced=True)
    with control_down():
        api = HttpsClient().get("/api/v1/products", headers={"Authorization": f"Bearer {plaintext}"})
        assert api.status_code == 503
        assert api["Retry-After"] == "30"
        assert client.get("/catalog/products/").status_code == 503
    LocalTenant.objects.filter(pk=tenant.pk).update(fenced=False)
    assert HttpsClient().get("/api/v1/products", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 200
