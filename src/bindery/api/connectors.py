"""Connector URLs: ``/api/connectors/<id>/...``, the endpoints other systems call (OpenAPI at ``openapi.json``).

One URL per connector, as bindCommerce clients expect (shared design WIRE.md): the connector
decides what the call does (its type, configuration and filters); the caller only says which
endpoint. Authentication is :mod:`bindery.api.connector_auth`; what each endpoint does is
:mod:`bindery.technologies.bindery_api.calls`; each call is recorded as a run of the connector.

Errors keep each endpoint's own shape: the XML ``Documents/errorCode`` form on export orders
(what its readers parse), the JSON status object (``status``, ``message``, ``code``) elsewhere.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import APIKeyHeader, HttpBasicAuth, HttpBearer
from pydantic import ValidationError as PydanticValidationError

from bindery import __version__
from bindery.api.connector_auth import ConnectorCaller, authenticate_call, require_call_scope
from bindery.api.errors import ApiError, ApiErrorCode
from bindery.control.directory import TenantElsewhere
from bindery.control.middleware import tenant_elsewhere_response
from bindery.integration import registry
from bindery.integration.calls import Call, recorded_call
from bindery.integration.errors import IntegrationError, IntegrationErrorCode
from bindery.integration.models import Connector
from bindery.security.client_ip import client_ip
from bindery.security.waf.exclusions import waf_bulk, waf_exclude
from bindery.technologies.bindery_api import calls
from bindery.technologies.bindery_api.connectors import (
    ExportOrdersConfig,
    ExportProductsConfig,
    ImportProductsConfig,
    OrderFormat,
    ShippingUpdateConfig,
)
from bindery.technologies.bindery_api.export_orders import error_xml
from bindery.technologies.files.exports import ExportFormat

XML_TYPES = frozenset({"text/xml", "application/xml", "text/plain", ""})
JSON_TYPES = frozenset({"application/json", "text/plain", ""})


class ConnectorTokenHeader(APIKeyHeader):
    """``token: <token of the connector's node>`` (what bindCommerce clients send)."""

    param_name = "token"

    def __call__(self, request: HttpRequest) -> Any:
        return authenticate_call(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:  # pragma: no cover - unused
        return authenticate_call(request)


class ConnectorBearer(HttpBearer):
    """``Authorization: Bearer <token of the connector's node>``."""

    def __call__(self, request: HttpRequest) -> Any:
        return authenticate_call(request)

    def authenticate(self, request: HttpRequest, token: str) -> Any:  # pragma: no cover - unused
        return authenticate_call(request)


class LegacyBasic(HttpBasicAuth):
    """``Authorization: Basic`` login and password of a legacy ERP node, from an allowed address only."""

    def __call__(self, request: HttpRequest) -> Any:
        return authenticate_call(request)

    def authenticate(self, request: HttpRequest, username: str, password: str) -> Any:  # pragma: no cover
        return authenticate_call(request)


connectors_api = NinjaAPI(
    title="Bindery connector endpoints",
    version=__version__,
    description="URLs that ERPs, warehouses and other systems call, one per connector "
    "(bindCommerce compatible: see docs/api/). Authenticate with a token of the connector's node "
    "(`token` header or `Authorization: Bearer`), or, on a legacy ERP node, HTTP Basic credentials "
    "from an allowed address.",
    urls_namespace="api-connectors",
    auth=[ConnectorTokenHeader(), ConnectorBearer(), LegacyBasic()],
    docs_url="/docs",
)


def _is_xml_export(request: HttpRequest) -> bool:
    return request.method == "GET" and request.path.rstrip("/").endswith("/orders")


def error_response(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    if _is_xml_export(request):
        return HttpResponse(error_xml(code, message), status=status, content_type="text/xml; charset=UTF-8")
    return JsonResponse({"status": "error", "message": message, "code": status, "error": code}, status=status)


@connectors_api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    response = error_response(request, exc.status, str(exc.code), exc.message)
    if exc.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="bindery", Basic realm="bindery"'
    return response


@connectors_api.exception_handler(TenantElsewhere)
def _tenant_elsewhere(request: HttpRequest, exc: TenantElsewhere) -> HttpResponse:
    return tenant_elsewhere_response(request, exc)


@connectors_api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _api_error(request, ApiError(401, ApiErrorCode.UNAUTHENTICATED, "credentials are required"))


@connectors_api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return error_response(request, 413, ApiErrorCode.BODY_TOO_LARGE, "the request body is over 10 MiB; "
                          "send the catalogue in several calls")


@connectors_api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return error_response(request, 400, ApiErrorCode.INVALID, "invalid query parameter")


@connectors_api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return error_response(request, exc.status_code, "http_error", str(exc))


@connectors_api.exception_handler(IntegrationError)
def _integration_error(request: HttpRequest, exc: IntegrationError) -> HttpResponse:
    if exc.code is IntegrationErrorCode.ALREADY_RUNNING:
        return error_response(request, 409, ApiErrorCode.BUSY, str(exc))
    return error_response(request, 409, str(exc.code), str(exc))


def _serving(request: HttpRequest, endpoint: str, scope: str) -> tuple[ConnectorCaller, Connector]:
    """The authenticated caller and its connector, if that connector serves this endpoint."""
    caller: ConnectorCaller = request.auth  # type: ignore[attr-defined]
    connector = caller.connector
    ctype = registry.get(connector.node.technology).connector_type(connector.connector_type)
    if ctype.endpoint != endpoint:
        served = f"it serves {ctype.endpoint}" if ctype.endpoint else "it is not called at a URL"
        raise ApiError(404, ApiErrorCode.NO_SUCH_ENDPOINT, f"connector {connector.name!r} does not serve "
                       f"{endpoint}; {served}")
    require_call_scope(caller, request, scope)
    if not (connector.enabled and connector.node.enabled):
        raise ApiError(403, "disabled", "this connector or its node is disabled")
    return caller, connector


def _config(schema: Any, connector: Connector) -> Any:
    try:
        return schema.model_validate(connector.config or {})
    except PydanticValidationError:
        raise ApiError(409, ApiErrorCode.CONFLICT, "the connector's configuration is no longer valid; "
                       "open it in the console and save it again") from None


def _body(request: HttpRequest, accepted: frozenset[str]) -> bytes:
    media = (request.content_type or "").split(";")[0].strip().lower()
    if media not in accepted:
        raise ApiError(415, ApiErrorCode.UNSUPPORTED_MEDIA_TYPE,
                       f"content type {media[:60]!r} is not accepted here; send {sorted(accepted - {''})[0]}")
    return request.body  # over DATA_UPLOAD_MAX_MEMORY_SIZE: RequestDataTooBig, answered 413


def _summary(request: HttpRequest, caller: ConnectorCaller, what: str) -> str:
    return f"{what} called by {caller.actor} from {client_ip(request)}."


@dataclass
class Served:
    """One authorized call: who calls, the connector's validated configuration, the body, the run."""

    caller: ConnectorCaller
    config: Any
    body: bytes
    call: Call


@contextmanager
def _served(request: HttpRequest, endpoint: str, scope: str, what: str, *, schema: Any = None,
            accepted: frozenset[str] | None = None) -> Iterator[Served]:
    """Check the caller, the connector's configuration and the body, then record the call as a run."""
    caller, connector = _serving(request, endpoint, scope)
    config = _config(schema, connector) if schema is not None else None
    body = _body(request, accepted) if accepted is not None else b""
    with recorded_call(connector, actor=caller.actor, summary=_summary(request, caller, what)) as call:
        yield Served(caller, config, body, call)


def _answer(answer: calls.Answer) -> HttpResponse:
    if isinstance(answer.body, dict):
        return JsonResponse(answer.body, status=answer.status)
    return HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)


_XML_DOC = {"content": {"text/xml": {"schema": {"type": "string"}}}}
_JSON_STATUS = {"description": "status object: status, message, code, results",
                "content": {"application/json": {"schema": {"type": "object"}}}}
_ERRORS = {"401": {"description": "no or wrong credentials"},
           "403": {"description": "wrong node, scope or address"},
           "404": {"description": "no such connector, or it does not serve this endpoint"},
           "409": {"description": "another call to this connector is in progress"}}


@connectors_api.get(
    "/{connector_id}/orders", summary="Export orders", operation_id="export_orders",
    openapi_extra={"responses": {"200": {"description": "Documents XML (default), CSV or JSON", **_XML_DOC,
                                         "x-example": "<Documents><totalDocumentsFounded>1</totalDocumentsFounded>"
                                                      "<Document>...</Document></Documents>"}, **_ERRORS}})
def export_orders(request: HttpRequest, connector_id: str, format: OrderFormat | None = None) -> HttpResponse:
    """The connector's orders (order and product filters); with export-once, each order is returned once.

    Needs scope ``sales:read``. ``format`` overrides the connector's format (xml, csv, json).
    """
    with _served(request, "GET orders", "sales:read", "Export orders", schema=ExportOrdersConfig) as served:
        answer = calls.export_orders_call(served.call, served.config, format or served.config.format)
    return _answer(answer)


@connectors_api.post(
    "/{connector_id}/products", summary="Import products", operation_id="import_products",
    openapi_extra={"requestBody": {"required": True, "content": {"text/xml": {
        "schema": {"type": "string"},
        "example": '<?xml version="1.0" encoding="UTF-8"?><bindCommerceProducts Mode="full"><Products><Product>'
                   "<Code>SKU-1</Code><Title>Mug</Title><Qty>3</Qty></Product></Products></bindCommerceProducts>"}}},
                   "responses": {"200": _JSON_STATUS, "207": _JSON_STATUS, "400": _JSON_STATUS,
                                 "413": {"description": "body over 10 MiB"}, **_ERRORS}})
@waf_exclude(fields={"DescriptionHtml": ["xss"], "ShortDescription": ["xss"]})
@waf_bulk()  # a full catalogue in one XML document
def import_products(request: HttpRequest, connector_id: str) -> HttpResponse:
    """bindCommerceProducts XML in (UTF-8 or Latin-1); one result per product. Needs scope ``catalog:write``."""
    with _served(request, "POST products", "catalog:write", "Import products", schema=ImportProductsConfig,
                 accepted=XML_TYPES) as served:
        answer = calls.import_products_call(served.call, served.caller.tenant, served.config, served.body,
                                            actor=served.caller.actor)
    return _answer(answer)


@connectors_api.post(
    "/{connector_id}/documents", summary="Import documents", operation_id="import_documents",
    openapi_extra={"requestBody": {"required": True, "content": {"text/xml": {
        "schema": {"type": "string"},
        "example": "<Documents><Document><General><Number>A-1</Number><Date>2026-11-29 10:00:00</Date>"
                   "</General></Document></Documents>"}}},
                   "responses": {"200": _JSON_STATUS, "207": _JSON_STATUS, "400": _JSON_STATUS, **_ERRORS}})
@waf_bulk()
def import_documents(request: HttpRequest, connector_id: str) -> HttpResponse:
    """Orders or invoices as Documents XML in; JSON status out (``id_exec`` is the call's run id).

    Needs scope ``sales:write``.
    """
    with _served(request, "POST documents", "sales:write", "Import documents", accepted=XML_TYPES) as served:
        answer = calls.import_documents_call(served.call, served.caller.tenant, served.body, actor=served.caller.actor)
    return _answer(answer)


@connectors_api.post(
    "/{connector_id}/shipments", summary="Shipping update", operation_id="shipping_update",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"type": "array", "items": {"type": "object"}},
        "example": [{"OrderID": "1234", "TrackingCarrier": "UPS", "TrackingNumber": "1Z999",
                     "ShippedTime": "2026:11:29 10:30:00"}]}}},
                   "responses": {"200": _JSON_STATUS, "207": _JSON_STATUS, "400": _JSON_STATUS, **_ERRORS}})
def shipping_update(request: HttpRequest, connector_id: str) -> HttpResponse:
    """Tracking numbers for hub orders; they flow back to each order's channel. Needs scope ``sales:write``."""
    with _served(request, "POST shipments", "sales:write", "Shipping update", schema=ShippingUpdateConfig,
                 accepted=JSON_TYPES) as served:
        answer = calls.shipping_update_call(served.call, served.caller.tenant, served.config, served.body,
                                            actor=served.caller.actor)
    return _answer(answer)


@connectors_api.get(
    "/{connector_id}/products", summary="Export products", operation_id="export_products",
    openapi_extra={"responses": {"200": {"description": "a file: XML (default), CSV or JSON", **_XML_DOC},
                                 **_ERRORS}})
def export_products(request: HttpRequest, connector_id: str, format: ExportFormat | None = None
                    ) -> HttpResponse | FileResponse:
    """The products the connector's filter selects, with its price lists and warehouses. Needs ``catalog:read``."""
    with _served(request, "GET products", "catalog:read", "Export products", schema=ExportProductsConfig) as served:
        fmt = format or served.config.format
        path = calls.export_products_call(served.call, served.caller.tenant, served.config, fmt)
    handle = path.open("rb")
    # The spool folder goes as soon as the file is open: the open handle keeps the data readable.
    shutil.rmtree(path.parent, ignore_errors=True)
    response = FileResponse(handle, content_type=calls.CONTENT_TYPES[OrderFormat(fmt.value)])
    response["Content-Disposition"] = f'attachment; filename="products.{fmt.value}"'
    return response
