"""The webhook inbox URL: ``POST /api/webhooks/<node id>`` (OpenAPI at ``/api/webhooks/openapi.json``).

The signature is the authentication (see :mod:`bindery.integration.webhooks`): a delivery that is
unsigned or signed with another secret is refused 401 and written as a security event, and counts
toward the brute-force guard's ban of its source. A verified delivery is stored and answered at
once; a worker acts on it.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI

from bindery import __version__
from bindery.control.directory import TenantElsewhere
from bindery.control.middleware import enter_request_scope, tenant_elsewhere_response
from bindery.integration.models import WebhookEndpoint
from bindery.integration.webhooks import MAX_BODY, WebhookRefused, receive
from bindery.security import bruteforce
from bindery.security.client_ip import client_ip
from bindery.security.models import SecurityEventKind
from bindery.security.waf.exclusions import waf_bulk, waf_exclude

webhooks_api = NinjaAPI(
    title="Bindery webhook inbox",
    version=__version__,
    description="Shops push events here, signed with the node's webhook secret (Shopify, WooCommerce or "
    "Standard Webhooks scheme). See docs/api/.",
    urls_namespace="api-webhooks",
    docs_url="/docs",
)


def _status(status: int, message: str, **extra: object) -> JsonResponse:
    return JsonResponse({"status": "error" if status >= 400 else "ok", "message": message, **extra}, status=status)


@webhooks_api.post(
    "/{node_id}", summary="Receive a webhook", operation_id="receive_webhook", auth=None,
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"type": "object"}, "example": {"id": 820982911946154508, "status": "processing"}}}},
        "parameters": [{"in": "header", "name": name, "required": False, "schema": {"type": "string"}}
                       for name in ("X-Shopify-Hmac-Sha256", "X-Shopify-Topic", "X-Shopify-Event-Id",
                                    "X-WC-Webhook-Signature", "X-WC-Webhook-Topic", "X-WC-Webhook-Delivery-ID",
                                    "webhook-id", "webhook-timestamp", "webhook-signature")],
        "responses": {"200": {"description": "stored (or a duplicate, not stored again)"},
                      "401": {"description": "unsigned, wrong signature or stale timestamp"},
                      "404": {"description": "no inbox for this node"},
                      "413": {"description": "body over 2 MiB"}}})
@waf_exclude(skip=["xss", "sqli", "command", "lfi", "rfi", "php", "java"])
@waf_bulk()  # a shop's product webhook can carry thousands of variants
def receive_webhook(request: HttpRequest, node_id: str) -> HttpResponse:
    """A signed event from a shop; stored by its event id and processed by a worker.

    The firewall does not score the payload's fields: it is an authenticated copy of shop data
    (customer notes, product descriptions) that Bindery neither stores nor renders.
    """
    try:
        node = uuid.UUID(node_id)
    except ValueError:
        return _status(404, "no webhook inbox here")
    endpoint = WebhookEndpoint.objects.unscoped().select_related("node").filter(node_id=node).first()
    if endpoint is None:
        return _status(404, "no webhook inbox here")
    tenant_id = endpoint.tenant_id
    try:
        enter_request_scope(request, tenant_id)
    except TenantElsewhere as elsewhere:
        return tenant_elsewhere_response(request, elsewhere)
    try:
        body = request.body
    except RequestDataTooBig:
        return _status(413, f"webhook bodies are limited to {MAX_BODY} bytes")
    headers = {name.lower(): value for name, value in request.headers.items()}
    try:
        received = receive(endpoint, headers, body)
    except WebhookRefused as refused:
        bruteforce.record_event(SecurityEventKind.WEBHOOK_REFUSED, ip=client_ip(request), tenant_id=tenant_id,
                                reason=refused.reason, node_id=str(node))
        if refused.status == 401:
            bruteforce.token_failure(request)  # a wrong signature counts toward a ban, like a wrong token
        return _status(refused.status, refused.message)
    if received.duplicate:
        # Answered 2xx on purpose: senders retry anything else (and Shopify drops a subscription
        # after repeated failures); the event is not stored or processed again.
        bruteforce.record_event(SecurityEventKind.WEBHOOK_REFUSED, ip=client_ip(request), tenant_id=tenant_id,
                                reason="duplicate", node_id=str(node), event_id=received.event.event_id[:200])
        return _status(200, "duplicate: this event was received before", duplicate=True)
    return _status(200, "received", event=str(received.event.pk))
