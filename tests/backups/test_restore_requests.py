"""Tenant restores requested from the operators' console and API, queued for the backup site.

The end-to-end run (request, then the site's pass restores and verifies) is in
test_tenant_restore.py; here: what is accepted, what is refused and why, cancelling, and
who may ask.
"""

from __future__ import annotations

import json

import pytest

from bindery.backups.actions import (
    RestoreRequestError,
    do_claim_restore_request,
    do_fail_interrupted_restores,
    do_finish_backup_record,
    do_request_tenant_restore,
    do_start_backup_record,
)
from bindery.backups.models import BackupKind, RestoreRequest, RestoreState
from bindery.control.models import LocalTenant
from tests.conftest import HttpsClient

pytestmark = pytest.mark.django_db(databases="__all__")

API = "/ops/api/backups/restores"


def _backup(backup_id: str = "host-local/20261129T010000Z-abc", *, ok: bool = True, database: str = "host-local"
            ) -> str:
    record = do_start_backup_record(database, BackupKind.BACKUP)
    do_finish_backup_record(record, ok=ok, backup_id=backup_id, error="" if ok else "pg_dump failed")
    return backup_id


def test_api_queues_the_newest_good_backup_of_the_tenants_host(ops_client: HttpsClient,
                                                                tenant: LocalTenant) -> None:
    _backup("host-local/1-old")
    newest = _backup("host-local/2-new")
    _backup("host-local/3-failed", ok=False)
    response = ops_client.post(API, json.dumps({"tenant": "acme", "to_host": "local", "reason": "bad import"}),
                               content_type="application/json")
    assert response.status_code == 201, response.content
    queued = response.json()["restore"]
    assert (queued["tenant"], queued["to_host"], queued["backup_id"], queued["state"]) == (
        "acme", "local", newest, "requested")
    assert queued["requested_by"] == "ops@bindery.example"
    listed = ops_client.get(API).json()["restores"]
    assert [r["id"] for r in listed] == [queued["id"]]
    # One open request per tenant.
    again = ops_client.post(API, json.dumps({"tenant": "acme", "to_host": "local", "reason": "twice"}),
                            content_type="application/json")
    assert again.status_code == 400
    assert again.json()["error"]["field"] == "tenant"
    assert "already queued" in again.json()["error"]["message"]
    assert RestoreRequest.objects.count() == 1


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"tenant": "nobody", "to_host": "local", "reason": "why"}, "tenant", "no tenant"),
    ({"tenant": "acme", "to_host": "nowhere", "reason": "why"}, "to_host", "no active host"),
    ({"tenant": "acme", "to_host": "local", "reason": ""}, "reason", "say why"),
    ({"tenant": "acme", "to_host": "local", "reason": "x" * 501}, "reason", "say why"),
    ({"tenant": "acme", "to_host": "local", "reason": "why", "backup": "control/1"}, "backup", "no good host backup"),
    ({"tenant": "acme", "to_host": "local", "reason": "why", "backup": "host-local/3-failed"}, "backup",
     "no good host backup"),
    ({"tenant": ["acme"], "to_host": "local", "reason": "why"}, "tenant", "must be text"),
    ({"tenant": "acme\x00", "to_host": "local", "reason": "why"}, "tenant", "control characters"),
    ({"tenant": "acme", "to_host": "local", "reason": "why\x00"}, "reason", "control characters"),
    ({"tenant": "acme", "to_host": {"$ne": 1}, "reason": "why"}, "to_host", "must be text"),
])
def test_api_refuses_bad_requests_naming_the_field(ops_client: HttpsClient, tenant: LocalTenant,
                                                   body: dict[str, object], field: str, words: str) -> None:
    _backup()
    _backup("host-local/3-failed", ok=False)
    response = ops_client.post(API, json.dumps(body), content_type="application/json")
    assert response.status_code in (400, 403), response.content  # the firewall may refuse a hostile body first
    if response.status_code == 400:
        error = response.json()["error"]
        assert (error["field"], words in error["message"]) == (field, True), error
    assert not RestoreRequest.objects.exists()


@pytest.mark.parametrize("raw", [b"{", b"[]", b"\xff\xfe", b'"acme"', b"{" * 10_000])
def test_api_refuses_malformed_bodies(ops_client: HttpsClient, tenant: LocalTenant, raw: bytes) -> None:
    response = ops_client.post(API, raw, content_type="application/json")
    assert response.status_code in (400, 403)
    assert not RestoreRequest.objects.exists()


def test_a_tenant_without_a_backup_is_refused(ops_client: HttpsClient, tenant: LocalTenant) -> None:
    response = ops_client.post(API, json.dumps({"tenant": "acme", "to_host": "local", "reason": "why"}),
                               content_type="application/json")
    assert response.status_code == 400
    assert "has no good backup yet" in response.json()["error"]["message"]


def test_strangers_and_tenant_owners_cannot_request(client: HttpsClient, owner: object, tenant: LocalTenant) -> None:
    _backup()
    body = json.dumps({"tenant": "acme", "to_host": "local", "reason": "why"})
    assert client.post(API, body, content_type="application/json").status_code == 403
    assert client.get(API).status_code == 403
    from tests.conftest import PASSWORD

    client.login(email="owner@acme.example", password=PASSWORD)
    assert client.post(API, body, content_type="application/json").status_code == 403
    assert client.post("/ops/backups/restore-tenant", {"tenant": "acme", "to_host": "local", "reason": "why",
                                                       "confirm": "acme"}).status_code in (302, 403)
    assert not RestoreRequest.objects.exists()


def test_console_form_needs_the_slug_typed_again_then_queues_and_cancels(ops_client: HttpsClient,
                                                                         tenant: LocalTenant) -> None:
    backup = _backup()
    page = ops_client.get("/ops/backups/").content.decode()
    assert 'id="restore-tenant-form"' in page
    assert f"<option>{backup}</option>" in page
    form = {"tenant": "acme", "to_host": "local", "backup": "", "reason": "wrong prices imported"}
    refused = ops_client.post("/ops/backups/restore-tenant", {**form, "confirm": "acm"}, follow=True)
    assert "Type the tenant&#x27;s slug again" in refused.content.decode()
    assert not RestoreRequest.objects.exists()
    queued = ops_client.post("/ops/backups/restore-tenant", {**form, "confirm": "acme"}, follow=True)
    html = queued.content.decode()
    assert "queued; the backup site runs it" in html
    request = RestoreRequest.objects.get()
    assert (request.backup_ref, request.state, request.reason) == (backup, RestoreState.REQUESTED,
                                                                   "wrong prices imported")
    assert 'id="restore-requests"' in html
    assert "wrong prices imported" in html
    cancelled = ops_client.post("/ops/backups/restore-tenant", {"cancel": str(request.pk)}, follow=True)
    assert "cancelled" in cancelled.content.decode()
    request.refresh_from_db()
    assert request.state == RestoreState.CANCELLED
    # Cancelled is over: it cannot be cancelled again, and a new request may be queued.
    again = ops_client.post("/ops/backups/restore-tenant", {"cancel": str(request.pk)}, follow=True)
    assert "cannot be cancelled" in again.content.decode()
    assert do_request_tenant_restore("acme", "local", reason="second try", actor="test").state == "requested"


def test_the_site_claims_each_request_once_and_interrupted_ones_fail(tenant: LocalTenant) -> None:
    _backup()
    queued = do_request_tenant_restore("acme", "local", reason="drill", actor="test")
    claimed = do_claim_restore_request()
    assert claimed is not None
    assert claimed.pk == queued.pk
    assert do_claim_restore_request() is None  # running: not claimed twice
    with pytest.raises(RestoreRequestError):
        do_request_tenant_restore("acme", "local", reason="drill", actor="test")  # still open
    from django.utils import timezone

    assert do_fail_interrupted_restores(before=timezone.now()) == 1
    claimed.refresh_from_db()
    assert claimed.state == RestoreState.FAILED
    assert "interrupted" in claimed.error
