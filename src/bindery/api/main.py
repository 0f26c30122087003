"""The management REST API under /api/v1/ (django-ninja, OpenAPI 3 at /api/v1/openapi.json)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

from bindery import __version__
from bindery.api.auth import BearerTokenAuth, TokenHeaderAuth
from bindery.api.errors import ApiError, ApiErrorCode
from bindery.control.directory import TenantElsewhere
from bindery.control.middleware import tenant_elsewhere_response


class StrictJsonParser(Parser):
    """Parse request bodies as strict UTF-8 JSON; anything else is a clear 400."""

    def parse_body(self, request: HttpRequest) -> Any:
        import json

        try:
            body = request.body
        except RequestDataTooBig:
            raise ApiError(413, ApiErrorCode.BODY_TOO_LARGE, "the request body is too large") from None
        if not body:
            return {}
        try:
            # Decimal keeps amounts exact: a float would round them past ~15 digits.
            return json.loads(body.decode("utf-8"), parse_float=Decimal)
        except UnicodeDecodeError:
            raise ApiError(400, ApiErrorCode.MALFORMED_BODY, "the body is not valid UTF-8") from None
        except json.JSONDecodeError as exc:
            raise ApiError(400, ApiErrorCode.MALFORMED_BODY,
                           f"the body is not valid JSON (line {exc.lineno}, column {exc.colno})") from None


api = NinjaAPI(
    title="Bindery management API",
    version=__version__,
    description="Manage the hub's catalog, stock, prices, customers, orders and shipments. "
    "Authenticate with an API token as `Authorization: Bearer <token>` or in a `token` header.",
    urls_namespace="api-v1",
    auth=[BearerTokenAuth(), TokenHeaderAuth()],
    parser=StrictJsonParser(),
    docs_url="/docs",
)


def _json(request: HttpRequest, status: int, body: dict[str, Any]) -> HttpResponse:
    return api.create_response(request, body, status=status)


@api.exception_handler(TenantElsewhere)
def _tenant_elsewhere(request: HttpRequest, exc: TenantElsewhere) -> HttpResponse:
    return tenant_elsewhere_response(request, exc)


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return _json(request, exc.status, exc.body())


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = []
    for error in exc.errors:
        location = [str(part) for part in error.get("loc", ())]
        # ninja prefixes the location with where the value came from ("body", "query", "payload")
        field = ".".join(location[2:] if len(location) > 2 and location[0] == "body" else location[1:])
        errors.append({"field": field or None, "message": error.get("msg", "invalid value")})
    first = errors[0] if errors else {"field": None, "message": "invalid request"}
    body = {"code": ApiErrorCode.INVALID, "message": f"{first['field']}: {first['message']}"
            if first["field"] else str(first["message"]), "errors": errors}
    if first["field"]:
        body["field"] = first["field"]
    return _json(request, 422, body)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = _json(request, 401, {"code": ApiErrorCode.UNAUTHENTICATED,
                                    "message": "a valid API token is required"})
    response["WWW-Authenticate"] = 'Bearer realm="bindery"'
    return response


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # ninja wraps errors raised while parsing the body; answer with the parser's own error.
    if isinstance(exc.__cause__, ApiError):
        return _api_error(request, exc.__cause__)
    return _json(request, exc.status_code, {"code": "http_error", "message": str(exc)})


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return _json(request, 413, {"code": ApiErrorCode.BODY_TOO_LARGE, "message": "the request body is too large"})


_CATALOG_STATUS = {
    "not_found": 404,
    "already_exists": 409,
    "conflict": 409,
    "plan_limit_exceeded": 409,
}


def _add_catalog_error_handler() -> None:
    from bindery.catalog.errors import CatalogError

    @api.exception_handler(CatalogError)
    def _catalog_error(request: HttpRequest, exc: CatalogError) -> HttpResponse:
        """NotFound (another tenant's object too) is 404; state conflicts 409; refused values 422."""
        body = {"code": str(exc.code), "message": exc.message}
        if exc.field:
            body["field"] = exc.field
        return _json(request, _CATALOG_STATUS.get(str(exc.code), 422), body)


def _add_routers() -> None:
    from bindery.api.routes import catalog_products, catalog_reference, catalog_stock_prices, me, sales

    api.add_router("", me.router)
    api.add_router("", catalog_products.router)
    api.add_router("", catalog_stock_prices.router)
    api.add_router("", catalog_reference.router)
    _add_catalog_error_handler()
    sales.register(api)
    from bindery.api.routes import privacy

    api.add_router("/privacy", privacy.router)
    from bindery.api.routes import integration

    integration.register(api)
    from bindery.api.routes import members

    api.add_router("", members.router)
    from bindery.api.routes import security

    api.add_router("", security.router)


_add_routers()
