"""Bindings: one per (node, kind, external id) and per (node, kind, hub id), whoever races."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import IntegrityError, connection, connections, transaction

from bindery.control.models import LocalTenant
from bindery.integration.actions import do_bind, do_bind_many
from bindery.integration.errors import IntegrationError
from bindery.integration.models import Binding, Node

pytestmark = pytest.mark.django_db(databases="__all__")


def test_bind_is_idempotent_and_refuses_to_rebind(hub_node: Node) -> None:
    hub_id = uuid.uuid4()
    first = do_bind(hub_node, "product", "EXT-1", hub_id)
    assert do_bind(hub_node, "product", "EXT-1", hub_id).pk == first.pk
    with pytest.raises(IntegrationError, match="bound to another hub id"):
        do_bind(hub_node, "product", "EXT-1", uuid.uuid4())
    with pytest.raises(IntegrationError, match="bound to another external id"):
        do_bind(hub_node, "product", "EXT-2", hub_id)
    assert Binding.objects.for_tenant(hub_node.tenant_id).count() == 1


def test_bind_many_binds_new_pairs_and_reports_conflicts(hub_node: Node) -> None:
    """A page of pairs: new ones bound in one statement, existing ones kept, conflicting ones reported."""
    taken = uuid.uuid4()
    do_bind(hub_node, "product", "A", taken)
    pairs = [("A", taken), ("B", uuid.uuid4()), ("C", taken), ("A2", uuid.uuid4())]
    assert do_bind_many(hub_node, "product", pairs) == ["C"]
    bound = dict(Binding.objects.for_tenant(hub_node.tenant_id).values_list("external_id", "hub_id"))
    assert set(bound) == {"A", "B", "A2"}
    assert do_bind_many(hub_node, "product", pairs[:2]) == []


def test_the_database_refuses_a_duplicate_binding(tenant: LocalTenant, hub_node: Node) -> None:
    do_bind(hub_node, "product", "X", uuid.uuid4())
    with pytest.raises(IntegrityError), transaction.atomic():
        Binding.objects.create(tenant=tenant, node=hub_node, entity_kind="product", external_id="X",
                               hub_id=uuid.uuid4(), synced_at=hub_node.created_at)


@pytest.mark.skipif("connection.vendor != 'postgresql'",
                    reason="concurrent writers need a server database; SQLite serializes all writers anyway")
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_concurrent_binders_end_with_one_binding(tenant: LocalTenant, hub_node: Node) -> None:
    """Eight threads bind the same external id at the same moment: one row, every thread sees it."""
    hub_id = uuid.uuid4()
    barrier = threading.Barrier(8)
    results: list[uuid.UUID] = []
    errors: list[BaseException] = []

    def bind() -> None:
        try:
            barrier.wait(timeout=30)
            results.append(do_bind(hub_node, "product", "RACE", hub_id).pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=bind) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert len(set(results)) == 1
    assert len(results) == 8
    assert Binding.objects.for_tenant(tenant).filter(external_id="RACE").count() == 1
    assert connection.vendor == "postgresql"
