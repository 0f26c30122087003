"""Support access: operators read a tenant's data only with a reasoned, expiring grant owners see."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from bindery.accounts.actions import do_create_operator
from bindery.accounts.models import AccountEvent, SupportGrant, User
from bindery.control.models import LocalTenant
from tests.conftest import PASSWORD, HttpsClient, operator_sign_in

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def ops_client(db: None) -> HttpsClient:
    do_create_operator("ops@bindery.example", PASSWORD, actor="test")
    client = HttpsClient()
    operator_sign_in(client, "ops@bindery.example", PASSWORD)
    return client


def test_grant_read_and_owner_sees_and_ends_it(ops_client: HttpsClient, owner: User, tenant: LocalTenant) -> None:
    short = ops_client.post("/ops/support/", {"tenant": "acme", "reason": "look", "hours": 2})
    assert short.status_code == 400  # a reason is required
    too_long = ops_client.post("/ops/support/", {"tenant": "acme", "reason": "ticket 7: runs fail", "hours": 500})
    assert too_long.status_code == 400
    unknown = ops_client.post("/ops/support/", {"tenant": "nope", "reason": "ticket 7: runs fail", "hours": 2})
    assert unknown.status_code == 400
    opened = ops_client.post("/ops/support/", {"tenant": "acme", "reason": "ticket 7: runs fail", "hours": 2})
    assert opened.status_code == 302
    grant = SupportGrant.objects.for_tenant(tenant).get()
    page = ops_client.get(f"/ops/support/{grant.pk}/")
    assert page.status_code == 200
    assert b"owner@acme.example" in page.content
    assert mail.outbox[-1].to == ["owner@acme.example"]
    assert "ticket 7" in mail.outbox[-1].body
    event = AccountEvent.objects.for_tenant(tenant).get(kind="support_access.granted")
    assert event.detail["reason"] == "ticket 7: runs fail"
    # The owner sees it and ends it; the operator's page is gone at once.
    owner_client = HttpsClient()
    owner_client.post("/login/", {"workspace": "acme", "email": "owner@acme.example", "password": PASSWORD})
    activity = owner_client.get("/settings/activity/")
    assert b"ops@bindery.example" in activity.content
    assert b"ticket 7" in activity.content
    assert owner_client.post(f"/settings/activity/support/{grant.pk}/end/").status_code == 302
    assert ops_client.get(f"/ops/support/{grant.pk}/").status_code == 404


def test_expired_grant_reads_nothing(ops_client: HttpsClient, owner: User, tenant: LocalTenant) -> None:
    ops_client.post("/ops/support/", {"tenant": "acme", "reason": "ticket 8: check stock", "hours": 1})
    grant = SupportGrant.objects.for_tenant(tenant).get()
    SupportGrant.objects.for_tenant(tenant).filter(pk=grant.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert ops_client.get(f"/ops/support/{grant.pk}/").status_code == 404


def test_another_operators_grant_is_not_yours(ops_client: HttpsClient, owner: User, tenant: LocalTenant) -> None:
    ops_client.post("/ops/support/", {"tenant": "acme", "reason": "ticket 9: orders missing", "hours": 1})
    grant = SupportGrant.objects.for_tenant(tenant).get()
    do_create_operator("other@bindery.example", PASSWORD, actor="test")
    other = HttpsClient()
    operator_sign_in(other, "other@bindery.example", PASSWORD)
    assert other.get(f"/ops/support/{grant.pk}/").status_code == 404
    assert HttpsClient().get(f"/ops/support/{grant.pk}/").status_code == 302  # anonymous: to sign-in
