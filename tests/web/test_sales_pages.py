"""Console sales pages: customers, orders (filters, detail, mark, add shipment), shipments; exports,
role rules and bad input."""

from __future__ import annotations

import datetime as dt

import pytest

from bindery.accounts.models import Role
from bindery.control.models import LocalTenant
from bindery.sales.actions import do_mark_order, do_set_order_status
from bindery.sales.models import Order, Shipment
from bindery.sales.payloads import CustomerPayload
from tests.sales.factories import RECENT, order_payload, store
from tests.web.console_data import make_sales, signed_in
from tests.web.test_catalog_pages import read_csv

pytestmark = pytest.mark.django_db(databases="__all__")


def test_order_list_and_filters(tenant: LocalTenant) -> None:
    """Orders filter by normalized status, marked flag and date range."""
    old = store(tenant, order_payload("OLD", created_on_channel=RECENT - dt.timedelta(days=20))).order
    new = store(tenant, order_payload("NEW")).order
    do_mark_order(new, True, actor="test")
    do_set_order_status(old, "completed", actor="test")
    client = signed_in(tenant)

    def numbers(**params: str) -> set[str]:
        response = client.get("/sales/orders/", params)
        assert response.status_code == 200, response.context["form"].errors
        return {o.channel_order_number for o in response.context["page"].object_list}

    assert numbers() == {"OLD", "NEW"}
    assert numbers(status="completed") == {"OLD"}
    assert numbers(status="processing") == {"NEW"}
    assert numbers(marked="yes") == {"NEW"}
    assert numbers(marked="no") == {"OLD"}
    assert numbers(date_from=(RECENT - dt.timedelta(days=2)).date().isoformat()) == {"NEW"}
    assert numbers(date_to=(RECENT - dt.timedelta(days=10)).date().isoformat()) == {"OLD"}
    assert numbers(q=new.hub_order_key) == {"NEW"}


@pytest.mark.parametrize("params", [{"status": "bogus"}, {"date_from": "2025-13-45"}, {"q": "x" * 1000},
                                    {"date_from": "2025-02-01", "date_to": "2025-01-01"}, {"marked": "\x00"}],
                         ids=["bad-status", "bad-date", "long-search", "reversed-range", "nul"])
def test_bad_order_filters_are_field_errors(tenant: LocalTenant, params: dict[str, str]) -> None:
    """Malformed filters answer 400 with a field error; the export refuses them too."""
    make_sales(tenant)
    client = signed_in(tenant)
    response = client.get("/sales/orders/", params)
    assert response.status_code == 400
    assert response.context["form"].errors
    assert client.get("/sales/orders.csv", params).status_code == 400


def test_order_export(tenant: LocalTenant) -> None:
    """The order CSV follows the filters and quotes formula-like text."""
    store(tenant, order_payload("=cmd|' /C calc'!A0"))
    second = store(tenant, order_payload("2002")).order
    do_mark_order(second, True, actor="test")
    client = signed_in(tenant)
    rows = read_csv(client.get("/sales/orders.csv"))
    assert rows[0][:2] == ["hub_order_key", "channel_order_number"]
    assert {row[1] for row in rows[1:]} == {"'=cmd|' /C calc'!A0", "2002"}
    marked = read_csv(client.get("/sales/orders.csv", {"marked": "yes"}))
    assert [row[0] for row in marked[1:]] == [second.hub_order_key]


def test_order_list_queries_do_not_grow(tenant: LocalTenant, django_assert_max_num_queries) -> None:
    """The order list runs a fixed number of queries for many orders with customers."""
    for i in range(25):
        store(tenant, order_payload(f"N{i}", customer=CustomerPayload(email=f"c{i}@example.com")))
    client = signed_in(tenant)
    with django_assert_max_num_queries(10):
        response = client.get("/sales/orders/")
    assert len(response.context["page"].object_list) == 25


def test_order_detail(tenant: LocalTenant) -> None:
    """Detail shows rows, both addresses, the shipment, the customer and the mark button."""
    sales = make_sales(tenant)
    page = signed_in(tenant).get(f"/sales/orders/{sales.order.pk}/").content.decode()
    for text in [sales.order.hub_order_key, "SKU-1", "SKU-2", "Via Roma 1", "Via Po 2", "TRACK-1", "UPS",
                 "mario.rossi@example.com", ">Mark<", "Add shipment"]:
        assert text in page, text


def test_mark_and_unmark(tenant: LocalTenant) -> None:
    """The mark form sets and clears the flag through do_mark_order."""
    sales = make_sales(tenant)
    client = signed_in(tenant)
    url = f"/sales/orders/{sales.order.pk}/mark/"
    assert client.post(url, {"marked": "1"}).status_code == 302
    assert Order.objects.for_tenant(tenant).get(pk=sales.order.pk).is_marked is True
    assert client.post(url, {"marked": "0"}).status_code == 302
    assert Order.objects.for_tenant(tenant).get(pk=sales.order.pk).is_marked is False
    assert client.post(url, {"marked": "maybe"}).status_code == 400
    assert Order.objects.for_tenant(tenant).get(pk=sales.order.pk).is_marked is False
    assert client.get(url).status_code == 405  # a write, never a page


def test_add_shipment(tenant: LocalTenant) -> None:
    """The shipment form records a shipment through do_add_shipment."""
    sales = make_sales(tenant)
    response = signed_in(tenant).post(f"/sales/orders/{sales.order.pk}/shipments/", {
        "carrier": "DHL", "tracking_number": "JD0001", "service": "express", "weight_kg": "1.25",
        "shipped_at": "2025-03-01T10:30", "status": "in_transit"})
    assert response.status_code == 302
    shipment = Shipment.objects.for_tenant(tenant).get(carrier="DHL")
    assert shipment.tracking_number == "JD0001"
    assert shipment.status == "in_transit"
    assert shipment.order_id == sales.order.pk


@pytest.mark.parametrize("data", [{"carrier": "", "status": "shipped"},
                                  {"carrier": "DHL", "tracking_number": "t" * 101, "status": "shipped"},
                                  {"carrier": "DHL", "weight_kg": "-1", "status": "shipped"},
                                  {"carrier": "DHL", "weight_kg": "1e20", "status": "shipped"},
                                  {"carrier": "DHL", "status": "teleported"},
                                  {"carrier": "DHL", "shipped_at": "yesterday", "status": "shipped"}],
                         ids=["no-carrier", "long-tracking", "negative-weight", "huge-weight", "bad-status",
                              "bad-date"])
def test_add_shipment_refuses_bad_input(tenant: LocalTenant, data: dict[str, str]) -> None:
    """Bad shipment input is a field error (400) and records nothing."""
    sales = make_sales(tenant)
    response = signed_in(tenant).post(f"/sales/orders/{sales.order.pk}/shipments/", data)
    assert response.status_code == 400
    assert response.context["shipment_form"].errors
    assert Shipment.objects.for_tenant(tenant).count() == 1


def test_viewer_cannot_mark_or_ship(tenant: LocalTenant) -> None:
    """A viewer reads orders but marking and adding shipments answer 403 and change nothing."""
    sales = make_sales(tenant)
    client = signed_in(tenant, Role.VIEWER)
    page = client.get(f"/sales/orders/{sales.order.pk}/")
    assert page.status_code == 200
    assert "Add shipment" not in page.content.decode()
    assert client.post(f"/sales/orders/{sales.order.pk}/mark/", {"marked": "1"}).status_code == 403
    assert client.post(f"/sales/orders/{sales.order.pk}/shipments/",
                       {"carrier": "DHL", "status": "shipped"}).status_code == 403
    assert Order.objects.for_tenant(tenant).get(pk=sales.order.pk).is_marked is False
    assert Shipment.objects.for_tenant(tenant).count() == 1


def test_customers_list_search_detail_and_export(tenant: LocalTenant) -> None:
    """Customers are searchable by name and e-mail, have a detail page with orders, and export."""
    make_sales(tenant)
    store(tenant, order_payload("2002", customer=CustomerPayload(email="evil@example.com", name="=Eve")))
    client = signed_in(tenant)
    by_name = client.get("/sales/customers/", {"q": "rossi"})
    assert [c.email for c in by_name.context["page"].object_list] == ["mario.rossi@example.com"]
    by_mail = client.get("/sales/customers/", {"q": "EVIL@"})
    assert [c.name for c in by_mail.context["page"].object_list] == ["=Eve"]
    customer = by_name.context["page"].object_list[0]
    detail = client.get(f"/sales/customers/{customer.pk}/").content.decode()
    assert "1001" in detail
    rows = read_csv(client.get("/sales/customers.csv"))
    assert rows[0][0] == "email"
    assert {(row[0], row[2]) for row in rows[1:]} == {("mario.rossi@example.com", "Mario"),
                                                      ("evil@example.com", "'=Eve")}
    assert client.get("/sales/customers/", {"q": "x" * 201}).status_code == 400


def test_customer_list_queries_do_not_grow(tenant: LocalTenant, django_assert_max_num_queries) -> None:
    """The customer list runs a fixed number of queries."""
    for i in range(25):
        store(tenant, order_payload(f"N{i}", customer=CustomerPayload(email=f"c{i}@example.com")))
    client = signed_in(tenant)
    with django_assert_max_num_queries(10):
        response = client.get("/sales/customers/")
    assert len(response.context["page"].object_list) == 25


def test_shipments_list_and_export(tenant: LocalTenant, django_assert_max_num_queries) -> None:
    """Shipments list with their order's key in a fixed number of queries, and export as CSV."""
    sales = [make_sales(tenant, number=f"N{i}", tracking=f"T{i}") for i in range(12)]
    client = signed_in(tenant)
    with django_assert_max_num_queries(10):
        response = client.get("/sales/shipments/")
    page = response.content.decode()
    assert sales[0].order.hub_order_key in page
    assert "T11" in page
    rows = read_csv(client.get("/sales/shipments.csv"))
    assert rows[0][:3] == ["hub_order_key", "channel_order_number", "carrier"]
    assert len(rows) == 13


@pytest.mark.parametrize("url", ["/sales/customers/", "/sales/orders/", "/sales/shipments/"],
                         ids=["customers", "orders", "shipments"])
def test_empty_sales_lists_say_so(tenant: LocalTenant, url: str) -> None:
    """An empty list explains itself instead of showing an empty table."""
    page = signed_in(tenant).get(url).content.decode()
    assert "yet" in page
    assert "<table" not in page
