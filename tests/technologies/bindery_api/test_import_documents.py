"""Import documents: the export's Document tree replays into another tenant, bad ones reported."""

from __future__ import annotations

import pytest

from bindery.control.models import LocalTenant
from bindery.sales.models import Order
from bindery.technologies.bindery_api.export_orders import iter_orders_xml
from bindery.technologies.bindery_api.import_documents import import_documents
from tests.sales.factories import order_payload, store

pytestmark = pytest.mark.django_db(databases="__all__")


def test_export_replays_into_another_tenant(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    original = store(tenant, order_payload("R-1", notes="note & more")).order
    orders = Order.objects.for_tenant(tenant)
    body = "".join(iter_orders_xml(orders, 1)).encode()
    status, answer = import_documents(other_tenant, body, actor="test")
    assert status == 200, answer
    copy = Order.objects.for_tenant(other_tenant).get(channel_order_number="R-1")
    assert (copy.total, copy.net_total, copy.vat_total, copy.currency) == (
        original.total, original.net_total, original.vat_total, original.currency)
    assert copy.notes == "note & more"
    assert copy.created_on_channel == original.created_on_channel
    assert Order.objects.for_tenant(tenant).count() == 1
    status, _ = import_documents(other_tenant, body, actor="test")
    assert status == 200
    assert Order.objects.for_tenant(other_tenant).count() == 1


def test_bad_documents_are_reported_and_good_ones_stored(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    store(tenant, order_payload("G-1"))
    good = "".join(iter_orders_xml(Order.objects.for_tenant(tenant), 1))
    body = good.replace("</Documents>", "<Document><General><Number>X</Number><Date>yesterday</Date></General>"
                        "</Document><Document><General></General></Document></Documents>").encode()
    status, answer = import_documents(other_tenant, body, actor="test")
    assert status == 207
    assert [r["ok"] for r in answer["results"]] == [True, False, False]
    assert "General/Date" in answer["results"][1]["message"]
    assert Order.objects.for_tenant(other_tenant).count() == 1


@pytest.mark.parametrize("body", [b"", b"<Products/>", b"<Documents><Document>",
                                  b'<!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]><Documents/>'])
def test_unusable_bodies_are_refused(tenant: LocalTenant, body: bytes) -> None:
    status, answer = import_documents(tenant, body, actor="test")
    assert status == 400
    assert answer["message"]
    assert not Order.objects.for_tenant(tenant).exists()
