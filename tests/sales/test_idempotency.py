"""Re-downloads are idempotent for any valid order, and concurrent downloads never duplicate."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, connection, connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bindery.control.models import LocalTenant
from bindery.sales import actions
from bindery.sales.actions import UpsertResult, do_upsert_order
from bindery.sales.models import Customer, Order, OrderRow
from bindery.sales.payloads import AddressPayload, CodePayload, CustomerPayload, OrderPayload, OrderRowPayload
from tests.sales.factories import SHOP_NODE, order_payload

text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=30)
amount = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1),  # noqa: DTZ001 - bounds
                     timezones=st.just(UTC))
emails = st.from_regex(r"[a-zA-Z]{1,10}@[a-z]{1,10}\.(com|it)", fullmatch=True)


@st.composite
def rows(draw: st.DrawFn) -> OrderRowPayload:
    net, vat = draw(amount), draw(amount)
    return OrderRowPayload(
        sku=draw(text), barcode=draw(st.text("0123456789", max_size=13)), description=draw(text),
        quantity=draw(st.decimals(min_value=0, max_value=10**4, places=4)), unit_price_net=draw(amount),
        unit_price_gross=draw(amount), discount_net=draw(amount),
        vat_rate=draw(st.sampled_from([Decimal(0), Decimal(4), Decimal("10"), Decimal("22")])),
        total_net=net, total_vat=vat, total_gross=net + vat, commission=draw(amount), warehouse_key=draw(text),
    )


@st.composite
def payloads(draw: st.DrawFn) -> OrderPayload:
    order_rows = tuple(draw(st.lists(rows(), max_size=4)))
    shipping_net, shipping_vat = draw(amount), draw(amount)
    net = sum((r.total_net for r in order_rows), Decimal(0)) + shipping_net
    vat = sum((r.total_vat for r in order_rows), Decimal(0)) + shipping_vat
    address = st.builds(AddressPayload, name=text, city=text, country=st.sampled_from(["", "IT", "DE", "FR"]))
    return OrderPayload(
        origin_node_id=draw(st.sampled_from([SHOP_NODE, None])),
        channel_order_number=draw(st.text("0123456789ABC-", min_size=1, max_size=12)),
        created_on_channel=draw(times), channel_updated_at=draw(st.none() | times),
        currency=draw(st.sampled_from(["EUR", "USD", "GBP", "CHF"])),
        customer=draw(st.none() | st.builds(CustomerPayload, email=st.just("") | emails, name=text,
                                            vat_number=st.text("0123456789", max_size=11))),
        billing_address=draw(st.none() | address), delivery_address=draw(st.none() | address),
        payment_method=draw(st.none() | st.builds(CodePayload, code=st.sampled_from(["paypal", "cod", "Card"]))),
        is_b2b=draw(st.booleans()), cash_on_delivery=draw(st.booleans()), notes=draw(text),
        net_total=net, vat_total=vat, total=net + vat, shipping_net=shipping_net, shipping_vat=shipping_vat,
        coupon_total=draw(amount), payment_total=draw(amount), rows=order_rows,
    )


@pytest.mark.django_db(databases="__all__")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads())
def test_redownloading_any_valid_order_is_idempotent(tenant: LocalTenant, payload: OrderPayload) -> None:
    """Storing a valid payload, then storing it again, changes nothing the second time."""
    do_upsert_order(tenant, payload, actor="test")
    key = {"origin_node_id": payload.origin_node_id, "channel_order_number": payload.channel_order_number}
    before = Order.objects.for_tenant(tenant).get(**key)
    again = do_upsert_order(tenant, payload, actor="test")
    after = Order.objects.for_tenant(tenant).get(**key)
    assert not again.changed
    assert not again.created
    assert after.modified_at == before.modified_at
    assert OrderRow.objects.for_tenant(tenant).filter(order=after).count() == len(payload.rows)


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_concurrent_downloads_of_one_order_store_it_once(tenant: LocalTenant) -> None:
    """Two threads downloading the same new order end with one order and one customer."""
    if connection.vendor != "postgresql":
        # SQLite's test database is in memory and shared-cache connections do not wait for
        # each other's locks; its writers are serialized by BEGIN IMMEDIATE in production.
        pytest.skip("needs PostgreSQL: concurrent writers on a real server")
    payload = order_payload(created_on_channel=datetime.now(UTC) - timedelta(hours=1))
    barrier = threading.Barrier(2)
    results: list[UpsertResult] = []
    errors: list[BaseException] = []

    def download() -> None:
        try:
            barrier.wait()
            results.append(do_upsert_order(tenant, payload, actor="test"))
        except BaseException as exc:  # collected and re-checked in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=download) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(r.created for r in results) == [False, True]
    assert Order.objects.for_tenant(tenant).count() == 1
    assert Customer.objects.for_tenant(tenant).count() == 1


@pytest.mark.django_db(databases="__all__")
def test_integrity_error_is_retried(tenant: LocalTenant, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real unique-constraint failure (here a hub key collision) rolls back and retries cleanly."""
    taken = do_upsert_order(tenant, order_payload("1"), actor="test").order.hub_order_key
    keys = iter([taken, "250314-FRESHKEY"])
    monkeypatch.setattr(actions, "new_hub_order_key", lambda now: next(keys))
    result = do_upsert_order(tenant, order_payload("2"), actor="test")
    assert result.created
    assert result.order.hub_order_key == "250314-FRESHKEY"
    assert Order.objects.for_tenant(tenant).count() == 2
    assert OrderRow.objects.for_tenant(tenant).filter(order=result.order).count() == 2


@pytest.mark.django_db(databases="__all__")
def test_persistent_integrity_errors_are_not_swallowed(tenant: LocalTenant, monkeypatch: pytest.MonkeyPatch) -> None:
    """A conflict that retrying cannot resolve surfaces after a bounded number of attempts."""
    calls: list[int] = []

    def always_conflict(*args: Any) -> UpsertResult:
        calls.append(1)
        raise IntegrityError("conflict")

    monkeypatch.setattr(actions, "_upsert_once", always_conflict)
    with pytest.raises(IntegrityError):
        do_upsert_order(tenant, order_payload(), actor="test")
    assert len(calls) == 3
