"""Structured logs: one JSON line per request with its id; secrets never appear."""

from __future__ import annotations

import json
import logging

import pytest

from bindery.ops.logs import JsonFormatter, RedactSecretsFilter, redact_text
from tests.conftest import PASSWORD, HttpsClient

pytestmark = pytest.mark.django_db(databases="__all__")


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter())
        self.addFilter(RedactSecretsFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Capture:
    handler = Capture()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


def test_one_json_line_per_request(client: HttpsClient, captured: Capture) -> None:
    """Each request logs one JSON object with method, path, status, duration and request id."""
    response = client.get("/login/?token=supersecretvalue123", HTTP_X_REQUEST_ID="abcd1234-trace")
    assert response["X-Request-ID"] == "abcd1234-trace"
    records = [json.loads(line) for line in captured.lines]
    requests = [r for r in records if r.get("event") == "request"]
    assert len(requests) == 1
    entry = requests[0]
    assert entry["path"] == "/login/"
    assert entry["status"] == 200
    assert entry["method"] == "GET"
    assert entry["request_id"] == "abcd1234-trace"
    assert "supersecretvalue123" not in "\n".join(captured.lines)


def test_hostile_request_id_is_replaced(client: HttpsClient) -> None:
    """A malformed X-Request-ID (log injection) is replaced by a fresh id."""
    response = client.get("/healthz", HTTP_X_REQUEST_ID='x"\n{"level":"critical"}')
    assert response["X-Request-ID"] != 'x"\n{"level":"critical"}'
    assert len(response["X-Request-ID"]) == 32


def test_sign_in_never_logs_the_password(client: HttpsClient, owner: object, captured: Capture) -> None:
    """Neither a failed nor a successful sign-in puts the password in the logs."""
    client.post("/login/", {"workspace": "acme", "email": "owner@acme.example", "password": "wrong-guess-123"})
    client.post("/login/", {"workspace": "acme", "email": "owner@acme.example", "password": PASSWORD})
    text = "\n".join(captured.lines)
    assert "wrong-guess-123" not in text
    assert PASSWORD not in text


def test_secret_fields_and_urls_are_redacted(captured: Capture) -> None:
    """Secret-named extra fields, URL credentials and bearer tokens are redacted."""
    log = logging.getLogger("bindery.test")
    log.info("connecting to postgres://app:s3cretpw@db:5432/x with Bearer abcdefghijklmnop",
             extra={"api_key": "k-123456789", "node": {"password": "p-123456789", "name": "erp"}})
    line = captured.lines[-1]
    for secret in ("s3cretpw", "abcdefghijklmnop", "k-123456789", "p-123456789"):
        assert secret not in line
    parsed = json.loads(line)
    assert parsed["node"]["name"] == "erp"
    assert redact_text("token abcdefghijkl") == "token [redacted]"


def test_api_tokens_in_free_text_are_redacted() -> None:
    """A whole API token pasted into a message keeps only its public lookup part."""
    from bindery.security.tokens import SCANNER_REGEX, generate_token, new_lookup

    lookup = new_lookup()
    token = generate_token(lookup)
    assert __import__("re").fullmatch(SCANNER_REGEX, token)
    redacted = redact_text(f"ERP sent {token} twice")
    assert token not in redacted
    assert f"bnd_{lookup}_" in redacted
