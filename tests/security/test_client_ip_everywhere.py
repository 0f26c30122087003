"""Every record of a client address goes through one resolver: the peer, or X-Forwarded-For via trusted proxies."""

from __future__ import annotations

import pytest
from django.test import RequestFactory, override_settings

from bindery.accounts.activity import record_event
from bindery.accounts.models import AccountEvent, User
from bindery.control.models import LocalTenant
from bindery.privacy.models import PersonalDataAccess
from bindery.sales.actions import do_upsert_order
from tests.conftest import PASSWORD, HttpsClient
from tests.sales.factories import order_payload

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.mark.parametrize(("trusted", "expected"), [((), "198.51.100.1"), (("198.51.100.1/32",), "203.0.113.5")])
def test_activity_and_access_logs_record_the_resolved_client(client: HttpsClient, tenant: LocalTenant, owner: User,
                                                            trusted: tuple[str, ...], expected: str) -> None:
    order = do_upsert_order(tenant, order_payload("7001"), actor="test").order
    meta = {"REMOTE_ADDR": "198.51.100.1", "HTTP_X_FORWARDED_FOR": "203.0.113.5"}
    with override_settings(BINDERY_TRUSTED_PROXIES=trusted):
        client.post("/login/", {"workspace": tenant.slug, "email": owner.email, "password": PASSWORD}, **meta)
        assert client.get(f"/sales/orders/{order.pk}/", **meta).status_code == 200
    access = PersonalDataAccess.objects.for_tenant(tenant).order_by("-created_at").first()
    assert access is not None
    assert access.ip == expected
    with override_settings(BINDERY_TRUSTED_PROXIES=trusted):
        event = record_event(tenant.pk, "test.event", actor="test", request=RequestFactory().get("/", **meta))
    assert AccountEvent.objects.for_tenant(tenant).get(pk=event.pk).ip == expected
