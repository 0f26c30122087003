"""Data-subject requests: find everything held about a person, export it, erase it, replay erasures.

A person is found by e-mail address (case-insensitive) and/or by customer ids. The rows that
belong to them are located per model by :data:`LOCATORS`; which fields are exported and which
are blanked comes from the registry (:mod:`bindery.privacy.registry`), so both grow with it.
Erasure keeps what accounting needs (order totals, VAT, dates, SKUs, quantities, country).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from bindery.accounts.models import User
from bindery.control.actors import actor_label
from bindery.control.models import LocalTenant
from bindery.control.routers import CONTROL, HOST
from bindery.privacy.fields import blind_index, index_fields
from bindery.privacy.models import AccessAction, ErasureRecord, PersonalDataAccess
from bindery.privacy.registry import erasable_fields, personal_fields
from bindery.sales.models import Address, Customer, Order, Shipment


class SubjectError(ValueError):
    """A subject request that cannot be carried out; the message says why."""


@dataclass(frozen=True)
class Subject:
    """Who a request is about: an e-mail address, customer ids, or both."""

    email: str = ""
    customer_ids: tuple[uuid.UUID, ...] = ()

    @classmethod
    def parse(cls, email: str | None = None, customer_ids: Iterable[str | uuid.UUID] = ()) -> Subject:
        clean = (email or "").strip().lower()
        if len(clean) > 254 or (clean and ("@" not in clean or any(c.isspace() or c == "\x00" for c in clean))):
            raise SubjectError("not an e-mail address")
        try:
            ids = tuple(uuid.UUID(str(c)) for c in customer_ids)
        except ValueError:
            raise SubjectError("a customer id is not a UUID") from None
        if not clean and not ids:
            raise SubjectError("give an e-mail address or a customer id")
        return cls(clean, ids)

    def describe(self) -> str:
        parts = [f"email {self.email}"] if self.email else []
        parts += [f"customer {c}" for c in self.customer_ids]
        return ", ".join(parts)


def subject_hash(email: str) -> str:
    """Keyed hash of an e-mail: lets the journal recognise a person without holding the address."""
    return salted_hmac("bindery.privacy.subject", email.strip().lower(), algorithm="sha256").hexdigest()


@dataclass
class Located:
    """The rows of one tenant that belong to a subject, per model."""

    rows: dict[type[models.Model], list[models.Model]] = field(default_factory=dict)
    using: str = HOST  # the database alias the rows were found in (another host's after a restore)

    def count(self) -> int:
        return sum(len(r) for r in self.rows.values())


def _email_q(email: str, *names: str) -> Q:
    q = Q()
    for name in names:
        q |= Q(**{f"{name}__iexact": email})
    return q


def _index_q(tenant: LocalTenant, email: str, using: str, *names: str) -> Q:
    """Match encrypted e-mail fields through their blind index (``<name>_index``)."""
    index = blind_index(tenant, email, using=using)
    q = Q()
    for name in names:
        q |= Q(**{f"{name}_index": index})
    return q


def _customers(tenant: LocalTenant, subject: Subject, found: Located) -> list[models.Model]:
    q = Q(pk__in=subject.customer_ids) if subject.customer_ids else Q()
    if subject.email:
        q |= _index_q(tenant, subject.email, found.using, "email", "certified_email")
    return list(Customer.objects.db_manager(found.using).for_tenant(tenant).filter(q).order_by("pk"))


def _addresses(tenant: LocalTenant, subject: Subject, found: Located) -> list[models.Model]:
    customers = [c.pk for c in found.rows.get(Customer, [])]
    q = Q(order__customer_id__in=customers)
    if subject.email:
        q |= _index_q(tenant, subject.email, found.using, "email")
    return list(Address.objects.db_manager(found.using).for_tenant(tenant).filter(q).order_by("pk"))


def _orders(tenant: LocalTenant, subject: Subject, found: Located) -> list[models.Model]:
    customers = [c.pk for c in found.rows.get(Customer, [])]
    via_address = {a.order_id for a in found.rows.get(Address, [])}  # type: ignore[attr-defined]
    return list(Order.objects.db_manager(found.using).for_tenant(tenant)
                .filter(Q(customer_id__in=customers) | Q(pk__in=via_address)).order_by("pk"))


def _shipments(tenant: LocalTenant, subject: Subject, found: Located) -> list[models.Model]:
    orders = [o.pk for o in found.rows.get(Order, [])]
    return list(Shipment.objects.db_manager(found.using).for_tenant(tenant).filter(order_id__in=orders).order_by("pk"))


def _users(tenant: LocalTenant, subject: Subject, found: Located) -> list[models.Model]:
    if not subject.email:
        return []
    return list(User.objects.db_manager(found.using).for_tenant(tenant)
                .filter(_email_q(subject.email, "email")).order_by("pk"))


# Order matters: later locators follow links from the rows earlier ones found.
LOCATORS: dict[type[models.Model], Callable[[LocalTenant, Subject, Located], list[models.Model]]] = {
    Customer: _customers,
    Address: _addresses,
    Order: _orders,
    Shipment: _shipments,
    User: _users,
}


def locate(tenant: LocalTenant, subject: Subject, *, using: str = HOST) -> Located:
    found = Located(using=using)
    for model, locator in LOCATORS.items():
        rows = locator(tenant, subject, found)
        if rows:
            found.rows[model] = rows
    return found


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | uuid.UUID):
        return str(value)
    return value


# Non-personal fields that make an export understandable (which order, when, how much).
CONTEXT_FIELDS: dict[type[models.Model], tuple[str, ...]] = {
    Order: ("hub_order_key", "channel_order_number", "created_on_channel", "total", "currency"),
    Address: ("order_id", "kind", "country"),
    Shipment: ("order_id", "carrier", "shipped_at"),
    Customer: ("country",),
    User: ("role",),
}


def export_subject(tenant: LocalTenant, subject: Subject, *, actor: Any, purpose: str,
                   ip: str | None = None) -> dict[str, Any]:
    """Return everything held about the subject (every registered personal field), and audit it."""
    found = locate(tenant, subject)
    records: dict[str, list[dict[str, Any]]] = {}
    for model, rows in found.rows.items():
        names = [*CONTEXT_FIELDS.get(model, ()), *personal_fields(model)]
        records[model._meta.label] = [
            {"id": str(row.pk), **{name: _jsonable(getattr(row, name)) for name in names}} for row in rows]
    record_access(tenant, actor, AccessAction.SUBJECT_EXPORT, f"subject:{subject_reference(subject)}",
                  purpose=purpose, ip=ip)
    return {"tenant": tenant.slug, "subject": subject.describe(), "generated_at": timezone.now().isoformat(),
            "records": records}


def export_as_csv(export: dict[str, Any]) -> str:
    """One line per value: table, row id, field, value (a spreadsheet-friendly form of the export)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["table", "id", "field", "value"])
    for label, rows in export["records"].items():
        for row in rows:
            for name, value in row.items():
                if name != "id":
                    text = "" if value is None else str(value)
                    # A value starting with = + - @ would be run as a formula by spreadsheets.
                    writer.writerow([label, row["id"], name, "'" + text if text[:1] in "=+-@" else text])
    return out.getvalue()


def subject_reference(subject: Subject) -> str:
    """How the audit log names a subject: a short keyed hash, so the log itself holds no e-mail."""
    if subject.email:
        return subject_hash(subject.email)[:16]
    return ",".join(str(c) for c in subject.customer_ids)[:180]


def blank_rows(found: Located) -> int:
    """Blank the erasable fields of the located rows; return how many rows still held something."""
    erased = 0
    for model, rows in found.rows.items():
        names = erasable_fields(model)
        if not names:
            continue
        values = {name: None if getattr(model._meta.get_field(name), "null", False) else "" for name in names}
        # A blanked e-mail takes its blind index with it (UPDATE does not run pre_save).
        values |= {index: "" for source, index in index_fields(model).items() if source in values}
        holds_something = Q()
        for name, blank in values.items():
            holds_something |= ~Q(**{name: blank})
        erased += model._default_manager.db_manager(found.using).unscoped().filter(  # type: ignore[attr-defined]
            holds_something, pk__in=[r.pk for r in rows]).update(**values)
    return erased


def erase_subject(tenant: LocalTenant, subject: Subject, *, actor: Any, reason: str,
                  ip: str | None = None) -> ErasureRecord:
    """Blank every erasable personal field of the subject's rows; journal it outside the host tables.

    The journal entry is written first: if the host transaction fails, a replay finishes the job.
    """
    reason = reason.strip()
    if not reason:
        raise SubjectError("say why (the reason is recorded)")
    found = locate(tenant, subject)
    customer_ids = sorted({str(c) for c in subject.customer_ids} | {str(c.pk) for c in found.rows.get(Customer, [])})
    # Every address the subject's rows carry is journaled too, so a replay finds rows by any of them.
    emails = {subject.email} if subject.email else set()
    for model in (Customer, Address):
        for row in found.rows.get(model, []):
            emails |= {getattr(row, n).strip().lower() for n in ("email", "certified_email") if getattr(row, n, "")}
    now = timezone.now()
    with transaction.atomic(using=CONTROL):
        records = [ErasureRecord.objects.create(
            tenant_id=tenant.pk, subject_hash=subject_hash(email) if email else "", customer_ids=customer_ids,
            requested_by=actor_label(actor), reason=reason[:500], erased_at=now,
        ) for email in sorted(emails) or [""]]
    with transaction.atomic(using=HOST):
        erased = blank_rows(found)
        record_access(tenant, actor, AccessAction.ERASE, f"subject:{subject_reference(subject)}",
                      purpose=reason, ip=ip)
    ErasureRecord.objects.filter(pk__in=[r.pk for r in records]).update(rows_erased=erased)
    records[0].rows_erased = erased
    return records[0]


def replay_erasures(tenant: LocalTenant, *, using: str = HOST) -> int:
    """Erase again every journaled subject whose rows are back (after a restore); return rows erased.

    ``using`` is the host database to work on: this host's, or another's alias (a tenant
    restored into another host, a whole host restored into a new database).
    """
    journal = list(ErasureRecord.objects.filter(tenant_id=tenant.pk))
    if not journal:
        return 0
    hashes = {r.subject_hash for r in journal if r.subject_hash}
    customer_ids = {c for r in journal for c in r.customer_ids}
    emails: set[str] = set()
    for model, names in ((Customer, ("email", "certified_email")), (Address, ("email",))):
        rows = model.objects.db_manager(using).for_tenant(tenant).values_list(*names)
        for values in rows.iterator(chunk_size=2000):
            for value in values:
                if value and subject_hash(value) in hashes:
                    emails.add(value.strip().lower())
    erased = 0
    subjects = [Subject(email=e) for e in sorted(emails)]
    if customer_ids:
        subjects.append(Subject(customer_ids=tuple(uuid.UUID(c) for c in sorted(customer_ids))))
    with transaction.atomic(using=using):
        for subject in subjects:
            erased += blank_rows(locate(tenant, subject, using=using))
    ErasureRecord.objects.filter(pk__in=[r.pk for r in journal]).update(replayed_at=timezone.now())
    return erased


def record_access(tenant: LocalTenant | uuid.UUID, actor: Any, action: str, resource: str, *,
                  object_id: str = "", purpose: str, ip: str | None = None) -> None:
    tenant_id = tenant if isinstance(tenant, uuid.UUID) else tenant.pk
    PersonalDataAccess.objects.create(tenant_id=tenant_id, actor=actor_label(actor), action=action,
                                      resource=resource[:200], object_id=object_id[:64], purpose=purpose[:200],
                                      ip=ip or None)
