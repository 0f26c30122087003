"""The operators' admin at /ops/ is for operator accounts only."""

from __future__ import annotations

import pytest

from bindery.accounts.actions import do_create_operator
from bindery.accounts.models import Operator, User
from tests.conftest import PASSWORD, HttpsClient, operator_sign_in

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def operator() -> Operator:
    return do_create_operator("ops@bindery.example", PASSWORD, actor="test")


def admin_login(client: HttpsClient, username: str, password: str) -> object:
    return operator_sign_in(client, username, password)


def test_operator_signs_in_and_sees_tenants(client: HttpsClient, operator: Operator, owner: User) -> None:
    """An operator signs in to /ops/ and lists tenants from the control plane."""
    response = admin_login(client, "ops@bindery.example", PASSWORD)
    assert response.status_code == 302
    page = client.get("/ops/control/tenant/")
    assert page.status_code == 200
    assert b"acme" in page.content


def test_tenant_user_cannot_use_ops(client: HttpsClient, owner: User) -> None:
    """A tenant owner's credentials do not open /ops/, neither by form nor with a console session."""
    assert admin_login(client, "owner@acme.example", PASSWORD).status_code == 200
    client.post("/login/", {"workspace": "acme", "email": "owner@acme.example", "password": PASSWORD})
    response = client.get("/ops/control/tenant/")
    assert response.status_code == 302
    assert "/ops/login/" in response["Location"]


def test_operator_wrong_password(client: HttpsClient, operator: Operator) -> None:
    """A wrong operator password is refused."""
    assert admin_login(client, "ops@bindery.example", "not the password").status_code == 200
    assert client.get("/ops/").status_code == 302


def test_operator_is_not_a_tenant_user(client: HttpsClient, operator: Operator) -> None:
    """An operator session reaching the console home is sent to /ops/ instead of a tenant's data."""
    admin_login(client, "ops@bindery.example", PASSWORD)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/ops/"
