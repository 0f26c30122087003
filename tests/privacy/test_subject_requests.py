"""Subject export and erasure: everything about a person out; every personal value of theirs gone."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connections, models

from bindery.control.models import LocalTenant
from bindery.control.routers import HOST
from bindery.privacy.fields import blind_index, encrypted_fields
from bindery.privacy.models import ErasureRecord, PersonalDataAccess
from bindery.privacy.registry import erasable_fields, personal_fields
from bindery.privacy.subjects import (
    LOCATORS,
    Subject,
    SubjectError,
    erase_subject,
    export_as_csv,
    export_subject,
    replay_erasures,
    subject_hash,
)
from bindery.sales.models import Address, Customer, Order, Shipment
from tests.privacy.people import EMAIL, GIULIA_VALUES, make_people

pytestmark = pytest.mark.django_db(databases="__all__")


def _text_values_in_host_database() -> list[str]:
    """Every value of every text column of every table in the host database (the erasure scan)."""
    values = []
    connection = connections[HOST]
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            columns = [c.name for c in connection.introspection.get_table_description(cursor, table)]
            quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
            cursor.execute(f"SELECT {quoted} FROM {connection.ops.quote_name(table)}")  # noqa: S608 (names from the catalog)
            for row in cursor.fetchall():
                values.extend(str(v) for v in row if isinstance(v, str))
    return values


def _values_held(tenant: LocalTenant) -> list[str]:
    """The raw text of every host column plus the decrypted value of every encrypted field.

    Encrypted columns never hold clear text, so the raw scan alone would pass trivially; the
    decrypted values are what erasure must actually remove.
    """
    values = _text_values_in_host_database()
    for model in (Customer, Address, Order, Shipment):
        names = encrypted_fields(model)
        for row in model.objects.for_tenant(tenant).values_list(*names):
            values.extend(str(v) for v in row if v)
    return values


def test_export_holds_every_registered_personal_field_where_the_person_appears(tenant: LocalTenant) -> None:
    """The test walks the registry and the locators, so it grows with the models."""
    people = make_people(tenant)
    export = export_subject(tenant, Subject.parse(EMAIL), actor="test", purpose="subject access request")
    records = export["records"]
    for model in LOCATORS:
        rows = records.get(model._meta.label, [])
        for row in rows:
            assert set(personal_fields(model)) <= set(row), model
    assert {r["id"] for r in records["sales.Customer"]} == {str(people.giulia.pk)}
    assert {r["id"] for r in records["sales.Order"]} == {str(o.pk) for o in people.giulia_orders}
    assert len(records["sales.Address"]) == 4  # billing and delivery of both orders
    assert records["sales.Shipment"][0]["tracking_number"] == "GB-TRACK-77"
    assert records["sales.Customer"][0]["fiscal_code"] == "BNCGLI80A41F205X"
    text = str(export)
    assert "Rossi" not in text, "another customer's data leaked into the export"


def test_export_by_customer_id_and_as_csv(tenant: LocalTenant) -> None:
    people = make_people(tenant)
    export = export_subject(tenant, Subject.parse(customer_ids=[people.giulia.pk]), actor="test", purpose="p")
    assert export["records"]["sales.Customer"][0]["email"].lower() == EMAIL
    rows = list(csv.reader(io.StringIO(export_as_csv(export))))
    assert rows[0] == ["table", "id", "field", "value"]
    assert ["sales.Customer", str(people.giulia.pk), "surname", "Bianchi"] in rows


def test_csv_export_defuses_spreadsheet_formulas(tenant: LocalTenant) -> None:
    people = make_people(tenant)
    people.giulia.name = "=HYPERLINK(\"http://x\")"
    people.giulia.save(update_fields=["name"])
    export = export_subject(tenant, Subject.parse(EMAIL), actor="test", purpose="p")
    assert "'=HYPERLINK" in export_as_csv(export)


def test_export_is_audited_without_the_address_in_clear(tenant: LocalTenant) -> None:
    make_people(tenant)
    export_subject(tenant, Subject.parse(EMAIL), actor="user:1", purpose="ticket 4711", ip="192.0.2.7")
    entry = PersonalDataAccess.objects.for_tenant(tenant).get()
    assert (entry.actor, entry.action, entry.purpose, entry.ip) == ("user:1", "subject_export", "ticket 4711",
                                                                    "192.0.2.7")
    assert EMAIL not in entry.resource
    assert subject_hash(EMAIL)[:16] in entry.resource


def test_erasure_leaves_no_personal_value_and_keeps_accounting(tenant: LocalTenant) -> None:
    people = make_people(tenant)
    totals = {o.pk: (o.net_total, o.vat_total, o.total, o.currency, o.created_on_channel)
              for o in Order.objects.for_tenant(tenant)}
    record = erase_subject(tenant, Subject.parse(EMAIL), actor="user:1", reason="art. 17 request 12")
    assert record.rows_erased == 1 + 4 + 2 + 1  # customer, addresses, orders (notes), shipment
    found = [v for v in _values_held(tenant) for needle in GIULIA_VALUES if needle.lower() in v.lower()]
    assert found == []
    index = blind_index(tenant, EMAIL)
    assert not Address.objects.for_tenant(tenant).filter(email_index=index).exists()  # the index goes too
    assert not Customer.objects.for_tenant(tenant).filter(email_index=index).exists()
    assert {o.pk: (o.net_total, o.vat_total, o.total, o.currency, o.created_on_channel)
            for o in Order.objects.for_tenant(tenant)} == totals
    assert Customer.objects.for_tenant(tenant).get(pk=people.other.pk).surname == "Rossi"
    assert [a.surname for a in Address.objects.for_tenant(tenant)].count("Rossi") == 2
    assert all(a.country == "IT" for a in Address.objects.for_tenant(tenant))  # VAT evidence kept
    journal = ErasureRecord.objects.get()
    assert journal.subject_hash == subject_hash(EMAIL)
    assert journal.tenant_id == tenant.pk
    assert EMAIL not in str(journal.__dict__)
    assert journal.rows_erased == record.rows_erased
    assert Decimal(Order.objects.for_tenant(tenant).get(pk=people.giulia_orders[0].pk).total) > 0


def test_replay_after_a_restore_erases_the_person_again(tenant: LocalTenant) -> None:
    """Rows that come back (a restore from before the erasure) are erased again from the journal."""
    people = make_people(tenant)
    before = {model: list(model.objects.for_tenant(tenant).values()) for model in (Customer, Address, Order, Shipment)}
    erase_subject(tenant, Subject.parse(EMAIL), actor="test", reason="request")
    for model, rows in before.items():  # the "restore": every row back as it was
        for row in rows:
            model.objects.unscoped().filter(pk=row["id"]).update(**{k: v for k, v in row.items() if k != "id"})
    assert any("Bianchi" in v for v in _values_held(tenant))
    assert replay_erasures(tenant) >= 8
    assert not any("Bianchi" in v or EMAIL in v.lower() for v in _values_held(tenant))
    assert Customer.objects.for_tenant(tenant).get(pk=people.other.pk).email.lower() == "mario.rossi@example.com"
    assert ErasureRecord.objects.get().replayed_at is not None


def test_replay_without_a_journal_changes_nothing(tenant: LocalTenant) -> None:
    make_people(tenant)
    assert replay_erasures(tenant) == 0


def test_erasure_is_scoped_to_the_tenant(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    make_people(tenant)
    make_people(other_tenant)
    erase_subject(tenant, Subject.parse(EMAIL), actor="test", reason="request")
    assert Customer.objects.for_tenant(other_tenant).filter(email_index=blind_index(other_tenant, EMAIL)).count() == 1


@pytest.mark.parametrize(("email", "ids", "message"), [
    ("", [], "give an e-mail address or a customer id"),
    ("not-an-address", [], "not an e-mail address"),
    ("a@b.c\x00", [], "not an e-mail address"),
    ("x" * 250 + "@b.cd", [], "not an e-mail address"),
    ("", ["12"], "a customer id is not a UUID"),
])
def test_malformed_subjects_are_refused(email: str, ids: list[str], message: str) -> None:
    with pytest.raises(SubjectError, match=message):
        Subject.parse(email, ids)


def test_erasure_needs_a_reason(tenant: LocalTenant) -> None:
    make_people(tenant)
    with pytest.raises(SubjectError, match="say why"):
        erase_subject(tenant, Subject.parse(EMAIL), actor="test", reason="  ")
    assert ErasureRecord.objects.count() == 0
    assert Customer.objects.for_tenant(tenant).filter(email_index=blind_index(tenant, EMAIL)).exists()


def test_every_erasable_field_is_a_text_or_nullable_column() -> None:
    """Erasure writes "" or NULL; a declared field of another kind would fail at the database."""
    for model in apps.get_models():
        for name in erasable_fields(model):
            field = model._meta.get_field(name)
            assert isinstance(field, models.CharField | models.TextField) or getattr(field, "null", False), name
