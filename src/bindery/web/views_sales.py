"""Console pages for sales: customers, orders (list, detail, mark, add shipment) and shipments,
each list with a CSV export.

Reads are scoped with ``for_tenant`` or the sales access helpers; writes go through the sales
actions with the signed-in user as actor.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.contrib import messages
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone

from bindery.accounts.models import User
from bindery.accounts.permissions import Area
from bindery.control.models import LocalTenant
from bindery.sales.access import (
    access_customer_by_id,
    access_order_by_id,
    order_shipments,
    orders_with_email,
    search_customers,
)
from bindery.sales.actions import do_add_shipment, do_mark_order
from bindery.sales.errors import SalesError
from bindery.sales.models import Address, Customer, Order, OrderRow, Shipment, ShipmentStatus
from bindery.web.csv_export import CHUNK_SIZE, csv_response
from bindery.web.forms_sales import CustomerFilterForm, MarkForm, OrderFilterForm, ShipmentForm
from bindery.web.paging import paginate, query_without_page
from bindery.web.permissions import can_write, console_view

# Customers


def _customers(tenant: LocalTenant, form: CustomerFilterForm) -> QuerySet[Any]:  # annotated rows
    queryset = Customer.objects.for_tenant(tenant)
    data = form.cleaned_data if form.is_valid() else {}
    if query := data.get("q"):
        queryset = search_customers(tenant, query)  # encrypted fields: a decrypting scan
    # Names and e-mails are encrypted, so SQL cannot sort by them: newest first.
    return queryset.order_by("-created_at", "-pk")


@console_view(Area.SALES)
def customer_list(request: HttpRequest, user: User) -> HttpResponse:
    form = CustomerFilterForm(request.GET or None)
    page = paginate(request, _customers(user.tenant, form))
    status = 400 if form.is_bound and not form.is_valid() else 200
    return render(request, "web/sales/customer_list.html",
                  {"form": form, "page": page, "query": query_without_page(request)}, status=status)


@console_view(Area.SALES)
def customer_export(request: HttpRequest, user: User) -> HttpResponseBase:
    form = CustomerFilterForm(request.GET or None)
    rows = _customers(user.tenant, form).values_list(
        "email", "company", "name", "surname", "phone", "vat_number", "city", "country", "created_at",
    ).iterator(chunk_size=CHUNK_SIZE)
    return csv_response(user.tenant_id, "customers.csv",
                        ["email", "company", "name", "surname", "phone", "vat_number", "city", "country",
                         "created_at"], rows)


def customer_or_404(user: User, customer_id: uuid.UUID) -> Customer:
    """Return the tenant's customer or raise Http404."""
    try:
        return access_customer_by_id(user.tenant, customer_id, for_write=False)
    except SalesError:
        raise Http404("no such customer") from None


@console_view(Area.SALES, load=customer_or_404)
def customer_detail(request: HttpRequest, user: User, customer: Customer) -> HttpResponse:
    orders = Order.objects.for_tenant(user.tenant).filter(customer=customer).order_by("-created_on_channel")[:100]
    return render(request, "web/sales/customer_detail.html", {"customer": customer, "orders": orders})


# Orders


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _orders(tenant: LocalTenant, form: OrderFilterForm) -> QuerySet[Any]:  # annotated rows
    queryset = Order.objects.for_tenant(tenant).select_related("customer")
    data = form.cleaned_data if form.is_valid() else {}
    if query := data.get("q"):
        match = Q(channel_order_number__icontains=query) | Q(hub_order_key__iexact=query)
        if "@" in query:  # an e-mail: the customer's or an address's, through the blind index
            match |= orders_with_email(tenant, query)
        queryset = queryset.filter(match)
    if status := data.get("status"):
        queryset = queryset.filter(normalized_status=status)
    if marked := data.get("marked"):
        queryset = queryset.filter(is_marked=marked == "yes")
    if start := data.get("date_from"):
        queryset = queryset.filter(created_on_channel__gte=_day_start(start))
    if end := data.get("date_to"):
        queryset = queryset.filter(created_on_channel__lt=_day_start(end + dt.timedelta(days=1)))
    return queryset.order_by("-created_on_channel", "-pk")


@console_view(Area.SALES)
def order_list(request: HttpRequest, user: User) -> HttpResponse:
    form = OrderFilterForm(request.GET or None)
    page = paginate(request, _orders(user.tenant, form))
    status = 400 if form.is_bound and not form.is_valid() else 200
    return render(request, "web/sales/order_list.html",
                  {"form": form, "page": page, "query": query_without_page(request)}, status=status)


@console_view(Area.SALES)
def order_export(request: HttpRequest, user: User) -> HttpResponseBase:
    form = OrderFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return render(request, "web/sales/order_list.html", {"form": form, "page": None}, status=400)
    rows = _orders(user.tenant, form).values_list(
        "hub_order_key", "channel_order_number", "document_type", "created_on_channel", "normalized_status",
        "customer__email", "currency", "net_total", "vat_total", "total", "payment_status", "is_marked",
    ).iterator(chunk_size=CHUNK_SIZE)
    return csv_response(user.tenant_id, "orders.csv",
                        ["hub_order_key", "channel_order_number", "document_type", "created_on_channel", "status",
                         "customer_email", "currency", "net_total", "vat_total", "total", "payment_status",
                         "marked"], rows)


def order_or_404(user: User, order_id: uuid.UUID) -> Order:
    """Return the tenant's order or raise Http404."""
    try:
        return access_order_by_id(user.tenant, order_id, for_write=False)
    except SalesError:
        raise Http404("no such order") from None


def _order_context(user: User, order: Order, *, shipment_form: ShipmentForm | None = None) -> dict[str, Any]:
    tenant = user.tenant
    related = Order.objects.for_tenant(tenant).select_related("customer", "status", "payment_method",
                                                               "shipping_method").get(pk=order.pk)
    return {
        "order": related,
        "rows": OrderRow.objects.for_tenant(tenant).filter(order=order).order_by("position"),
        "addresses": Address.objects.for_tenant(tenant).filter(order=order).order_by("kind"),
        "shipments": order_shipments(order),
        "can_write": can_write(user, Area.SALES),
        "shipment_form": shipment_form or ShipmentForm(initial={"status": ShipmentStatus.SHIPPED}),
    }


@console_view(Area.SALES, load=order_or_404)
def order_detail(request: HttpRequest, user: User, order: Order) -> HttpResponse:
    return render(request, "web/sales/order_detail.html", _order_context(user, order))


@console_view(Area.SALES, methods=("POST",), load=order_or_404)
def order_mark(request: HttpRequest, user: User, order: Order) -> HttpResponse:
    form = MarkForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose mark or unmark.")
        return render(request, "web/sales/order_detail.html", _order_context(user, order), status=400)
    marked = form.cleaned_data["marked"]
    do_mark_order(order, marked, actor=user)
    messages.success(request, f"Order {order.hub_order_key} {'marked' if marked else 'unmarked'}.")
    return redirect("web:order_detail", order_id=order.pk)


@console_view(Area.SALES, methods=("POST",), load=order_or_404)
def order_add_shipment(request: HttpRequest, user: User, order: Order) -> HttpResponse:
    form = ShipmentForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            do_add_shipment(order, carrier=data["carrier"], tracking_number=data["tracking_number"],
                            service=data["service"], weight_kg=data["weight_kg"], shipped_at=data["shipped_at"],
                            status=ShipmentStatus(data["status"]), actor=user)
        except SalesError as error:
            form.add_error(error.field if error.field in form.fields else None, str(error))
        else:
            messages.success(request, f"Shipment added to order {order.hub_order_key}.")
            return redirect("web:order_detail", order_id=order.pk)
    return render(request, "web/sales/order_detail.html", _order_context(user, order, shipment_form=form),
                  status=400)


# Shipments


def _shipments(tenant: LocalTenant) -> QuerySet[Any]:  # annotated rows
    return Shipment.objects.for_tenant(tenant).select_related("order").order_by("-created_at", "-pk")


@console_view(Area.SALES)
def shipment_list(request: HttpRequest, user: User) -> HttpResponse:
    page = paginate(request, _shipments(user.tenant))
    return render(request, "web/sales/shipment_list.html", {"page": page, "query": query_without_page(request)})


@console_view(Area.SALES)
def shipment_export(request: HttpRequest, user: User) -> HttpResponseBase:
    rows = _shipments(user.tenant).values_list(
        "order__hub_order_key", "order__channel_order_number", "carrier", "service", "tracking_number",
        "weight_kg", "shipped_at", "status", "created_at",
    ).iterator(chunk_size=CHUNK_SIZE)
    return csv_response(user.tenant_id, "shipments.csv",
                        ["hub_order_key", "channel_order_number", "carrier", "service", "tracking_number",
                         "weight_kg", "shipped_at", "status", "created_at"], rows)
