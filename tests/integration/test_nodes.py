"""Nodes: settings validated, credentials sealed at rest, masked when shown, never logged, rotatable."""

from __future__ import annotations

import logging

import pytest
from django.db import connection
from django.test import override_settings

from bindery.control.models import LocalTenant
from bindery.integration import registry
from bindery.integration.actions import (
    do_create_connector,
    do_create_node,
    do_enqueue_run,
    do_rotate_master_key,
    do_update_node,
    masked_credentials,
    read_node_credentials,
)
from bindery.integration.errors import IntegrationError
from bindery.integration.models import Node, RunItemFailure, RunLogLine, RunStatus
from bindery.integration.registry import Technology
from bindery.integration.runner import execute_run
from bindery.security import envelope
from tests.integration.conftest import SECRET

pytestmark = pytest.mark.django_db(databases="__all__")


def raw_credentials(node: Node) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials_sealed FROM integration_node WHERE id = %s",
                       [node.pk.hex if connection.vendor == "sqlite" else node.pk])
        return bytes(cursor.fetchone()[0])


def test_credentials_are_sealed_at_rest_and_masked(vault_node: Node) -> None:
    """The stored bytes hold neither secret; reading decrypts; display shows only masked field names."""
    stored = raw_credentials(vault_node)
    assert SECRET.encode() not in stored
    assert b"key-1234567890" not in stored
    assert envelope.sealed_key_id(stored) == vault_node.credentials_key_id
    assert read_node_credentials(Node.objects.for_tenant(vault_node.tenant_id).get()) == {
        "api_key": "key-1234567890", "api_secret": SECRET}
    assert masked_credentials(vault_node) == {"api_key": "••••••", "api_secret": "••••••"}


def test_malformed_settings_and_credentials_get_field_errors_without_echoing_values(
        tenant: LocalTenant, vault_technology: Technology) -> None:
    """Every bad field is named; the rejected value (maybe a secret) never appears in the message."""
    with pytest.raises(IntegrationError) as bad:
        do_create_node(tenant, "v", "vault_test", settings={"base_url": "http://plain", "extra": 1},
                       credentials={"api_key": "short-secret-x"}, actor="test")
    fields = {e.field for e in bad.value.errors}
    assert fields == {"settings.base_url", "settings.extra"}
    with pytest.raises(IntegrationError) as creds:
        do_create_node(tenant, "v", "vault_test", settings={"base_url": "https://x"},
                       credentials={"api_key": "tiny", "api_secret": 7}, actor="test")
    assert {e.field for e in creds.value.errors} == {"credentials.api_key", "credentials.api_secret"}
    assert "tiny" not in str([e.message for e in creds.value.errors]) + creds.value.message
    with pytest.raises(IntegrationError, match="must be an object"):
        do_create_node(tenant, "v", "vault_test", settings=["not", "an", "object"], actor="test")
    with pytest.raises(IntegrationError) as unknown:
        do_create_node(tenant, "v", "no_such_tech", actor="test")
    assert (unknown.value.code, unknown.value.field) == ("unknown_technology", "technology")
    assert not Node.objects.for_tenant(tenant).exists()


def test_duplicate_node_name_is_a_clear_error(tenant: LocalTenant, vault_node: Node) -> None:
    with pytest.raises(IntegrationError) as dup:
        do_create_node(tenant, "vault", "hub", actor="test")
    assert (dup.value.code, dup.value.field) == ("already_exists", "name")


def test_rotation_rewraps_every_data_key(tenant: LocalTenant, other_tenant: LocalTenant, vault_node: Node,
                                         vault_technology: Technology) -> None:
    """After adding a new current key and rotating, every node (all tenants) opens with the new key alone."""
    other = do_create_node(other_tenant, "vault", "vault_test", settings={"base_url": "https://o"},
                           credentials={"api_key": "other-key-123", "api_secret": "other-secret-123"}, actor="test")
    old = envelope.keyring()
    new_text = envelope.new_key_text()
    old_texts = ",".join(envelope.base64.urlsafe_b64encode(k.key).decode() for k in old.keys)
    with override_settings(BINDERY_MASTER_KEY=f"{new_text},{old_texts}"):
        envelope.reset_keyring()
        assert do_rotate_master_key(actor="test") == (2, 0)
        assert do_rotate_master_key(actor="test") == (0, 2)
    with override_settings(BINDERY_MASTER_KEY=new_text):
        envelope.reset_keyring()
        for node in (vault_node, other):
            fresh = Node.objects.unscoped().get(pk=node.pk)
            assert fresh.credentials_key_id == envelope.keyring().current.key_id_hex
            assert read_node_credentials(fresh)["api_key"] in ("key-1234567890", "other-key-123")
    with override_settings(BINDERY_MASTER_KEY=envelope.new_key_text()):
        envelope.reset_keyring()
        with pytest.raises(IntegrationError) as unreadable:
            read_node_credentials(Node.objects.unscoped().get(pk=vault_node.pk))
        assert unreadable.value.code == "credentials_unreadable"


def test_credentials_never_reach_logs_or_run_records(tenant: LocalTenant, vault_technology: Technology,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """Create, update, a run that uses them and a run whose error quotes them: no log or record holds the secret."""
    caplog.set_level(logging.DEBUG)
    node = do_create_node(tenant, "vault", "vault_test", settings={"base_url": "https://v"},
                          credentials={"api_key": "key-1234567890", "api_secret": SECRET}, actor="test")
    do_update_node(node, credentials={"api_key": "key-0987654321", "api_secret": SECRET}, actor="test")
    connector = do_create_connector(tenant, "echo", node, "echo", config={"items": 2, "fail_with": "secret"},
                                    actor="test")
    run = do_enqueue_run(connector=connector, actor="test")
    finished = execute_run(run.pk, heartbeat=False)
    assert finished is not None
    assert finished.status == RunStatus.FAILED
    assert SECRET not in finished.error
    texts = [r.getMessage() + str(r.__dict__) for r in caplog.records]
    texts += list(RunLogLine.objects.for_tenant(tenant).values_list("message", flat=True))
    texts += list(RunItemFailure.objects.for_tenant(tenant).values_list("message", flat=True))
    assert texts
    assert not [t for t in texts if SECRET in t]
    assert any("api_secret" in t for t in texts)  # the failure itself was recorded, with the value redacted


def test_registry_refuses_a_second_technology_with_the_same_key(vault_technology: Technology) -> None:
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Technology(key="vault_test", name="impostor"))
