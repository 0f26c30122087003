"""The personal-data registry covers every field that looks personal, and names only real fields."""

from __future__ import annotations

import pytest

from bindery.privacy import registry
from bindery.privacy.registry import DataClass, Declaration, Erase
from bindery.privacy.subjects import LOCATORS


def test_every_personal_looking_field_is_declared() -> None:
    """A model field named like personal data (or an e-mail/IP field) must be declared in the registry."""
    assert registry.undeclared_personal_looking_fields() == []


def test_no_declaration_names_a_missing_field() -> None:
    assert registry.stale_declarations() == []


def test_a_new_undeclared_field_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dropping one declaration makes the check fail for exactly that field."""
    kept = [d for d in registry.DECLARATIONS if (d.model, d.field) != ("sales.Customer", "phone")]
    monkeypatch.setattr(registry, "DECLARATIONS", kept)
    assert registry.undeclared_personal_looking_fields() == ["sales.Customer.phone"]


def test_a_stale_declaration_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    bogus = Declaration("sales.Customer", "fax_number", DataClass.PERSONAL, "x", Erase.BLANK)
    monkeypatch.setattr(registry, "DECLARATIONS", [*registry.DECLARATIONS, bogus])
    assert registry.stale_declarations() == ["sales.Customer.fax_number"]


def test_every_tenant_model_with_personal_data_can_be_located() -> None:
    """Subject export and erasure can only reach rows of models they know how to find."""
    from django.apps import apps

    from bindery.control.tenancy import TenantOwnedModel

    # Access logs, token use, account events, sign-in links and sessions are security records about the
    # tenant's staff, not customers; IP rules are the workspace's own access policy.
    not_subject_data = {"privacy.PersonalDataAccess", "security.ApiToken", "accounts.AccountEvent",
                        "accounts.OneTimeLink", "accounts.UserSession", "security.IpRule",
                        "accounts.SupportGrant", "accounts.PasskeyCredential"}
    models_with_personal = {d.model for d in registry.DECLARATIONS if d.data_class == DataClass.PERSONAL}
    tenant_models = {m._meta.label for m in apps.get_models() if issubclass(m, TenantOwnedModel)}
    located = {m._meta.label for m in LOCATORS}
    assert (models_with_personal & tenant_models) - not_subject_data - located == set()


def test_privacy_notice_is_public_and_lists_the_registry(client: object, db: None) -> None:
    response = client.get("/privacy-notice")  # type: ignore[attr-defined]
    assert response.status_code == 200
    assert b"sales.Customer.email" in response.content
    assert b"sales.Address.phone" in response.content
    assert b"Your rights" in response.content
