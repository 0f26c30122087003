"""The backup site: which databases to back up, when, and what to do after each backup.

``bindery backup-site`` runs :func:`run_site_loop`: once a minute it backs up every database
whose daily slot (``BINDERY_BACKUP_TIME``, per host if configured) has passed without a good
backup since — so a site that was down catches up as soon as it is back — verifies each new
backup, prunes by the GFS policy, drills each database's newest backup weekly and raises alerts.
Two site processes never back up one database at once: the repository holds a per-database
``flock`` (:func:`bindery.backups.repository.database_lock`).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from bindery.backups.actions import (
    do_claim_restore_request,
    do_fail_interrupted_restores,
    do_finish_backup_record,
    do_finish_restore_request,
    do_note_restore_progress,
    do_raise_backup_alert,
    do_resolve_backup_alerts,
    do_start_backup_record,
    send_alert_mails,
)
from bindery.backups.models import AlertKind, BackupAlert, BackupKind, BackupRecord, BackupState, RestoreRequest
from bindery.backups.repository import (
    BackupBusy,
    BackupError,
    CheckResult,
    Manifest,
    Source,
    create_backup,
    drill_backup,
    find_backup,
    prune_backups,
    verify_backup,
)
from bindery.backups.retention import RetentionPolicy
from bindery.backups.sitekey import load_site_keyring
from bindery.backups.targets import LocalTarget, SftpTarget, Target, TargetError
from bindery.config import Config, parse_database_url
from bindery.security.envelope import Keyring

STALE_AFTER = dt.timedelta(hours=26)
DRILL_EVERY = dt.timedelta(days=7)


@dataclass
class Site:
    config: Config
    ring: Keyring
    work_dir: Path
    policy: RetentionPolicy
    times: dict[str, dt.time]

    def open_target(self) -> Target:
        value = self.config.backup_target
        if value.startswith("sftp://"):
            return SftpTarget.from_url(value, host_key=self.config.backup_sftp_host_key,
                                       password=self.config.backup_sftp_password,
                                       private_key=self.config.backup_sftp_private_key)
        return LocalTarget(Path(value))

    def time_for(self, source: Source) -> dt.time:
        return self.times.get(source.host, self.times[""])

    def drill_server(self, source_url: str) -> str:
        return self.config.backup_drill_url or source_url

    def scratch_server(self, host: object) -> str | None:
        """Where a PostgreSQL backup is restored for a tenant restore: the drill server, else the
        target host's own server (when it is PostgreSQL)."""
        if self.config.backup_drill_url:
            return self.config.backup_drill_url
        name = host.name  # type: ignore[attr-defined]
        url = self.config.host_db.url if name == settings.BINDERY_HOST_NAME else host.database_url()  # type: ignore[attr-defined]
        return url if url.startswith(("postgres://", "postgresql://")) else None


def site_from_config(config: Config) -> Site:
    ring = load_site_keyring(config.backup_site_key, config.var_dir, master_key=config.master_key)
    times = {host: dt.time.fromisoformat(at) for host, at in config.backup_times}
    return Site(config=config, ring=ring, work_dir=config.var_dir / "backup-site",
                policy=RetentionPolicy(*config.backup_retention), times=times)


def _source(database: str, url: str, host: str, *, snapshot_url: str = "", token: str = "",
            ca_file: str = "", rate: int = 0) -> Source:
    parsed = parse_database_url(database, url)
    if parsed.is_sqlite and snapshot_url and token:  # a SQLite host on another machine: its endpoint
        return Source(database, parsed.engine, snapshot_url, host=host, token=token, ca_file=ca_file, rate=rate)
    location = str(parsed.path) if parsed.is_sqlite else parsed.url
    return Source(database, parsed.engine, location, host=host, rate=rate)


def snapshot_url(host: object) -> str:
    from bindery.backups.snapshot_endpoint import PATH

    return str(host.public_url).rstrip("/") + PATH  # type: ignore[attr-defined]


def site_sources(config: Config) -> list[Source]:
    """Every database in the directory: the control plane's and each (non-retired) host's."""
    from bindery.control.models import Host, HostState

    rate = config.backup_rate_limit * 1_000_000
    sources = [_source("control", config.control_db.url, "", rate=rate)]
    seen = set()
    tokens = dict(config.backup_snapshot_tokens)
    for host in Host.objects.exclude(state=HostState.RETIRED).order_by("name"):
        url = config.host_db.url if host.name == settings.BINDERY_HOST_NAME else host.database_url()
        sources.append(_source(f"host-{host.name}", url, host.name, snapshot_url=snapshot_url(host),
                               token=tokens.get(host.name, ""), ca_file=config.backup_snapshot_ca, rate=rate))
        seen.add(host.name)
    if settings.BINDERY_HOST_NAME not in seen:
        sources.append(_source(f"host-{settings.BINDERY_HOST_NAME}", config.host_db.url, settings.BINDERY_HOST_NAME,
                               rate=rate))
    return sources


def last_slot(now: dt.datetime, at: dt.time) -> dt.datetime:
    """The most recent moment (UTC) at or before ``now`` when a daily backup at ``at`` was due."""
    today = dt.datetime.combine(now.astimezone(dt.UTC).date(), at, tzinfo=dt.UTC)
    return today if today <= now else today - dt.timedelta(days=1)


def _last_ok(database: str, kind: BackupKind) -> BackupRecord | None:
    return (BackupRecord.objects.filter(database=database, kind=kind, state=BackupState.OK)
            .order_by("-started_at").first())


def is_due(site: Site, source: Source, now: dt.datetime) -> bool:
    last = _last_ok(source.database, BackupKind.BACKUP)
    return last is None or last.started_at < last_slot(now, site.time_for(source))


def _check(result: CheckResult) -> dict[str, object]:
    return {"problems": result.problems[:20], "tables": len(result.row_counts),
            "rows": sum(result.row_counts.values()), "seconds": round(result.seconds, 3)}


def run_verify(site: Site, target: Target, manifest: Manifest, *, now: dt.datetime | None = None) -> bool:
    record = do_start_backup_record(manifest.database, BackupKind.VERIFY, backup_id=manifest.backup_id, now=now)
    try:
        result = verify_backup(target, site.ring, manifest, work_dir=site.work_dir)
    except (BackupError, TargetError, OSError) as exc:
        result = CheckResult(manifest.backup_id, ok=False, problems=[str(exc)])
    do_finish_backup_record(record, ok=result.ok, error="; ".join(result.problems), detail=_check(result))
    if result.ok:
        do_resolve_backup_alerts(manifest.database, [AlertKind.VERIFY_FAILED])
    else:
        do_raise_backup_alert(manifest.database, AlertKind.VERIFY_FAILED,
                              f"verify of {manifest.backup_id} failed: {'; '.join(result.problems)[:500]}")
    return result.ok


def distance_check(site: Site, source: Source) -> dict[str, object]:
    """The 500 km rule for one database: ``{"km", "allowed", "reason", "override"}``.

    Hosts only (the control database has no datacenter of its own). Not checked when the site's
    datacenter is not configured or a side lacks coordinates (said in ``reason``); refused when
    the configured datacenter is unknown, or when closer than 500 km without an active
    operator override.
    """
    from bindery.backups.distance import MIN_DISTANCE_KM, check_site_distance
    from bindery.backups.models import DistanceOverride
    from bindery.control.models import Datacenter, Host

    name = site.config.backup_datacenter
    if not source.host:
        return {"km": None, "allowed": True, "reason": "no datacenter (control database)", "override": None}
    if not name:
        return {"km": None, "allowed": True, "override": None,
                "reason": "not checked: the site's datacenter (BINDERY_BACKUP_DATACENTER) is not set"}
    here = Datacenter.objects.filter(name=name).first()
    if here is None:
        return {"km": None, "allowed": False, "override": None,
                "reason": f"the site's datacenter {name!r} is not in the directory"}
    host = Host.objects.select_related("datacenter").filter(name=source.host).first()
    there = host.datacenter if host else None
    if there is None or None in (there.latitude, there.longitude, here.latitude, here.longitude):
        return {"km": None, "allowed": True, "override": None,
                "reason": "not checked: a datacenter has no coordinates"}
    override = DistanceOverride.objects.filter(database=source.database, revoked_at__isnull=True).first()
    verdict = check_site_distance((float(there.latitude), float(there.longitude)),  # type: ignore[arg-type]
                                  (float(here.latitude), float(here.longitude)),  # type: ignore[arg-type]
                                  override=override is not None, minimum_km=MIN_DISTANCE_KM)
    return {"km": round(verdict.distance_km, 1), "allowed": verdict.allowed, "reason": verdict.reason,
            "override": ({"by": override.requested_by, "at": override.created_at.isoformat(),
                          "reason": override.reason} if override and verdict.overridden else None)}


def run_backup(site: Site, target: Target, source: Source, *, now: dt.datetime | None = None) -> BackupRecord | None:
    """Back up one database, then verify the new backup; None when another run holds the database."""
    record = do_start_backup_record(source.database, BackupKind.BACKUP, now=now)
    distance = distance_check(site, source)
    if not distance["allowed"]:
        message = f"backup of {source.database} refused: {distance['reason']}"
        do_finish_backup_record(record, ok=False, error=message, detail={"distance": distance})
        do_raise_backup_alert(source.database, AlertKind.TOO_CLOSE, message)
        return record
    do_resolve_backup_alerts(source.database, [AlertKind.TOO_CLOSE])
    try:
        manifest = create_backup(target, site.ring, source, work_dir=site.work_dir, now=now)
    except BackupBusy:
        record.delete()
        return None
    except (BackupError, TargetError, OSError) as exc:
        do_finish_backup_record(record, ok=False, error=str(exc))
        do_raise_backup_alert(source.database, AlertKind.BACKUP_FAILED, f"backup of {source.database} failed: {exc}")
        return record
    do_finish_backup_record(record, ok=True, backup_id=manifest.backup_id, snapshot_bytes=manifest.snapshot_size,
                            stored_bytes=manifest.stored_size,
                            detail={"tables": len(manifest.row_counts), "rows": sum(manifest.row_counts.values()),
                                    "distance": distance},
                            now=max(now, timezone.now()) if now else None)
    do_resolve_backup_alerts(source.database, [AlertKind.BACKUP_FAILED, AlertKind.STALE])
    run_verify(site, target, manifest)
    return record


def run_drill(site: Site, target: Target, source: Source, ref: str | None = None) -> CheckResult:
    """Restore a backup (default: the newest) into scratch and compare counts with its manifest."""
    manifest = find_backup(target, site.ring, ref or source.database)
    record = do_start_backup_record(source.database, BackupKind.DRILL, backup_id=manifest.backup_id)
    try:
        server = site.drill_server(source.location) if source.engine == "postgresql" else None
        result = drill_backup(target, site.ring, manifest, work_dir=site.work_dir, server_url=server)
    except (BackupError, TargetError, OSError) as exc:
        result = CheckResult(manifest.backup_id, ok=False, problems=[str(exc)])
    except Exception as exc:  # a drill must never die silently: record whatever broke it
        result = CheckResult(manifest.backup_id, ok=False, problems=[f"{type(exc).__name__}: {exc}"])
    do_finish_backup_record(record, ok=result.ok, error="; ".join(result.problems), detail=_check(result))
    if result.ok:
        do_resolve_backup_alerts(source.database, [AlertKind.DRILL_FAILED])
    else:
        do_raise_backup_alert(source.database, AlertKind.DRILL_FAILED,
                              f"restore drill of {manifest.backup_id} failed: {'; '.join(result.problems)[:500]}")
    return result


def run_prune(site: Site, target: Target, database: str, *, dry_run: bool = False) -> list[Manifest]:
    record = do_start_backup_record(database, BackupKind.PRUNE)
    try:
        removed = prune_backups(target, site.ring, database, site.policy, lock_dir=site.work_dir / "locks",
                                dry_run=dry_run)
    except (BackupError, TargetError, OSError) as exc:
        do_finish_backup_record(record, ok=False, error=str(exc))
        return []
    do_finish_backup_record(record, ok=True, detail={"removed": [m.backup_id for m in removed], "dry_run": dry_run})
    return removed


def check_alerts(sources: list[Source], *, now: dt.datetime | None = None) -> list[BackupAlert]:
    """Raise (or resolve) the staleness alert of every database; return the newly raised alerts."""
    now = now or timezone.now()
    raised = []
    for source in sources:
        last = _last_ok(source.database, BackupKind.BACKUP)
        if last is None or now - last.started_at > STALE_AFTER:
            age = "never backed up" if last is None else f"last good backup {now - last.started_at} ago"
            alert = do_raise_backup_alert(source.database, AlertKind.STALE,
                                          f"{source.database}: {age} (limit {STALE_AFTER})", now=now)
            if alert:
                raised.append(alert)
        else:
            do_resolve_backup_alerts(source.database, [AlertKind.STALE], now=now)
    return raised


def restore_tenant_recorded(site: Site, target: Target, ref: str, tenant_slug: str, to_host: str, *, actor: Any,
                            progress: Callable[[str], None]) -> Any:
    """Restore one tenant (``bindery backup restore-tenant`` and console requests alike), recorded in the catalog.

    Returns the :class:`~bindery.backups.restores.TenantRestore`; raises :class:`BackupError`.
    """
    from bindery.backups.restores import restore_tenant
    from bindery.control.models import Host

    host = Host.objects.select_related("datacenter").filter(name=to_host).first()
    if host is None:
        raise BackupError(f"no host '{to_host}'")
    manifest = find_backup(target, site.ring, ref)
    record = do_start_backup_record(manifest.database, BackupKind.RESTORE, backup_id=manifest.backup_id)
    try:
        done = restore_tenant(target, site.ring, manifest, tenant_slug, host, work_dir=site.work_dir,
                              server_url=site.scratch_server(host), actor=actor, progress=progress)
    except BackupError as exc:
        do_finish_backup_record(record, ok=False, error=str(exc))
        raise
    do_finish_backup_record(record, ok=True, detail={
        "tenant": done.tenant, "to_host": done.host, "epoch": done.epoch, "rows": done.rows,
        "rows_erased_again": done.rows_erased_again, "notes": done.notes})
    return done


def run_restore_requests(site: Site, target: Target) -> list[RestoreRequest]:
    """Carry out the operators' queued tenant restores, oldest first; return the requests handled."""
    handled = []
    while (request := do_claim_restore_request()) is not None:
        claimed = request

        def note(line: str, request: RestoreRequest = claimed) -> None:
            do_note_restore_progress(request, line)

        try:
            done = restore_tenant_recorded(site, target, request.backup_ref, request.tenant_slug, request.to_host,
                                           actor=f"{request.requested_by} (request {request.pk})", progress=note)
        except BackupError as exc:
            do_finish_restore_request(request, ok=False, error=str(exc))
        except Exception as exc:  # recorded on the request, then the loop's error handler sees it
            do_finish_restore_request(request, ok=False, error=f"{type(exc).__name__}: {exc}")
            raise
        else:
            note(f"restored {done.rows} rows in {len(done.tables)} tables; "
                 f"{done.rows_erased_again} row(s) erased again by the journal replay")
            do_finish_restore_request(request, ok=True, detail={
                "backup_id": done.backup_id, "epoch": done.epoch, "rows": done.rows, "tables": len(done.tables),
                "rows_erased_again": done.rows_erased_again, "previous_host": done.previous_host,
                "notes": done.notes})
        handled.append(request)
    return handled


def site_tick(site: Site, *, now: dt.datetime | None = None,
              sources: list[Source] | None = None) -> list[BackupRecord]:
    """One pass of the service loop; return the backups it ran. Queued tenant restores go first."""
    now = now or timezone.now()
    sources = sources if sources is not None else site_sources(site.config)
    done = []
    target = site.open_target()
    try:
        run_restore_requests(site, target)
        for source in sources:
            if is_due(site, source, now):
                record = run_backup(site, target, source)
                if record is not None:
                    done.append(record)
                    if record.state == BackupState.OK:
                        run_prune(site, target, source.database)
            drilled = _last_ok(source.database, BackupKind.DRILL)
            has_backup = _last_ok(source.database, BackupKind.BACKUP) is not None
            if has_backup and (drilled is None or now - drilled.started_at > DRILL_EVERY):
                run_drill(site, target, source)
    finally:
        target.close()
    check_alerts(sources, now=timezone.now())
    send_alert_mails()  # retries alerts whose mail failed earlier
    return done


def run_site_loop(site: Site, stop: threading.Event, *, poll_seconds: float = 60.0,
                  on_error: Callable[[Exception], None] | None = None) -> None:
    do_fail_interrupted_restores(before=timezone.now())  # left running by a site process that stopped
    while not stop.is_set():
        try:
            site_tick(site)
        except Exception as exc:  # the service keeps running; the next tick retries
            if on_error:
                on_error(exc)
        stop.wait(poll_seconds)
