"""The 500 km rule: the site refuses (and alerts) a host's database closer than 500 km unless an
operator recorded an override (who, when, why, from the CLI or the ops page); the page shows the
distance per database."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from bindery.backups.actions import do_record_distance_override, do_revoke_distance_override
from bindery.backups.models import AlertKind, BackupAlert, BackupState, DistanceOverride
from bindery.backups.repository import Source, list_backups
from bindery.backups.retention import RetentionPolicy
from bindery.backups.site import Site, distance_check, run_backup
from bindery.config import load
from bindery.control.hosts import do_add_datacenter, ensure_local_host
from bindery.control.models import Host
from tests.backups.helpers import make_sqlite, site_ring
from tests.conftest import HttpsClient

pytestmark = pytest.mark.django_db(databases="__all__")


def _site(tmp_path: Path, datacenter: str) -> Site:
    config = dataclasses.replace(load({"BINDERY_VAR_DIR": str(tmp_path / "var")}),
                                 backup_target=str(tmp_path / "repo"), backup_datacenter=datacenter)
    return Site(config=config, ring=site_ring(), work_dir=tmp_path / "site", policy=RetentionPolicy(),
                times={"": dt.time(2, 30)})


def _host_in(name: str, latitude: str, longitude: str) -> None:
    dc = do_add_datacenter(name, "DE", latitude=Decimal(latitude), longitude=Decimal(longitude), actor="test")
    Host.objects.filter(pk=ensure_local_host().pk).update(datacenter=dc)


def test_a_host_under_500_km_is_refused_until_an_override_is_recorded(tmp_path):
    do_add_datacenter("site-fra", "DE", latitude=Decimal("50.1109"), longitude=Decimal("8.6821"), actor="test")
    _host_in("fra1", "50.1200", "8.7000")  # the same city
    site = _site(tmp_path, "site-fra")
    source = Source("host-local", "sqlite", str(make_sqlite(tmp_path / "h.sqlite3", orders=20)), host="local")
    target = site.open_target()

    record = run_backup(site, target, source)
    assert record is not None
    assert record.state == BackupState.FAILED
    assert "refused" in record.error
    assert "500 km" in record.error
    assert record.detail["distance"]["km"] < 5
    assert list_backups(target, site.ring, "host-local")[0] == []
    assert BackupAlert.objects.filter(database="host-local", kind=AlertKind.TOO_CLOSE,
                                      resolved_at__isnull=True).count() == 1

    with pytest.raises(ValueError, match="why"):
        do_record_distance_override("host-local", reason="  ", actor="ops@bindery.example")
    do_record_distance_override("host-local", reason="second site not ready until March", actor="ops@bindery.example")
    record = run_backup(site, target, source)
    assert record is not None
    assert record.state == BackupState.OK, record.error
    assert record.detail["distance"]["override"]["by"] == "ops@bindery.example"
    assert record.detail["distance"]["override"]["reason"] == "second site not ready until March"
    assert not BackupAlert.objects.filter(kind=AlertKind.TOO_CLOSE, resolved_at__isnull=True).exists()

    do_revoke_distance_override("host-local", actor="ops@bindery.example")
    assert DistanceOverride.objects.get().revoked_by == "ops@bindery.example"
    assert not distance_check(site, source)["allowed"]
    # The control database has no datacenter; an unknown site datacenter refuses everything.
    assert distance_check(site, Source("control", "sqlite", "x"))["allowed"]
    assert not distance_check(_site(tmp_path, "nowhere"), source)["allowed"]
    assert "not set" in str(distance_check(_site(tmp_path, ""), source)["reason"])


def test_a_far_host_is_backed_up_and_the_page_shows_distances_and_overrides(tmp_path, ops_client: HttpsClient):
    do_add_datacenter("site-hel", "FI", latitude=Decimal("60.1699"), longitude=Decimal("24.9384"), actor="test")
    _host_in("lis1", "38.7223", "-9.1393")  # Lisbon to Helsinki: about 3,360 km
    site = _site(tmp_path, "site-hel")
    source = Source("host-local", "sqlite", str(make_sqlite(tmp_path / "h.sqlite3", orders=20)), host="local")
    record = run_backup(site, site.open_target(), source)
    assert record is not None
    assert record.state == BackupState.OK, record.error
    assert 3300 < record.detail["distance"]["km"] < 3420
    html = ops_client.get("/ops/backups/").content.decode()
    assert f"{round(record.detail['distance']['km'])} km" in html
    assert "REFUSED" not in html

    # A near host: refused, shown as such, and the page records an override with who and why.
    Host.objects.filter(name="local").update(
        datacenter=do_add_datacenter("hel2", "FI", latitude=Decimal("60.2"), longitude=Decimal("24.9"), actor="t"))
    assert run_backup(site, site.open_target(), source).state == BackupState.FAILED  # type: ignore[union-attr]
    html = ops_client.get("/ops/backups/").content.decode()
    assert "REFUSED" in html
    assert "Override 500 km rule" in html
    assert ops_client.get("/ops/backups/distance-override").status_code == 405
    response = ops_client.post("/ops/backups/distance-override", {"database": "host-local", "reason": ""})
    assert response.status_code == 302
    assert not DistanceOverride.objects.exists()
    response = ops_client.post("/ops/backups/distance-override", {"database": "host-nope", "reason": "x"})
    assert not DistanceOverride.objects.exists()
    response = ops_client.post("/ops/backups/distance-override",
                               {"database": "host-local", "reason": "temporary, ticket OPS-12"})
    assert response.status_code == 302
    override = DistanceOverride.objects.get()
    assert override.reason == "temporary, ticket OPS-12"
    assert "ops@bindery.example" in override.requested_by
    html = ops_client.get("/ops/backups/").content.decode()
    assert "temporary, ticket OPS-12" in html
    ops_client.post("/ops/backups/distance-override", {"database": "host-local", "revoke": "1"})
    assert DistanceOverride.objects.get().revoked_at is not None


def test_strangers_cannot_record_an_override(client: HttpsClient) -> None:
    response = HttpsClient().post("/ops/backups/distance-override", {"database": "host-local", "reason": "x"})
    assert response.status_code in (302, 403)
    assert not DistanceOverride.objects.exists()
