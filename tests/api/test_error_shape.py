"""Answers Django gives around ninja keep the API's JSON error shape."""

from __future__ import annotations

import pytest

from bindery.control.models import LocalTenant
from bindery.security.actions import do_create_api_token
from tests.conftest import HttpsClient

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def token(tenant: LocalTenant) -> str:
    return do_create_api_token(tenant, "t", ["*:*"], actor="test")[1]


def test_unknown_api_path_is_json_404(client: HttpsClient, token: str) -> None:
    """A path no route matches (even with slashes in an id) answers the JSON shape, not HTML."""
    for path in ("/api/v1/nothing-here", "/api/v1/orders/a/b"):
        response = client.get(path, headers={"token": token})
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_wrong_method_is_json_405(client: HttpsClient, token: str) -> None:
    """A method the route lacks answers 405 in the JSON shape, keeping the Allow header."""
    response = client.patch("/api/v1/me", headers={"token": token})
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_console_404_stays_html(client: HttpsClient) -> None:
    """Outside /api/ Django's own pages are untouched."""
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_crash_is_json_500_without_details(client: HttpsClient, token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected exception in an API view is a JSON 500 naming the request id, never a traceback."""
    from bindery.api.routes import me

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(me, "MeOut", boom)
    client.raise_request_exception = False
    response = client.get("/api/v1/me", headers={"token": token, "X-Request-ID": "trace-12345678"})
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal_error"
    assert "trace-12345678" in body["message"]
    assert "secret internals" not in response.content.decode()
