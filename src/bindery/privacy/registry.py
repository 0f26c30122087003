"""The personal-data registry: every model field that holds data about people, declared once.

Each declaration gives the field's class (GDPR-wise: ``public``, ``confidential`` or
``personal``), its purpose, and what erasing a person does to it. Subject export and erasure,
the records of processing and the privacy notice are all generated from this one table, so a
field added here is exported, erased and documented everywhere at once.

``tests/privacy/test_registry.py`` fails when a model gains a field whose name looks personal
(name, e-mail, phone, address, tax id, IP ...) and nobody declared it: a new personal field
cannot slip past export and erasure unnoticed.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models


class DataClass(enum.StrEnum):
    PUBLIC = "public"  # may be shown to anyone (product data, a channel's name)
    CONFIDENTIAL = "confidential"  # the merchant's business data, not about a natural person
    PERSONAL = "personal"  # identifies or describes a natural person (GDPR art. 4(1))


class Erase(enum.StrEnum):
    BLANK = "blank"  # overwritten with "" (or NULL where the column allows it)
    KEEP = "keep"  # kept: not about the person, or needed for accounting


@dataclass(frozen=True)
class Declaration:
    model: str  # "app_label.ModelName"
    field: str
    data_class: DataClass
    purpose: str
    erase: Erase


# Names that suggest data about a person. Matched against whole field names.
LOOKS_PERSONAL = re.compile(
    r"^(.*_)?(name|surname|first_name|last_name|company|email|phone|mobile|fax|address(_line\d)?|city|"
    r"postal_code|zip|province|region|country|vat_number|fiscal_code|tax_id|e_invoice_code|birth.*|iban|"
    r"ip|ip_address|.*_ip|user_agent|notes?|tracking_number|comment)$"
)

_ORDER_CONTACT = "delivering and invoicing the merchant's orders"
_CUSTOMER = "managing the merchant's customers (orders, invoices, marketplace accounts)"
_ACCOUNT = "signing in and administering the merchant's account"
_SECURITY = "security: detecting misuse of credentials and attacks"

_POSTAL = ("address_line1", "address_line2", "city", "postal_code", "province")

DECLARATIONS: list[Declaration] = [
    # --- sales: the merchant's customers and their orders (Bindery is the processor) ----------
    *[Declaration("sales.Customer", f, DataClass.PERSONAL, _CUSTOMER, Erase.BLANK) for f in (
        "name", "surname", "company", "email", "phone", "mobile", "vat_number", "fiscal_code", "e_invoice_code",
        "certified_email", "code", *_POSTAL)],
    # The country decides VAT treatment of past orders; alone it identifies nobody.
    Declaration("sales.Customer", "country", DataClass.CONFIDENTIAL, _CUSTOMER, Erase.KEEP),
    *[Declaration("sales.Address", f, DataClass.PERSONAL, _ORDER_CONTACT, Erase.BLANK) for f in (
        "name", "surname", "company", "email", "phone", *_POSTAL)],
    Declaration("sales.Address", "country", DataClass.CONFIDENTIAL, _ORDER_CONTACT, Erase.KEEP),
    Declaration("sales.Order", "notes", DataClass.PERSONAL, _ORDER_CONTACT, Erase.BLANK),
    Declaration("sales.Shipment", "tracking_number", DataClass.PERSONAL, _ORDER_CONTACT, Erase.BLANK),
    # --- the merchant's own staff and Bindery's operators (Bindery is the controller) --------
    Declaration("accounts.User", "email", DataClass.PERSONAL, _ACCOUNT, Erase.KEEP),
    Declaration("accounts.User", "name", DataClass.PERSONAL, _ACCOUNT, Erase.KEEP),
    Declaration("accounts.Operator", "email", DataClass.PERSONAL, _ACCOUNT, Erase.KEEP),
    Declaration("accounts.Operator", "name", DataClass.PERSONAL, _ACCOUNT, Erase.KEEP),
    Declaration("security.ApiToken", "last_used_ip", DataClass.PERSONAL, _SECURITY, Erase.KEEP),
    Declaration("privacy.PersonalDataAccess", "ip", DataClass.PERSONAL, _SECURITY, Erase.KEEP),
    Declaration("accounts.AccountEvent", "email", DataClass.PERSONAL, _ACCOUNT, Erase.KEEP),
    Declaration("accounts.AccountEvent", "ip", DataClass.PERSONAL, _SECURITY, Erase.KEEP),
    Declaration("security.SecurityEvent", "ip", DataClass.PERSONAL, _SECURITY, Erase.KEEP),
    Declaration("security.SecurityEvent", "account", DataClass.PERSONAL, _SECURITY, Erase.KEEP),
    Declaration("security.Ban", "source", DataClass.PERSONAL, _SECURITY, Erase.KEEP),
    Declaration("security.Ban", "account", DataClass.PERSONAL, _SECURITY, Erase.KEEP),
    Declaration("security.KnownSource", "source", DataClass.PERSONAL, _SECURITY, Erase.KEEP),
    Declaration("security.KnownSource", "account", DataClass.PERSONAL, _SECURITY, Erase.KEEP),
    Declaration("security.FailureCounter", "key", DataClass.PERSONAL, _SECURITY, Erase.KEEP),
    Declaration("accounts.OneTimeLink", "email", DataClass.PERSONAL, _ACCOUNT, Erase.KEEP),
    Declaration("accounts.UserSession", "ip", DataClass.PERSONAL, _SECURITY, Erase.KEEP),
    Declaration("accounts.UserSession", "user_agent", DataClass.PERSONAL, _SECURITY, Erase.KEEP),
    Declaration("accounts.PasskeyCredential", "name", DataClass.PERSONAL, _SECURITY, Erase.KEEP),
    Declaration("accounts.SupportGrant", "operator_email", DataClass.PERSONAL, _SECURITY, Erase.KEEP),
    Declaration("accounts.SupportGrant", "reason", DataClass.CONFIDENTIAL, _SECURITY, Erase.KEEP),
    # IP rules name ranges (an office's address may be one person's); notes are free text.
    *[Declaration(f"security.{model}", f, DataClass.PERSONAL, _SECURITY, Erase.KEEP)
      for model in ("IpRule", "GlobalIpRule") for f in ("network", "note")],
]

# Personal fields deliberately kept as plain columns, each with the reason. Every other personal
# field of a tenant-owned model is encrypted at rest (bindery.privacy.fields); the field-encryption
# tests fail when a personal field is neither encrypted nor listed here.
STORED_IN_CLEAR: dict[str, str] = {
    "accounts.Operator.email": "control database: no tenant key there; Bindery's own staff (decision 0005)",
    "accounts.Operator.name": "control database: no tenant key there; Bindery's own staff (decision 0005)",
    "accounts.AccountEvent.ip": "security: IP addresses are matched and filtered in SQL",
    "accounts.UserSession.ip": "security: shown in the sessions list, matched in SQL",
    "accounts.UserSession.user_agent": "security: shown in the sessions list",
    "accounts.PasskeyCredential.name": "a device label the member chose, shown in the security settings",
    "security.ApiToken.last_used_ip": "security: IP addresses are matched and filtered in SQL",
    "privacy.PersonalDataAccess.ip": "security: IP addresses are matched and filtered in SQL",
    "security.SecurityEvent.ip": "security: IP addresses are matched and filtered in SQL",
    "security.SecurityEvent.account": "holds workspace:pseudonym (a keyed hash), never the e-mail",
    "security.Ban.source": "security: IP ranges are matched in SQL",
    "security.Ban.account": "holds workspace:pseudonym (a keyed hash), never the e-mail",
    "security.KnownSource.source": "security: IP ranges are matched in SQL",
    "security.KnownSource.account": "holds workspace:pseudonym (a keyed hash), never the e-mail",
    "security.FailureCounter.key": "counter names built from pseudonyms and IP ranges, never the e-mail",
    "security.IpRule.network": "security: IP ranges are matched in SQL",
    "security.IpRule.note": "the merchant's free-text note on an IP rule",
    "security.GlobalIpRule.network": "security: IP ranges are matched in SQL",
    "security.GlobalIpRule.note": "the operators' free-text note on an IP rule",
}

# Fields whose names look personal but hold no data about people (product names, a price
# list's name ...). Declared as such, so the registry test still sees that someone decided.
NOT_PERSONAL: dict[str, tuple[str, ...]] = {
    "auth.Permission": ("name",),
    "auth.Group": ("name",),
    "catalog.Product": ("name", "notes"),
    "catalog.Warehouse": ("name",),
    "catalog.Category": ("name",),
    "catalog.Attribute": ("name",),
    "catalog.PriceList": ("name",),
    "catalog.PriceRule": ("name",),
    "catalog.QuantityRule": ("name",),
    "catalog.PriceChangeLog": ("price_list_name",),
    "sales.PaymentMethod": ("name",),
    "sales.ShippingMethod": ("name",),
    "sales.OrderStatus": ("name",),
    "security.ApiToken": ("name",),
    "control.Tenant": ("name",),
    "control.LocalTenant": ("name",),
    "control.Datacenter": ("name", "country"),
    "control.Host": ("name",),
    "control.MoveJournal": ("table_name",),
    "privacy.Incident": ("title",),
    "integration.Node": ("name",),
    "integration.Connector": ("name",),
    "integration.Procedure": ("name",),
    "integration.SchedulerLease": ("name",),
}


def declarations_for(model: type[models.Model]) -> dict[str, Declaration]:
    label = model._meta.label
    return {d.field: d for d in DECLARATIONS if d.model == label}


def personal_fields(model: type[models.Model]) -> list[str]:
    """Return the model's fields declared personal, in declaration order."""
    return [name for name, d in declarations_for(model).items() if d.data_class == DataClass.PERSONAL]


def erasable_fields(model: type[models.Model]) -> list[str]:
    return [name for name, d in declarations_for(model).items() if d.erase == Erase.BLANK]


def undeclared_personal_looking_fields() -> list[str]:
    """Return ``app.Model.field`` for every concrete field that looks personal but is not declared."""
    missing = []
    for model in apps.get_models():
        label = model._meta.label
        declared = set(declarations_for(model)) | set(NOT_PERSONAL.get(label, ()))
        for f in model._meta.concrete_fields:
            if f.name not in declared and (LOOKS_PERSONAL.match(f.name) or isinstance(
                    f, models.EmailField | models.GenericIPAddressField)):
                missing.append(f"{label}.{f.name}")
    return missing


def stale_declarations() -> list[str]:
    """Return declarations naming a model or field that does not exist (a renamed field, say)."""
    stale = []
    for d in DECLARATIONS:
        try:
            apps.get_model(d.model)._meta.get_field(d.field)
        except (LookupError, FieldDoesNotExist):
            stale.append(f"{d.model}.{d.field}")
    return stale
