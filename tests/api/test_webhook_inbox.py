"""The webhook inbox: signed deliveries are stored once and wake the node's connectors; the rest is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from bindery.control.models import LocalTenant
from bindery.integration.models import Run, RunTrigger, WebhookEvent, WebhookScheme, WebhookStatus
from bindery.integration.webhooks import do_set_webhook_secret
from bindery.security.models import SecurityEvent, SecurityEventKind
from tests.api.connector_calls import api_node, connector
from tests.conftest import HttpsClient

pytestmark = pytest.mark.django_db(databases="__all__")

ORDER = json.dumps({"id": 820982911946154508, "email": "jon@example.com", "status": "processing"}).encode()


def _mac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@pytest.fixture
def shop(tenant: LocalTenant) -> tuple[str, str, object]:
    """An API node with a WooCommerce-style inbox (any node may have one)."""
    node = api_node(tenant, "Shop", technology="bindery_api")
    secret = do_set_webhook_secret(node, scheme=WebhookScheme.WOOCOMMERCE, actor="test")
    return f"/api/webhooks/{node.pk}", secret, node


def _refusals(reason: str) -> int:
    return SecurityEvent.objects.filter(kind=SecurityEventKind.WEBHOOK_REFUSED, detail__reason=reason).count()


def test_a_signed_woocommerce_delivery_is_stored_once_and_processed(
        client: HttpsClient, tenant: LocalTenant, shop: tuple[str, str, object],
        django_capture_on_commit_callbacks: Any) -> None:
    url, secret, _ = shop
    headers = {"HTTP_X_WC_WEBHOOK_SIGNATURE": _mac(secret, ORDER), "HTTP_X_WC_WEBHOOK_TOPIC": "order.updated",
               "HTTP_X_WC_WEBHOOK_DELIVERY_ID": "d-1"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, ORDER, content_type="application/json", **headers)
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.for_tenant(tenant).get()
    assert (event.event_id, event.topic) == ("d-1", "order.updated")
    assert event.status in (WebhookStatus.PROCESSED, WebhookStatus.IGNORED)  # the inline queue processed it
    assert event.body_sha256 == hashlib.sha256(ORDER).hexdigest()
    stored = WebhookEvent.objects.for_tenant(tenant).values().get()  # every column of the row
    assert not [column for column, value in stored.items() if "jon@example.com" in str(value)
                or "820982911946154508" in str(value)]  # the payload (personal data) is not kept
    again = client.post(url, ORDER, content_type="application/json", **headers)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert WebhookEvent.objects.for_tenant(tenant).count() == 1
    assert _refusals("duplicate") == 1


@pytest.mark.parametrize("case", ["unsigned", "wrong secret", "changed body"])
def test_unsigned_and_badly_signed_deliveries_are_401_events_and_stored_nowhere(
        client: HttpsClient, tenant: LocalTenant, shop: tuple[str, str, object], case: str) -> None:
    url, secret, _ = shop
    headers = {"HTTP_X_WC_WEBHOOK_TOPIC": "order.updated", "HTTP_X_WC_WEBHOOK_DELIVERY_ID": "d-2"}
    if case == "wrong secret":
        headers["HTTP_X_WC_WEBHOOK_SIGNATURE"] = _mac(secret + "x", ORDER)
    elif case == "changed body":
        headers["HTTP_X_WC_WEBHOOK_SIGNATURE"] = _mac(secret, ORDER + b" ")
    response = client.post(url, ORDER, content_type="application/json", **headers)
    assert response.status_code == 401
    assert _refusals("unsigned" if case == "unsigned" else "bad_signature") == 1
    assert not WebhookEvent.objects.for_tenant(tenant).exists()


def test_an_order_event_starts_the_nodes_order_connectors(client: HttpsClient, tenant: LocalTenant,
                                                          django_capture_on_commit_callbacks: Any) -> None:
    from bindery.integration.registry import ConnectorType, Direction, EmptySchema, Technology, register, unregister

    def download(ctx: object) -> None:
        return None

    register(Technology(key="test_shop", name="Test shop", connector_types=(
        ConnectorType(key="orders", name="Download orders", direction=Direction.ORDER_DOWNLOAD,
                      config_schema=EmptySchema, run=download),
        ConnectorType(key="products", name="Publish products", direction=Direction.PRODUCT_PUBLISH,
                      config_schema=EmptySchema, run=download))))
    try:
        node = api_node(tenant, "Test shop", technology="test_shop")
        orders = connector(tenant, node, "orders")
        connector(tenant, node, "products")
        secret = do_set_webhook_secret(node, scheme=WebhookScheme.SHOPIFY, actor="test")
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/api/webhooks/{node.pk}", ORDER, content_type="application/json",
                                   HTTP_X_SHOPIFY_HMAC_SHA256=_mac(secret, ORDER),
                                   HTTP_X_SHOPIFY_TOPIC="orders/updated", HTTP_X_SHOPIFY_EVENT_ID="e-1")
        assert response.status_code == 200
        runs = Run.objects.for_tenant(tenant).filter(trigger=RunTrigger.WEBHOOK)
        assert [r.connector_id for r in runs] == [orders.pk]
        event = WebhookEvent.objects.for_tenant(tenant).get()
        assert event.status == WebhookStatus.PROCESSED
        assert "Test shop orders" in event.outcome
    finally:
        unregister("test_shop")


def test_standard_webhooks_signature_and_replay_window(client: HttpsClient, tenant: LocalTenant) -> None:
    node = api_node(tenant, "Standard sender")
    secret = do_set_webhook_secret(node, scheme=WebhookScheme.STANDARD, actor="test")
    assert secret.startswith("whsec_")
    url = f"/api/webhooks/{node.pk}"
    body = json.dumps({"type": "product.updated", "data": {"sku": "A"}}).encode()

    def signed(msg_id: str, at: int) -> dict[str, str]:
        from datetime import UTC, datetime

        signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(at, tz=UTC), body.decode())
        return {"HTTP_WEBHOOK_ID": msg_id, "HTTP_WEBHOOK_TIMESTAMP": str(at), "HTTP_WEBHOOK_SIGNATURE": signature}

    ok = client.post(url, body, content_type="application/json", **signed("msg_1", int(time.time())))
    assert ok.status_code == 200, ok.content
    assert WebhookEvent.objects.for_tenant(tenant).get().topic == "product.updated"
    stale = client.post(url, body, content_type="application/json", **signed("msg_2", int(time.time()) - 3600))
    assert stale.status_code == 401
    garbage = client.post(url, body, content_type="application/json", HTTP_WEBHOOK_ID="msg_3",
                          HTTP_WEBHOOK_TIMESTAMP="soon", HTTP_WEBHOOK_SIGNATURE="v1,,,, v9")
    assert garbage.status_code == 401


def test_unknown_node_oversized_body_and_bad_secrets(client: HttpsClient, tenant: LocalTenant,
                                                     shop: tuple[str, str, object]) -> None:
    from bindery.integration.errors import IntegrationError

    assert client.post("/api/webhooks/not-a-uuid", b"{}", content_type="application/json").status_code == 404
    assert client.post("/api/webhooks/0190f3a0-0000-7000-8000-000000000001", b"{}",
                       content_type="application/json").status_code == 404
    url, secret, node = shop
    big = b"{" + b" " * (3 * 1024 * 1024) + b"}"
    response = client.post(url, big, content_type="application/json",
                           HTTP_X_WC_WEBHOOK_SIGNATURE=_mac(secret, big))
    assert response.status_code == 413
    for scheme, bad in ((WebhookScheme.WOOCOMMERCE, "short"), (WebhookScheme.STANDARD, "whsec_notbase64!!!!!!!!"),
                        ("made-up", "a" * 32)):
        with pytest.raises(IntegrationError):
            do_set_webhook_secret(node, scheme=scheme, secret=bad, actor="test")  # type: ignore[arg-type]


def test_webhook_secrets_are_sealed(tenant: LocalTenant, shop: tuple[str, str, object]) -> None:
    from bindery.integration.models import WebhookEndpoint
    from bindery.integration.webhooks import _secret

    _, secret, node = shop
    endpoint = WebhookEndpoint.objects.for_tenant(tenant).get(node=node)
    assert _secret(endpoint) == secret
    assert secret.encode() not in bytes(endpoint.secret_sealed)


def test_key_rotation_rewraps_webhook_secrets(tenant: LocalTenant, shop: tuple[str, str, object]) -> None:
    from django.test import override_settings

    from bindery.integration.actions import do_rotate_master_key
    from bindery.integration.models import WebhookEndpoint
    from bindery.integration.webhooks import _secret
    from bindery.security import envelope

    _, secret, node = shop
    old = envelope.keyring()
    new_text = envelope.new_key_text()
    old_texts = ",".join(envelope.base64.urlsafe_b64encode(k.key).decode() for k in old.keys)
    try:
        with override_settings(BINDERY_MASTER_KEY=f"{new_text},{old_texts}"):
            envelope.reset_keyring()
            assert do_rotate_master_key(actor="test")[0] == 2  # the node's credentials and its webhook secret
        with override_settings(BINDERY_MASTER_KEY=new_text):
            envelope.reset_keyring()
            assert _secret(WebhookEndpoint.objects.for_tenant(tenant).get(node=node)) == secret
    finally:
        envelope.reset_keyring()
