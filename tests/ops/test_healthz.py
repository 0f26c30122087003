"""/healthz reports both databases, the queue and the worker."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from bindery.ops.actions import do_record_worker_heartbeat
from bindery.ops.health import WORKER_STALE_AFTER, worker_state
from tests.conftest import HttpsClient

pytestmark = pytest.mark.django_db(databases="__all__")


def test_healthz_reports_every_part(client: HttpsClient) -> None:
    """Both databases answer; with no worker report yet the host is degraded but serving (200)."""
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["databases"]["control"]["status"] == "ok"
    assert body["databases"]["host"]["status"] == "ok"
    assert body["queue"]["status"] == "ok"
    assert body["queue"]["worker"]["status"] == "unknown"
    assert body["status"] == "degraded"
    assert response["Cache-Control"].startswith("max-age=0")


def test_healthz_ok_with_a_live_worker(client: HttpsClient) -> None:
    """A recent worker heartbeat makes the host ok."""
    do_record_worker_heartbeat(queue_pending=0)
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["queue"]["worker"]["status"] == "ok"


def test_stale_worker_is_reported() -> None:
    """A heartbeat older than the limit is reported stale."""
    old = timezone.now() - WORKER_STALE_AFTER - dt.timedelta(seconds=5)
    do_record_worker_heartbeat(queue_pending=3, now=old)
    assert worker_state()["status"] == "stale"


def test_healthz_503_when_a_database_is_down(client: HttpsClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the control database does not answer, /healthz says so with 503 and the reason."""
    from bindery.ops import health

    real = health.database_state

    def control_down(alias: str) -> dict[str, object]:
        if alias == "control":
            return {"status": "error", "error": "connection refused"}
        return real(alias)

    monkeypatch.setattr(health, "database_state", control_down)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["databases"]["control"]["error"] == "connection refused"


def test_healthz_only_reads(client: HttpsClient) -> None:
    """/healthz answers GET and HEAD only."""
    assert client.post("/healthz").status_code == 405
    assert client.head("/healthz").status_code == 200
