"""schemathesis, driven by our own OpenAPI document, finds no 5xx and no response that breaks its schema."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from bindery.catalog.actions import do_create_price_list, do_create_warehouse
from bindery.control.models import LocalTenant
from bindery.security.actions import do_create_api_token

_django = get_wsgi_application()


def https_app(environ: dict[str, Any], start_response: Any) -> Any:
    """Requests reach Django only over TLS; say so, as granian does."""
    environ["wsgi.url_scheme"] = "https"
    return _django(environ, start_response)


schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", https_app)

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture(autouse=True)
def keep_test_connection() -> Any:
    """Calls go straight to the WSGI handler, not through Django's test client, so detach the
    per-request connection recycling the way the test client does: on PostgreSQL it would close
    the connection that holds the test's transaction after the first request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_token(tenant: LocalTenant) -> str:
    do_create_warehouse(tenant, "main", actor="test")
    do_create_price_list(tenant, "retail", "EUR", actor="test")
    _, plaintext = do_create_api_token(tenant, "fuzz", ["*:*"], actor="test")
    return plaintext


@schema.parametrize()
@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_api_never_fails_or_breaks_its_schema(case: Any, api_token: str) -> None:
    """Every operation, fed generated valid and edge-case input over HTTPS with a full-scope token."""
    case.call_and_validate(
        headers={"token": api_token},
        checks=[not_a_server_error, response_schema_conformance],
    )
