"""Sales API wiring: ``register(api)`` adds the sales routers and the SalesError handler.

Called once from :func:`bindery.api.main._add_routers`.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI

from bindery.api.routes import sales_customers, sales_orders, sales_shipments, sales_statuses
from bindery.api.routes.sales_common import sales_error_body, sales_error_status
from bindery.sales.errors import SalesError


def register(api: NinjaAPI) -> None:
    """Add the sales routers (/orders, /customers, /shipments, /order-statuses) and the SalesError handler."""

    def _sales_error(request: HttpRequest, exc: SalesError | type[SalesError]) -> HttpResponse:
        assert isinstance(exc, SalesError)
        return api.create_response(request, sales_error_body(exc), status=sales_error_status(exc.code))

    api.add_exception_handler(SalesError, _sales_error)
    api.add_router("/orders", sales_orders.router)
    api.add_router("/customers", sales_customers.router)
    api.add_router("/shipments", sales_shipments.router)
    api.add_router("/order-statuses", sales_statuses.router)
