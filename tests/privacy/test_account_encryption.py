"""Members' contact data is encrypted at rest; sign-in, invitations, resets and the guard still work.

Also the blind-index key rotation, which recomputes every e-mail index (members and customers).
"""

from __future__ import annotations

import importlib
import json
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib import auth
from django.core import mail
from django.db import IntegrityError, connections, transaction

from bindery.accounts import links
from bindery.accounts.actions import MemberActionError, do_create_user
from bindery.accounts.models import AccountEvent, OneTimeLink, Role, SupportGrant, User, email_is
from bindery.accounts.support import do_grant_support_access
from bindery.cli import CommandFailed
from bindery.control.models import LocalTenant
from bindery.control.routers import HOST
from bindery.control.tenancy import TenantOwnedModel
from bindery.privacy import fields
from bindery.privacy.fields import PREFIX, EncryptedMixin
from bindery.privacy.keys import rotate_index_key
from bindery.privacy.models import KeyPurpose, TenantKey
from bindery.privacy.registry import DECLARATIONS, STORED_IN_CLEAR, DataClass
from bindery.sales.models import Customer
from bindery.sales.payloads import CustomerPayload
from bindery.security.models import Ban, KnownSource, SecurityEvent
from tests.api.sales_api import API, make_token
from tests.conftest import PASSWORD, HttpsClient
from tests.privacy.people import EMAIL, make_people
from tests.privacy.stored import bindery, raw_value
from tests.privacy.test_subject_requests import _text_values_in_host_database
from tests.sales.factories import order_payload, store

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("fresh_keys")]

MEMBER = "Ottone.Ferraboschi@acme.example"
INVITED = "invited.person@acme.example"
NAME = "Ottone Ferraboschi"


def sign_in(client: HttpsClient, email: str, password: str = PASSWORD) -> object:
    return client.post("/login/", {"workspace": "acme", "email": email, "password": password})


def test_every_personal_field_of_a_tenant_model_is_encrypted_or_listed_with_a_reason() -> None:
    """The registry decides: a personal field is encrypted, or STORED_IN_CLEAR says why not."""
    plain = []
    for declaration in DECLARATIONS:
        if declaration.data_class != DataClass.PERSONAL:
            continue
        model = apps.get_model(declaration.model)
        field = model._meta.get_field(declaration.field)
        key = f"{declaration.model}.{declaration.field}"
        if not isinstance(field, EncryptedMixin) and key not in STORED_IN_CLEAR:
            plain.append(key)
        if isinstance(field, EncryptedMixin):
            assert issubclass(model, TenantOwnedModel), key  # the keys are the tenant's
            assert key not in STORED_IN_CLEAR, key
    assert plain == []
    for key in ("accounts.User.email", "accounts.User.name", "accounts.OneTimeLink.email",
                "accounts.AccountEvent.email", "accounts.SupportGrant.operator_email"):
        app_model, name = key.rsplit(".", 1)
        assert isinstance(apps.get_model(app_model)._meta.get_field(name), EncryptedMixin), key
    assert set(STORED_IN_CLEAR) <= {f"{d.model}.{d.field}" for d in DECLARATIONS}  # no stale exemption


def test_host_database_holds_no_member_contact_data_in_clear(client: HttpsClient, tenant: LocalTenant) -> None:
    """Create, invite, reset, fail and succeed at signing in, open a support grant: then scan every
    text column of the host database (the brute-force guard's tables included)."""
    from bindery.accounts.actions import do_create_operator

    do_create_user(tenant, MEMBER, PASSWORD, role=Role.OWNER, name=NAME, actor="test")
    assert sign_in(client, MEMBER.upper(), "wrong password").status_code == 400  # type: ignore[attr-defined]
    assert sign_in(client, MEMBER.upper()).status_code == 302  # type: ignore[attr-defined]
    sent = client.post("/settings/members/invite/", {"email": INVITED, "role": "viewer"})
    assert sent.status_code == 302  # type: ignore[attr-defined]
    links.do_request_password_reset("acme", MEMBER.lower())
    operator = do_create_operator("support.person@bindery.example", PASSWORD, actor="test")
    do_grant_support_access(operator, tenant, "ticket 4711: checking an order export", 1)
    assert SecurityEvent.objects.exists()
    assert KnownSource.objects.exists()
    assert AccountEvent.objects.for_tenant(tenant).count() >= 3

    values = _text_values_in_host_database()
    needles = (MEMBER, INVITED, "Ferraboschi", "support.person@bindery.example")
    assert [v for v in values for n in needles if n.lower() in v.lower()] == []
    assert any(v.startswith(PREFIX) for v in values)
    # ... and everything still reads back.
    member = User.objects.for_tenant(tenant).get(email_is(tenant, MEMBER))
    assert (member.email, member.name) == (MEMBER, NAME)
    assert OneTimeLink.objects.for_tenant(tenant).get(email_is(tenant, INVITED.upper())).email == INVITED
    assert SupportGrant.objects.for_tenant(tenant).get().operator_email == "support.person@bindery.example"
    assert MEMBER in {e.email for e in AccountEvent.objects.for_tenant(tenant)}
    assert mail.outbox[-1].to == [MEMBER]  # the reset link went to the decrypted address


def test_member_emails_are_unique_per_tenant_whatever_the_case(tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    do_create_user(tenant, MEMBER, PASSWORD, role=Role.OWNER, actor="test")
    with pytest.raises(IntegrityError), transaction.atomic(using=HOST):
        do_create_user(tenant, f"  {MEMBER.upper()} ", PASSWORD, role=Role.VIEWER, actor="test")
    do_create_user(other_tenant, MEMBER, PASSWORD, role=Role.OWNER, actor="test")  # another workspace: fine
    mine = User.objects.for_tenant(tenant).get()
    theirs = User.objects.for_tenant(other_tenant).get()
    assert mine.email_index != theirs.email_index  # the index does not link people across tenants
    assert auth.authenticate(None, tenant_slug="acme", email=f" {MEMBER.lower()} ", password=PASSWORD) == mine
    assert auth.authenticate(None, tenant_slug="globex", email=MEMBER, password=PASSWORD) == theirs
    with pytest.raises(MemberActionError, match="already a member"):
        links.do_invite(tenant, MEMBER.lower(), Role.VIEWER, actor="test")


@pytest.mark.parametrize(("email", "message"), [
    ("nul\x00@acme.example", "NUL"),
    ("lone\ud800@acme.example", "not valid text"),
    ("x" * 250 + "@acme.example", "at most 254"),
    ("not an address", "valid e-mail"),
    ("   ", "required"),
])
def test_bad_addresses_get_a_clear_refusal(tenant: LocalTenant, email: str, message: str) -> None:
    with pytest.raises(MemberActionError, match=message):
        links.do_invite(tenant, email, Role.VIEWER, actor="test")
    with pytest.raises(MemberActionError, match=message):
        do_create_user(tenant, email, PASSWORD, role=Role.VIEWER, actor="test")
    assert not OneTimeLink.objects.for_tenant(tenant).exists()
    assert not User.objects.for_tenant(tenant).exists()
    with pytest.raises(CommandFailed, match=message):
        bindery("users", "invite", "--tenant", "acme", "--email", email)
    with pytest.raises(CommandFailed, match=message):
        bindery("operators", "create", email)


@pytest.mark.parametrize("email", ["nul\x00@acme.example", "lone\ud800@acme.example", "x" * 5000, ""])
def test_hostile_sign_in_and_reset_input_is_refused_cleanly(client: HttpsClient, tenant: LocalTenant,
                                                            email: str) -> None:
    do_create_user(tenant, MEMBER, PASSWORD, role=Role.OWNER, actor="test")
    assert auth.authenticate(None, tenant_slug="acme", email=email, password=PASSWORD) is None
    links.do_request_password_reset("acme", email)  # says nothing, sends nothing
    assert not OneTimeLink.objects.for_tenant(tenant).exists()
    if "\ud800" not in email:  # an HTTP form cannot carry a lone surrogate
        assert sign_in(client, email).status_code == 400  # type: ignore[attr-defined]


def test_the_data_migration_encrypts_member_rows_stored_in_clear(tenant: LocalTenant) -> None:
    migration = importlib.import_module("bindery.accounts.migrations.0006_encrypt_contact_data")
    user = do_create_user(tenant, MEMBER, PASSWORD, role=Role.OWNER, name=NAME, actor="test")
    connection = connections[HOST]
    pk = user.pk.hex if connection.vendor == "sqlite" else user.pk
    with connection.cursor() as cursor:  # the state before the migration: clear text, no index
        cursor.execute("UPDATE accounts_user SET email = %s, name = %s, email_index = '' WHERE id = %s",
                       ["Legacy.Member@acme.example", "Legacy Member", pk])
    assert raw_value(User, user.pk, "email") == "Legacy.Member@acme.example"
    assert auth.authenticate(None, tenant_slug="acme", email="legacy.member@acme.example", password=PASSWORD) is None
    migration.encrypt_existing(apps, SimpleNamespace(connection=connection))
    assert raw_value(User, user.pk, "email").startswith(PREFIX)
    assert raw_value(User, user.pk, "name").startswith(PREFIX)
    again = User.objects.for_tenant(tenant).get()
    assert (again.email, again.name) == ("Legacy.Member@acme.example", "Legacy Member")
    assert auth.authenticate(None, tenant_slug="acme", email="LEGACY.member@acme.example", password=PASSWORD) == again


# --- blind-index key rotation ------------------------------------------------------------------


def _indexes(tenant: LocalTenant) -> dict[str, str]:
    found = {}
    for model in (User, OneTimeLink, Customer):
        for row in model.objects.for_tenant(tenant):  # type: ignore[attr-defined]
            found[f"{model.__name__}:{row.pk}"] = row.email_index
    return found


def test_index_key_rotation_recomputes_every_index_and_lookups_keep_working(
        client: HttpsClient, tenant: LocalTenant, other_tenant: LocalTenant) -> None:
    people = make_people(tenant)
    member = do_create_user(tenant, MEMBER, PASSWORD, role=Role.OWNER, name=NAME, actor="test")
    links.do_invite(tenant, INVITED, Role.VIEWER, actor="test")
    do_create_user(other_tenant, MEMBER, PASSWORD, role=Role.OWNER, actor="test")
    theirs = User.objects.for_tenant(other_tenant).get().email_index
    before = _indexes(tenant)
    old_key = TenantKey.objects.for_tenant(tenant).get(purpose=KeyPurpose.INDEX, retired_at=None)
    data_raw = raw_value(User, member.pk, "email")

    rotation = rotate_index_key(tenant, actor="test")

    assert rotation.rows == len(before) + 2 * 3  # plus the order addresses (billing and delivery of 3 orders)
    assert rotation.retired_keys == 1
    assert TenantKey.objects.for_tenant(tenant).get(pk=old_key.pk).retired_at is not None
    fields.forget_keys()
    after = _indexes(tenant)
    assert set(after) == set(before)
    assert all(after[k] != before[k] for k in before if before[k])  # every index changed
    assert raw_value(User, member.pk, "email") == data_raw  # the data key is not touched
    assert User.objects.for_tenant(other_tenant).get().email_index == theirs  # another tenant untouched
    # Lookups use the new key: sign-in, invitations, customer de-duplication.
    assert auth.authenticate(None, tenant_slug="acme", email=MEMBER.upper(), password=PASSWORD) == member
    assert OneTimeLink.objects.for_tenant(tenant).filter(email_is(tenant, INVITED)).count() == 1
    again = store(tenant, order_payload("2010", customer=CustomerPayload(email=EMAIL.upper(), surname="Bianchi")))
    assert again.order.customer_id == people.giulia.pk
    with pytest.raises(IntegrityError), transaction.atomic(using=HOST):
        do_create_user(tenant, MEMBER.lower(), PASSWORD, role=Role.VIEWER, actor="test")


def test_index_key_rotation_from_the_cli_and_the_api(client: HttpsClient, tenant: LocalTenant,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    member = do_create_user(tenant, MEMBER, PASSWORD, role=Role.OWNER, actor="test")
    first = User.objects.for_tenant(tenant).get().email_index
    assert bindery("privacy", "rotate-index-key", "--tenant", "acme") == 0
    assert "e-mail index of 1 row(s) recomputed; 1 retired index key(s)" in capsys.readouterr().out
    second = User.objects.for_tenant(tenant).get().email_index
    assert second not in ("", first)

    refused = client.post(f"{API}/privacy/index-key-rotations", headers=make_token(tenant, "privacy:read"))
    assert refused.status_code == 403  # type: ignore[attr-defined]
    assert User.objects.for_tenant(tenant).get().email_index == second
    done = client.post(f"{API}/privacy/index-key-rotations", headers=make_token(tenant, "privacy:write"))
    assert done.status_code == 200, done.content  # type: ignore[attr-defined]
    body = json.loads(done.content)  # type: ignore[attr-defined]
    assert (body["rows_reindexed"], body["retired_keys"]) == (1, 2)
    assert User.objects.for_tenant(tenant).get().email_index not in ("", first, second)
    assert auth.authenticate(None, tenant_slug="acme", email=MEMBER, password=PASSWORD) == member
    with pytest.raises(CommandFailed):
        bindery("privacy", "rotate-index-key", "--tenant", "nope")


def test_bans_and_known_sources_hold_pseudonyms_not_addresses(client: HttpsClient, tenant: LocalTenant) -> None:
    """The guard counts and bans per account without storing the address it was given."""
    from bindery.security.bruteforce import tenant_account

    do_create_user(tenant, MEMBER, PASSWORD, role=Role.OWNER, actor="test")
    assert sign_in(client, MEMBER).status_code == 302  # type: ignore[attr-defined]
    known = KnownSource.objects.get()
    assert known.account == tenant_account("acme", MEMBER.upper())
    assert known.account.startswith("acme:~")
    assert "@" not in known.account
    assert not Ban.objects.exists()
