"""The webhook inbox: shops push events; each is verified, stored once, answered at once, processed by a worker.

Signatures are HMAC-SHA256 over the raw body with the node's shared secret, in the sender's
scheme: Shopify (``X-Shopify-Hmac-Sha256``) and WooCommerce (``X-WC-Webhook-Signature``) send
base64 of the MAC of the body; Standard Webhooks signs ``id.timestamp.body`` (checked by the
``standardwebhooks`` library, which also refuses timestamps more than 5 minutes away, so an old
delivery cannot be replayed). A missing or wrong signature is refused with 401 and a security
event, before anything is stored.

An event is stored by the sender's event id: a second delivery of the same event (senders retry
whatever they did not see acknowledged) is answered 200 and not stored again, so it is processed
once. Processing does not trust the payload: an order or product event starts the node's
download or import connector, which reads the current state through the shop's API (payloads
arrive out of order and may be stale; the scheduled runs stay the safety net).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bindery.control.actors import actor_label
from bindery.control.routers import HOST
from bindery.integration import registry
from bindery.integration.errors import IntegrationError, IntegrationErrorCode
from bindery.integration.models import (
    Connector,
    Node,
    RunTrigger,
    WebhookEndpoint,
    WebhookEvent,
    WebhookScheme,
    WebhookStatus,
)
from bindery.integration.registry import Direction
from bindery.security import envelope

logger = logging.getLogger(__name__)

MAX_BODY = 2 * 1024 * 1024
MAX_EVENT_ID = 200
TOPIC_DIRECTIONS = (("order", Direction.ORDER_DOWNLOAD), ("product", Direction.PRODUCT_IMPORT))


class WebhookRefused(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


@dataclass(frozen=True)
class Received:
    event: WebhookEvent
    duplicate: bool


def _aad(node_id: uuid.UUID) -> bytes:
    return b"bindery.integration.webhook.secret:" + node_id.bytes


def new_secret(scheme: str) -> str:
    if scheme == WebhookScheme.STANDARD:
        return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    return secrets.token_urlsafe(32)


@sensitive_variables("secret")
def _check_secret(scheme: str, secret: str) -> None:
    if not 16 <= len(secret) <= 300 or not secret.isprintable():
        raise IntegrationError(IntegrationErrorCode.INVALID_VALUE, "a webhook secret has 16-300 printable characters",
                               field="secret")
    if scheme == WebhookScheme.STANDARD:
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            key = b""
        if len(key) < 24:
            raise IntegrationError(IntegrationErrorCode.INVALID_VALUE, "a Standard Webhooks secret is whsec_ "
                                   "followed by at least 24 bytes in base64", field="secret")


@sensitive_variables("secret")
def do_set_webhook_secret(node: Node, *, scheme: str, secret: str | None = None, actor: Any) -> str:
    """Enable (or re-key) the node's webhook inbox; return the secret, which the caller shows once."""
    if scheme not in WebhookScheme.values:
        raise IntegrationError(IntegrationErrorCode.INVALID_VALUE,
                               f"scheme must be one of {', '.join(WebhookScheme.values)}", field="scheme")
    secret = secret.strip() if secret else new_secret(scheme)
    _check_secret(scheme, secret)
    keyring = envelope.keyring()
    sealed = envelope.seal(secret.encode(), keyring, aad=_aad(node.pk))
    WebhookEndpoint.objects.for_tenant(node.tenant_id).update_or_create(
        node=node, defaults={"tenant_id": node.tenant_id, "scheme": scheme, "secret_sealed": sealed,
                             "secret_key_id": keyring.current.key_id_hex, "enabled": True})
    logger.info("webhook secret set", extra={"event": "integration.webhook_secret_set", "node": str(node.pk),
                                             "scheme": scheme, "actor": actor_label(actor)})
    return secret


def rewrap_webhook_secrets(keyring: envelope.Keyring) -> int:
    """Re-wrap every webhook secret under the current master key (part of ``bindery keys rotate``)."""
    current = keyring.current.key_id_hex
    done = 0
    for endpoint_id in WebhookEndpoint.objects.unscoped().exclude(secret_key_id=current).values_list("pk", flat=True):
        with transaction.atomic(using=HOST):
            endpoint = WebhookEndpoint.objects.unscoped().select_for_update().get(pk=endpoint_id)
            endpoint.secret_sealed = envelope.rewrap(bytes(endpoint.secret_sealed), keyring)
            endpoint.secret_key_id = current
            endpoint.save(update_fields=["secret_sealed", "secret_key_id"])
            done += 1
    return done


@sensitive_variables("secret")
def _secret(endpoint: WebhookEndpoint) -> str:
    return envelope.open_sealed(bytes(endpoint.secret_sealed), envelope.keyring(), aad=_aad(endpoint.node_id)).decode()


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name.lower(), "")
    return value.strip() if isinstance(value, str) and len(value) <= 1000 else ""


@sensitive_variables("secret")
def verify(endpoint: WebhookEndpoint, headers: Mapping[str, str], body: bytes) -> tuple[str, str]:
    """Check the signature in the endpoint's scheme; return (event id, topic) or raise WebhookRefused."""
    secret = _secret(endpoint)
    if endpoint.scheme == WebhookScheme.STANDARD:
        if not (_header(headers, "webhook-id") and _header(headers, "webhook-signature")):
            raise WebhookRefused(401, "unsigned", "webhook-id, webhook-timestamp and webhook-signature are required")
        try:
            Webhook(secret).verify(body, dict(headers), json_parse=False)
        except (WebhookVerificationError, ValueError, UnicodeDecodeError, binascii.Error):
            raise WebhookRefused(401, "bad_signature", "the signature does not match, or the timestamp "
                                 "is more than 5 minutes away") from None
        return _header(headers, "webhook-id"), _standard_topic(body)
    name, event_headers, topic_header = (
        ("x-shopify-hmac-sha256", ("x-shopify-event-id", "x-shopify-webhook-id"), "x-shopify-topic")
        if endpoint.scheme == WebhookScheme.SHOPIFY else
        ("x-wc-webhook-signature", ("x-wc-webhook-delivery-id",), "x-wc-webhook-topic"))
    given = _header(headers, name)
    if not given:
        raise WebhookRefused(401, "unsigned", f"the {name} header is required")
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise WebhookRefused(401, "bad_signature", "the signature does not match the body")
    event_id = next((_header(headers, h) for h in event_headers if _header(headers, h)), "")
    # Without an id header the body identifies the event: the same body twice is one event.
    return event_id or "sha256:" + hashlib.sha256(body).hexdigest(), _header(headers, topic_header)


def _standard_topic(body: bytes) -> str:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return ""
    topic = data.get("type") if isinstance(data, dict) else None
    return topic[:200] if isinstance(topic, str) else ""


def receive(endpoint: WebhookEndpoint, headers: Mapping[str, str], body: bytes) -> Received:
    """Verify and store one delivery to ``endpoint`` (read with its node, and the tenant scope
    entered, by the caller); queue its processing."""
    if not endpoint.enabled or not endpoint.node.enabled:
        raise WebhookRefused(404, "no_inbox", "no webhook inbox here")
    if len(body) > MAX_BODY:
        raise WebhookRefused(413, "too_large", f"webhook bodies are limited to {MAX_BODY} bytes")
    event_id, topic = verify(endpoint, headers, body)
    if len(event_id) > MAX_EVENT_ID or not event_id.isprintable():
        raise WebhookRefused(400, "bad_event_id", "the event id is over 200 characters or not printable")
    event = WebhookEvent(tenant_id=endpoint.tenant_id, node=endpoint.node, event_id=event_id, topic=topic[:200],
                         body_sha256=hashlib.sha256(body).hexdigest(), body_size=len(body),
                         received_at=timezone.now())
    try:
        with transaction.atomic(using=HOST):
            event.save(force_insert=True)
            transaction.on_commit(lambda: _wake(event.pk), using=HOST)
    except IntegrityError:
        stored = WebhookEvent.objects.for_tenant(endpoint.tenant_id).get(node=endpoint.node, event_id=event_id)
        return Received(stored, duplicate=True)
    return Received(event, duplicate=False)


def _wake(event_id: uuid.UUID) -> None:
    from bindery.integration.tasks import process_webhook_job

    process_webhook_job(str(event_id))


def process_event(event_id: uuid.UUID) -> WebhookEvent | None:
    """Start the node's connectors that the event's topic concerns; record what was done."""
    from bindery.integration.actions import do_enqueue_run

    with transaction.atomic(using=HOST):
        event = (WebhookEvent.objects.unscoped().select_for_update().select_related("node")
                 .filter(pk=event_id, status=WebhookStatus.PENDING).first())
        if event is None:
            return None  # processed already (a duplicated wake-up)
        topic = event.topic.lower()
        wanted = [direction for word, direction in TOPIC_DIRECTIONS if word in topic]
        started: list[str] = []
        notes: list[str] = []
        for connector in Connector.objects.for_tenant(event.tenant_id).filter(node=event.node, enabled=True):
            try:
                direction = registry.get(event.node.technology).connector_type(connector.connector_type).direction
            except IntegrationError:
                continue
            if direction not in wanted:
                continue
            try:
                do_enqueue_run(connector=connector, trigger=RunTrigger.WEBHOOK, actor=f"webhook:{event.event_id[:60]}")
            except IntegrationError as error:
                notes.append(f"{connector.name}: {error}")
                continue
            started.append(connector.name)
        event.status = WebhookStatus.PROCESSED if started or notes else WebhookStatus.IGNORED
        event.outcome = ("started " + ", ".join(started) if started else "no connector listens to this topic"
                         if not notes else "") + ("; " + "; ".join(notes) if notes else "")
        event.processed_at = timezone.now()
        event.save(update_fields=["status", "outcome", "processed_at", "modified_at"])
    return event

