"""The operators' backups page, API and metrics; alerts show as a badge; strangers are kept out."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from bindery.accounts.models import User
from bindery.backups.actions import do_finish_backup_record, do_start_backup_record
from bindery.backups.models import BackupKind
from bindery.backups.repository import Source
from bindery.backups.site import check_alerts
from tests.conftest import HttpsClient

pytestmark = pytest.mark.django_db(databases="__all__")


def _history() -> None:
    now = timezone.now()
    for day in range(5):
        at = now - dt.timedelta(days=4 - day)
        record = do_start_backup_record("host-eu1", BackupKind.BACKUP, now=at)
        do_finish_backup_record(record, ok=True, backup_id=f"host-eu1/{day}", snapshot_bytes=10_000_000 + day,
                                stored_bytes=3_000_000 + day * 100_000, now=at + dt.timedelta(seconds=4))
    old = now - dt.timedelta(hours=30)
    record = do_start_backup_record("control", BackupKind.BACKUP, now=old)
    do_finish_backup_record(record, ok=True, backup_id="control/x", snapshot_bytes=1000, stored_bytes=400, now=old)
    drill = do_start_backup_record("control", BackupKind.DRILL, backup_id="control/x")
    do_finish_backup_record(drill, ok=False, error="table orders: manifest 5 rows, restored 4")
    check_alerts([Source("control", "sqlite", "x"), Source("host-eu1", "sqlite", "y")])


def test_backups_page_shows_status_alerts_history_and_chart(ops_client: HttpsClient) -> None:
    _history()
    page = ops_client.get("/ops/backups/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="backup-alert-badge"' in html
    assert "STALE" in html
    assert html.count("<rect") >= 6  # one bar per good backup, plus the legend
    assert "host-eu1/4" in html
    body = ops_client.get("/ops/api/backups").json()
    status = {row["database"]: row for row in body["databases"]}
    assert status["host-eu1"]["stale"] is False
    assert status["host-eu1"]["alerts"] == []
    assert status["control"]["stale"] is True
    assert [a["kind"] for a in status["control"]["alerts"]] == ["stale"]
    assert status["control"]["last_drill"] == "failed"
    assert len(body["history"]) == 7
    metrics = ops_client.get("/ops/metrics/backups").content.decode()
    assert 'bindery_backup_open_alerts{database="control"} 1' in metrics
    assert 'bindery_backup_stored_bytes{database="host-eu1"} 3400000' in metrics
    prefix = 'bindery_backup_last_good_age_seconds{database="control"}'
    age = next(line for line in metrics.splitlines() if line.startswith(prefix))
    assert 30 * 3600 <= int(age.split()[-1]) < 31 * 3600


def test_empty_page_and_strangers(client: HttpsClient, ops_client: HttpsClient, owner: User) -> None:
    assert "No backups yet" in ops_client.get("/ops/backups/").content.decode()
    for path in ("/ops/api/backups", "/ops/metrics/backups"):
        assert client.get(path).status_code == 403
    assert client.get("/ops/backups/").status_code == 302
    client.force_login(owner, backend="bindery.accounts.backends.TenantUserBackend")
    assert client.get("/ops/api/backups").status_code == 403
    assert client.get("/ops/backups/").status_code == 302


def test_alerts_are_emailed_to_operators_once_and_badged_on_the_index(ops_client: HttpsClient, settings) -> None:
    from django.core import mail

    from bindery.backups.actions import do_raise_backup_alert, send_alert_mails
    from bindery.backups.models import AlertKind, BackupAlert
    from tests.support.server import free_port

    assert 'id="ops-backup-alert-badge"' not in ops_client.get("/ops/").content.decode()
    mail.outbox.clear()
    _history()  # control is stale (30 h): one alert
    subjects = [m.subject for m in mail.outbox]
    assert subjects == ["[Bindery] Backup alert: Last good backup too old (control)"]
    assert all(m.to == ["ops@bindery.example"] for m in mail.outbox)
    sent = len(mail.outbox)
    # Raised again while open: no second alert, no second mail.
    check_alerts([Source("control", "sqlite", "x")])
    assert do_raise_backup_alert("control", AlertKind.STALE, "again") is None
    assert send_alert_mails() == 0
    assert len(mail.outbox) == sent
    assert BackupAlert.objects.filter(emailed_at__isnull=True).count() == 0
    # A mail server that refuses: the alert stays unsent, and the next pass sends it.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 5
    alert = do_raise_backup_alert("host-eu9", AlertKind.BACKUP_FAILED, "backup of host-eu9 failed: disk full")
    assert alert is not None
    alert.refresh_from_db()
    assert alert.emailed_at is None
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert send_alert_mails() == 1
    assert "disk full" in mail.outbox[-1].body
    html = ops_client.get("/ops/").content.decode()
    assert 'id="ops-backup-alert-badge"' in html
    assert f"{BackupAlert.objects.filter(resolved_at__isnull=True).count()} backup alerts" in html
