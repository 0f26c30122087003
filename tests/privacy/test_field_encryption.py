"""Personal fields are encrypted at rest under the tenant's keys; the database holds no clear value."""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path

import psycopg
import pytest
from django.db import connections, transaction

from bindery.control.models import LocalTenant
from bindery.control.routers import HOST
from bindery.privacy import fields
from bindery.privacy.fields import PREFIX, EncryptedLookupError, EncryptedMixin, FieldCryptoError
from bindery.privacy.keys import rotate_tenant_key
from bindery.privacy.models import KeyPurpose, TenantKey
from bindery.privacy.registry import DECLARATIONS, DataClass
from bindery.sales.models import Address, Customer, Order, Shipment
from bindery.sales.payloads import CustomerPayload
from bindery.security import envelope
from tests.privacy.people import EMAIL, GIULIA_VALUES, make_people
from tests.privacy.stored import raw_value
from tests.privacy.test_subject_requests import _text_values_in_host_database
from tests.sales.factories import order_payload, store
from tests.support.server import platform

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("fresh_keys")]


def test_every_personal_field_of_customers_orders_and_addresses_is_encrypted() -> None:
    """The registry is the one list: a personal sales field declared there must be an encrypted field."""
    for declaration in DECLARATIONS:
        if declaration.model.startswith("sales.") and declaration.data_class == DataClass.PERSONAL:
            model = {"sales.Customer": Customer, "sales.Address": Address, "sales.Order": Order,
                     "sales.Shipment": Shipment}[declaration.model]
            field = model._meta.get_field(declaration.field)
            assert isinstance(field, EncryptedMixin), f"{declaration.model}.{declaration.field} is stored in clear"


def test_host_database_holds_no_personal_value_in_clear(tenant: LocalTenant) -> None:
    """Every text column of every host table, scanned by SQL (SQLite and PostgreSQL alike)."""
    people = make_people(tenant)
    values = _text_values_in_host_database()
    found = [v for v in values for needle in (*GIULIA_VALUES, "Rossi", "Via Roma 1") if needle.lower() in v.lower()]
    assert found == []
    assert any(v.startswith(PREFIX) for v in values)
    # ... and the application still reads them.
    giulia = Customer.objects.for_tenant(tenant).get(pk=people.giulia.pk)
    assert (giulia.email, giulia.surname, giulia.fiscal_code) == ("Giulia.Bianchi@example.com", "Bianchi",
                                                                  "BNCGLI80A41F205X")
    address = Address.objects.for_tenant(tenant).filter(order=people.giulia_orders[0]).first()
    assert address is not None
    assert address.address_line1 == "Via Garibaldi 42"
    assert address.country == "IT"
    assert Order.objects.for_tenant(tenant).get(pk=people.giulia_orders[0].pk).notes == "Call Giulia before delivery"


def test_tenant_keys_are_stored_wrapped_by_the_master_key(tenant: LocalTenant) -> None:
    make_people(tenant)
    keys = list(TenantKey.objects.for_tenant(tenant))
    assert {k.purpose for k in keys} == {KeyPurpose.DATA, KeyPurpose.INDEX}
    for key in keys:
        assert key.master_key_id == envelope.keyring().current.key_id_hex
        assert len(bytes(key.sealed)) == envelope.HEADER_BYTES + fields.KEY_BYTES + 16


def test_an_sql_filter_on_a_clear_value_is_refused_not_run(tenant: LocalTenant) -> None:
    """Comparing ciphertext with clear text would silently match nothing; it raises instead."""
    make_people(tenant)
    with pytest.raises(EncryptedLookupError, match=r"sales\.Customer\.surname is encrypted"):
        list(Customer.objects.for_tenant(tenant).filter(surname="Bianchi"))
    with pytest.raises(EncryptedLookupError), transaction.atomic(using=HOST):  # a savepoint: update() poisons it
        Customer.objects.for_tenant(tenant).update(name="clear text")
    assert Customer.objects.for_tenant(tenant).filter(surname="").count() == 0  # blanks are comparable


def test_a_value_copied_into_another_column_or_tampered_does_not_decrypt(tenant: LocalTenant) -> None:
    people = make_people(tenant)
    surname = raw_value(Customer, people.giulia.pk, "surname")
    Customer.objects.for_tenant(tenant).filter(pk=people.other.pk).update(
        name=fields.Opened("x", surname, tenant.pk, b"sales.Customer.surname"))  # the stored ciphertext, as is
    with pytest.raises(FieldCryptoError, match="copied from another column"):
        Customer.objects.for_tenant(tenant).get(pk=people.other.pk)
    tampered = surname[:-2] + ("A" if surname[-2] != "A" else "B") + surname[-1]
    connection = connections[HOST]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE sales_customer SET surname = %s WHERE id = %s",
                       [tampered, people.giulia.pk.hex if connection.vendor == "sqlite" else people.giulia.pk])
    with pytest.raises(FieldCryptoError, match="does not verify"):
        Customer.objects.for_tenant(tenant).get(pk=people.giulia.pk)


def test_key_rotation_reencrypts_and_keeps_everything_readable(tenant: LocalTenant) -> None:
    people = make_people(tenant)
    before_raw = raw_value(Customer, people.giulia.pk, "surname")
    before = {m: sorted((str(r.pk), *(str(getattr(r, n)) for n in fields.encrypted_fields(m)))
                        for r in m.objects.for_tenant(tenant)) for m in (Customer, Address, Order, Shipment)}
    modified = Order.objects.for_tenant(tenant).get(pk=people.giulia_orders[0].pk).modified_at
    old_key = TenantKey.objects.for_tenant(tenant).get(purpose=KeyPurpose.DATA)
    rotation = rotate_tenant_key(tenant, actor="test")
    assert rotation.rows == 2 + 3 + 3 * 2 + 1  # customers, orders, addresses, shipment
    assert rotation.retired_keys == 1
    fields.forget_keys()  # read back through the database, not the process's cache
    after = {m: sorted((str(r.pk), *(str(getattr(r, n)) for n in fields.encrypted_fields(m)))
                       for r in m.objects.for_tenant(tenant)) for m in (Customer, Address, Order, Shipment)}
    assert after == before
    after_raw = raw_value(Customer, people.giulia.pk, "surname")
    assert after_raw != before_raw
    assert after_raw.startswith(PREFIX)
    assert TenantKey.objects.for_tenant(tenant).get(pk=old_key.pk).retired_at is not None
    assert Order.objects.for_tenant(tenant).get(pk=people.giulia_orders[0].pk).modified_at == modified
    # The blind index key stays: de-duplication still finds Giulia, whatever the case.
    again = store(tenant, order_payload("2009", customer=CustomerPayload(email=EMAIL.upper(), surname="Bianchi")))
    assert again.order.customer_id == people.giulia.pk


def test_master_key_rotation_rewraps_tenant_keys_and_data_stays_readable(
        tenant: LocalTenant, settings: pytest.FixtureRequest) -> None:
    from bindery.integration.actions import do_rotate_master_key

    old = envelope.new_key_text()
    settings.BINDERY_MASTER_KEY = old  # type: ignore[attr-defined]
    envelope.reset_keyring()
    people = make_people(tenant)
    new = envelope.new_key_text()
    settings.BINDERY_MASTER_KEY = f"{new},{old}"  # type: ignore[attr-defined]
    envelope.reset_keyring()
    rewrapped, _ = do_rotate_master_key(actor="test")
    assert rewrapped >= 2
    assert set(TenantKey.objects.for_tenant(tenant).values_list("master_key_id", flat=True)) == {
        envelope.parse_key(new).key_id_hex}
    settings.BINDERY_MASTER_KEY = new  # type: ignore[attr-defined]  # the old master key is gone now
    envelope.reset_keyring()
    fields.forget_keys()
    assert Customer.objects.for_tenant(tenant).get(pk=people.giulia.pk).surname == "Bianchi"


def test_without_the_master_key_values_cannot_be_read(tenant: LocalTenant, settings: pytest.FixtureRequest) -> None:
    people = make_people(tenant)
    settings.BINDERY_MASTER_KEY = envelope.new_key_text()  # type: ignore[attr-defined]  # someone else's
    envelope.reset_keyring()
    fields.forget_keys()
    with pytest.raises(FieldCryptoError, match="cannot be unwrapped"):
        Customer.objects.for_tenant(tenant).get(pk=people.giulia.pk)


def test_tenants_have_separate_keys(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    store(tenant, order_payload("1"))
    store(other_tenant, order_payload("1"))
    a = Customer.objects.for_tenant(tenant).get()
    b = Customer.objects.for_tenant(other_tenant).get()
    assert a.email == b.email
    assert a.email_index != b.email_index  # the blind index does not link people across tenants
    assert set(TenantKey.objects.for_tenant(tenant).values_list("pk", flat=True)).isdisjoint(
        TenantKey.objects.for_tenant(other_tenant).values_list("pk", flat=True))


SEED = textwrap.dedent("""
    import datetime as dt
    from decimal import Decimal
    from bindery.control.actions import do_create_tenant
    from bindery.control.models import LocalTenant
    from bindery.sales.actions import do_add_shipment, do_upsert_order
    from bindery.sales.payloads import AddressPayload, CustomerPayload, OrderPayload
    do_create_tenant("rawscan", "Raw Scan", actor="test")
    tenant = LocalTenant.objects.get(slug="rawscan")
    who = CustomerPayload(email="Ottavia.Quintavalle@example.com", name="Ottavia", surname="Quintavalle",
                          phone="+39 347 9988776", fiscal_code="QNTTTV75B52H501Z", country="IT")
    where = AddressPayload(name="Ottavia", surname="Quintavalle", address_line1="Vicolo Stretto 9",
                           city="Montepulciano", postal_code="53045", country="IT",
                           email="ottavia.quintavalle@example.com")
    result = do_upsert_order(tenant, OrderPayload(
        origin_node_id=None, channel_order_number="R-1", currency="EUR",
        created_on_channel=dt.datetime.now(dt.UTC), customer=who, billing_address=where,
        delivery_address=where, notes="Ring Ottavia twice"), actor="test")
    do_add_shipment(result.order, carrier="BRT", tracking_number="OQ-TRACK-5150", actor="test")
    # A member: created, a wrong and a right password (the brute-force guard records both), an
    # invitation and a password reset (one-time links, account events).
    from django.contrib.auth import authenticate
    from django.contrib.auth.signals import user_logged_in
    from django.test import RequestFactory
    from bindery.accounts.actions import do_create_user
    from bindery.accounts.links import do_invite, do_request_password_reset
    from bindery.accounts.models import Role
    member = do_create_user(tenant, "Fiammetta.Gualtieri@example.com", "correct horse battery staple 9",
                            role=Role.OWNER, name="Fiammetta Gualtieri", actor="test")
    request = RequestFactory().post("/login/", REMOTE_ADDR="198.51.100.7")
    assert authenticate(request, tenant_slug="rawscan", email="fiammetta.gualtieri@example.com",
                        password="wrong") is None
    user = authenticate(request, tenant_slug="rawscan", email="FIAMMETTA.GUALTIERI@example.com",
                        password="correct horse battery staple 9")
    assert user == member, user
    user_logged_in.send(sender=type(user), request=request, user=user)
    do_invite(tenant, "Ilario.Benvenuti@example.com", Role.VIEWER, actor=member)
    do_request_password_reset("rawscan", "fiammetta.gualtieri@example.com")
    print("seeded", result.order.pk)
""")
RAW_VALUES = ("Quintavalle", "ottavia.quintavalle@example.com", "+39 347 9988776", "QNTTTV75B52H501Z",
              "Vicolo Stretto 9", "Montepulciano", "Ring Ottavia twice", "OQ-TRACK-5150",
              # the member's and the invited person's contact data
              "fiammetta.gualtieri@example.com", "Gualtieri", "ilario.benvenuti@example.com")


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_raw_database_holds_no_personal_value_in_clear(tmp_path: Path) -> None:
    """A real platform stores an order; then its database is read raw: the SQLite files byte by
    byte (main file and write-ahead log), or on PostgreSQL every text column of every table."""
    with platform(tmp_path) as plat:
        assert plat.bindery("migrate", "--quiet", timeout=900).returncode == 0  # a loaded CI machine is slow
        script = tmp_path / "seed.py"
        script.write_text(SEED)
        seeded = plat.bindery("manage", "shell", "-c", f"exec(open({str(script)!r}).read())", timeout=600)
        assert "seeded" in seeded.stdout, seeded.stdout + seeded.stderr
        host_url = plat.env.get("BINDERY_HOST_DATABASE_URL", "")
        if host_url.startswith("postgres"):
            found = _scan_postgres(host_url, RAW_VALUES)
            assert found == []
            assert _scan_postgres(host_url, ("E1:",))  # the rows are there, encrypted
            with psycopg.connect(host_url) as conn:
                counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
                          for t in ("accounts_user", "accounts_onetimelink", "security_knownsource")}
            assert counts == {"accounts_user": 1, "accounts_onetimelink": 2, "security_knownsource": 1}
        else:
            files = [p for p in (plat.var_dir).rglob("*") if p.is_file() and p.suffix != ".log"
                     and ("sqlite" in p.name or p.name.endswith(("-wal", "-journal")))]
            assert files
            blob = b"".join(p.read_bytes() for p in files)
            assert [v for v in RAW_VALUES if v.encode().lower() in blob.lower()] == []
            assert b"E1:" in blob
            # The rows are there: the scan would have found clear text.
            hosts = [p for p in files if p.suffix in (".sqlite3", ".db") and _has_table(p, "sales_customer")]
            assert hosts
            assert sum(_count(p, "sales_customer") for p in hosts) == 1
            # The member's rows are there too (and the guard's): the scan would have found them.
            assert sum(_count(p, "accounts_user") for p in hosts) == 1
            assert sum(_count(p, "accounts_onetimelink") for p in hosts) == 2
            assert sum(_count(p, "security_knownsource") for p in hosts) == 1
            assert sum(_count(p, "security_securityevent") for p in hosts) >= 1


def _has_table(path: Path, table: str) -> bool:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [table]).fetchone() is not None


def _count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


def _scan_postgres(url: str, needles: tuple[str, ...]) -> list[str]:
    """Every text-like column of every table in the public schema, searched by PostgreSQL."""
    found = []
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND data_type IN ('text', 'character varying', 'character', 'jsonb', 'json')").fetchall()
        for table, column in columns:
            for needle in needles:
                hit = conn.execute(f'SELECT 1 FROM "{table}" WHERE "{column}"::text ILIKE %s LIMIT 1',  # noqa: S608
                                   [f"%{needle}%"]).fetchone()
                if hit:
                    found.append(f"{table}.{column}: {needle}")
    return found



def test_the_data_migration_encrypts_rows_stored_in_clear(tenant: LocalTenant) -> None:
    """Rows written before encryption (clear text, no index) are encrypted and indexed in place."""
    import importlib
    from types import SimpleNamespace

    from django.apps import apps

    migration = importlib.import_module("bindery.sales.migrations.0002_field_encryption")
    order = store(tenant, order_payload("1")).order
    connection = connections[HOST]
    pk = order.customer_id.hex if connection.vendor == "sqlite" else order.customer_id
    with connection.cursor() as cursor:  # the state before the migration: clear text, no index
        cursor.execute("UPDATE sales_customer SET surname = %s, email = %s, email_index = '' WHERE id = %s",
                       ["Legacy", "Legacy.Person@example.com", pk])
    assert raw_value(Customer, order.customer_id, "surname") == "Legacy"
    assert Customer.objects.for_tenant(tenant).get().surname == "Legacy"  # clear text still reads
    migration.encrypt_existing(apps, SimpleNamespace(connection=connection))
    assert raw_value(Customer, order.customer_id, "surname").startswith(PREFIX)
    customer = Customer.objects.for_tenant(tenant).get()
    assert (customer.surname, customer.email) == ("Legacy", "Legacy.Person@example.com")
    assert customer.email_index == fields.blind_index(tenant, "legacy.person@example.com")
    cities = [raw_value(Address, a.pk, "city") for a in Address.objects.for_tenant(tenant)]
    assert all(v.startswith(PREFIX) for v in cities)
