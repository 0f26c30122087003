"""``bindery backup run|list|verify|restore|drill|prune`` and ``bindery backup-site``."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable
from typing import Any

from bindery.config import Config


def _out(line: str = "") -> None:
    print(line, flush=True)


def _failed(message: str) -> Exception:
    from bindery.cli import CommandFailed

    return CommandFailed(message)


def _site(config: Config) -> Any:
    from bindery.backups.site import site_from_config
    from bindery.backups.sitekey import SiteKeyError

    try:
        return site_from_config(config)
    except SiteKeyError as exc:
        raise _failed(str(exc)) from None


def _sources(config: Config, database: str | None) -> list[Any]:
    from bindery.backups.site import site_sources

    sources = site_sources(config)
    if database:
        sources = [s for s in sources if s.database == database]
        if not sources:
            raise _failed(f"no database '{database}' in the directory (control, host-<name>)")
    return sources


def _source_for(config: Config, ref: str) -> Any:
    return _sources(config, ref.split("/", 1)[0])[0]


LOWEST_NICE = 19


def _yield_cpu(config: Config) -> None:
    """Run the backup site's work at the lowest CPU and I/O priority (``BINDERY_BACKUP_PRIORITY``,
    default ``lowest``): on a shared machine the host's web and workers come first; compression,
    encryption and pg_dump (a child process, which inherits both priorities) just take longer.

    CPU: ``nice`` 19. I/O: the idle class (``ionice -c3``), honoured by I/O schedulers that
    support classes (BFQ, CFQ); a no-op elsewhere.
    """
    import contextlib
    import os
    import shutil
    import subprocess

    if not config.backup_low_priority:
        return
    with contextlib.suppress(OSError):
        os.nice(max(0, LOWEST_NICE - os.nice(0)))
    tool = shutil.which("ionice")
    if tool:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run([tool, "-c", "3", "-p", str(os.getpid())], check=False,  # noqa: S603 - fixed arguments
                           capture_output=True, timeout=10)


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.1f} MB"


def cmd_backup_run(config: Config, args: argparse.Namespace) -> int:
    from bindery.backups.models import BackupState
    from bindery.backups.site import run_backup

    site = _site(config)
    _yield_cpu(config)
    target = site.open_target()
    failed = 0
    try:
        for source in _sources(config, args.database):
            record = run_backup(site, target, source)
            if record is None:
                _out(f"{source.database}: skipped, another backup of it is running")
                continue
            if record.state == BackupState.OK:
                _out(f"{source.database}: {record.backup_id} {_mb(record.snapshot_bytes)} -> "
                     f"{_mb(record.stored_bytes)} stored in {record.seconds:.1f} s")
            else:
                failed += 1
                _out(f"{source.database}: FAILED {record.error}")
    finally:
        target.close()
    if failed:
        raise _failed(f"{failed} backup(s) failed")
    return 0


def cmd_backup_list(config: Config, args: argparse.Namespace) -> int:
    from bindery.backups.repository import list_backups

    site = _site(config)
    target = site.open_target()
    try:
        backups, problems = list_backups(target, site.ring, args.database)
    finally:
        target.close()
    _out(f"{'ID':48} {'TAKEN (UTC)':17} {'SNAPSHOT':>11} {'STORED':>11} {'ROWS':>10}")
    for m in backups:
        _out(f"{m.backup_id:48} {m.taken_at:%Y-%m-%d %H:%M} {_mb(m.snapshot_size):>11} {_mb(m.stored_size):>11} "
             f"{sum(m.row_counts.values()):>10}")
    for problem in problems:
        _out(f"DAMAGED {problem}")
    _out(f"{len(backups)} backup(s) in {target.label}")
    return 1 if problems else 0


def cmd_backup_verify(config: Config, args: argparse.Namespace) -> int:
    from bindery.backups.repository import BackupError, find_backup, list_backups
    from bindery.backups.site import run_verify

    site = _site(config)
    _yield_cpu(config)
    target = site.open_target()
    try:
        if args.ref == "all":
            manifests, _ = list_backups(target, site.ring)
        else:
            try:
                manifests = [find_backup(target, site.ring, args.ref)]
            except BackupError as exc:
                raise _failed(str(exc)) from None
        bad = 0
        for manifest in manifests:
            ok = run_verify(site, target, manifest)
            bad += not ok
            _out(f"{manifest.backup_id}: {'ok' if ok else 'FAILED (see bindery backup list / the ops page)'}")
    finally:
        target.close()
    if bad:
        raise _failed(f"{bad} backup(s) failed verification")
    return 0


def cmd_backup_restore(config: Config, args: argparse.Namespace) -> int:
    from bindery.backups.actions import do_finish_backup_record, do_start_backup_record
    from bindery.backups.models import BackupKind
    from bindery.backups.repository import BackupError, find_backup, restore_backup

    site = _site(config)
    target = site.open_target()
    try:
        try:
            manifest = find_backup(target, site.ring, args.ref)
        except BackupError as exc:
            raise _failed(str(exc)) from None
        record = do_start_backup_record(manifest.database, BackupKind.RESTORE, backup_id=manifest.backup_id)
        try:
            result = restore_backup(target, site.ring, manifest, args.to, work_dir=site.work_dir)
        except BackupError as exc:
            do_finish_backup_record(record, ok=False, error=str(exc))
            raise _failed(str(exc)) from None
        after: dict[str, int] = {}
        if result.ok and manifest.database.startswith("host-"):
            from bindery.backups.restores import after_host_restore

            after = after_host_restore(args.to, manifest.engine)
        do_finish_backup_record(record, ok=result.ok, error="; ".join(result.problems), detail=after)
    finally:
        target.close()
    if not result.ok:
        raise _failed("restore failed: " + "; ".join(result.problems[:5]))
    _out(f"Restored {manifest.backup_id} ({len(result.row_counts)} tables, {sum(result.row_counts.values())} rows, "
         f"counts match the manifest).")
    if after:
        _out(f"Erasure journal replayed: {after['rows_erased_again']} row(s) erased again; "
             f"{after['purged_tenants_removed']} purged tenant(s) removed ({after['purged_rows_removed']} rows).")
    return 0


def cmd_backup_restore_tenant(config: Config, args: argparse.Namespace) -> int:
    from bindery.backups.repository import BackupError
    from bindery.backups.site import restore_tenant_recorded

    site = _site(config)
    target = site.open_target()
    try:
        done = restore_tenant_recorded(site, target, args.ref, args.tenant, args.to_host, actor="cli", progress=_out)
    except BackupError as exc:
        raise _failed(str(exc)) from None
    finally:
        target.close()
    for note in done.notes:
        _out(f"note: {note}")
    _out(f"Restored tenant {done.tenant} from {done.backup_id} into {done.host} (epoch {done.epoch}): "
         f"{len(done.tables)} tables, {done.rows} rows verified; erasure journal replayed, "
         f"{done.rows_erased_again} row(s) erased again.")
    return 0


def cmd_backup_request_restore(config: Config, args: argparse.Namespace) -> int:
    from bindery.backups.actions import RestoreRequestError, do_request_tenant_restore

    try:
        request = do_request_tenant_restore(args.tenant, args.to_host, reason=args.reason, actor="cli",
                                            backup_ref=args.backup or "")
    except RestoreRequestError as exc:
        raise _failed(f"{exc.field}: {exc}") from None
    _out(f"Restore request {request.pk} queued: tenant {request.tenant_slug} from {request.backup_ref} into "
         f"{request.to_host}. The backup site carries it out on its next pass; `bindery backup requests` "
         "shows its progress.")
    return 0


def cmd_backup_requests(config: Config, args: argparse.Namespace) -> int:
    from bindery.backups.models import RestoreRequest

    rows = list(RestoreRequest.objects.all()[: args.limit])
    if not rows:
        _out("No restore requests.")
        return 0
    for r in rows:
        last = r.progress[-1] if r.progress else ""
        _out(f"{r.pk:>5}  {r.state:<9}  {r.tenant_slug} -> {r.to_host}  {r.backup_ref}  by {r.requested_by} "
             f"at {r.requested_at:%Y-%m-%d %H:%M}  {r.error or last}")
    return 0


def cmd_backup_drill(config: Config, args: argparse.Namespace) -> int:
    from bindery.backups.repository import BackupError
    from bindery.backups.site import run_drill

    site = _site(config)
    _yield_cpu(config)
    target = site.open_target()
    try:
        refs = [args.ref] if args.ref else [s.database for s in _sources(config, None)]
        bad = 0
        for ref in refs:
            try:
                result = run_drill(site, target, _source_for(config, ref), ref)
            except BackupError as exc:
                _out(f"{ref}: FAILED {exc}")
                bad += 1
                continue
            bad += not result.ok
            state = "ok" if result.ok else "FAILED " + "; ".join(result.problems[:3])
            _out(f"{result.backup_id}: drill {state} ({len(result.row_counts)} tables, "
                 f"{sum(result.row_counts.values())} rows, {result.seconds:.1f} s)")
    finally:
        target.close()
    if bad:
        raise _failed(f"{bad} drill(s) failed")
    return 0


def cmd_backup_prune(config: Config, args: argparse.Namespace) -> int:
    from bindery.backups.site import run_prune

    site = _site(config)
    target = site.open_target()
    try:
        for source in _sources(config, args.database):
            removed = run_prune(site, target, source.database, dry_run=args.dry_run)
            verb = "would remove" if args.dry_run else "removed"
            _out(f"{source.database}: {verb} {len(removed)} backup(s)" +
                 "".join(f"\n  {m.backup_id}" for m in removed))
    finally:
        target.close()
    return 0


def cmd_backup_site(config: Config, args: argparse.Namespace) -> int:
    import logging

    from bindery.backups.site import run_site_loop, site_tick

    site = _site(config)
    _yield_cpu(config)
    if args.once:
        done = site_tick(site)
        _out(f"Backup site: {len(done)} backup(s) run.")
        return 0
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    log = logging.getLogger("bindery.backups.site")
    times = ", ".join(f"{h or 'default'} {t:%H:%M}" for h, t in sorted(site.times.items()))
    _out(f"Bindery backup site: target {site.open_target().label}, daily at {times} UTC.")
    run_site_loop(site, stop, poll_seconds=args.poll,
                  on_error=lambda exc: log.exception("backup site tick failed", exc_info=exc))
    return 0


def cmd_backup_override_distance(config: Config, args: argparse.Namespace) -> int:
    from bindery.backups.actions import do_record_distance_override, do_revoke_distance_override

    if args.revoke:
        count = do_revoke_distance_override(args.database, actor="cli")
        _out(f"{args.database}: {count} override(s) revoked; the 500 km rule applies again.")
        return 0
    try:
        do_record_distance_override(args.database, reason=args.reason or "", actor="cli")
    except ValueError as exc:
        raise _failed(str(exc)) from None
    _out(f"{args.database}: override of the 500 km rule recorded (by cli, reason: {args.reason}).")
    return 0


def register(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("backup", cmd_backup_list, "Backups of every database: run, list, verify, restore, drill, prune.")
    ps = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = ps.add_parser("run", help="back up now (every database, or one) and verify each new backup")
    q.add_argument("--database", default=None, help="control or host-<name>")
    q.set_defaults(func=cmd_backup_run)
    q = ps.add_parser("list", help="committed backups (a backup without a manifest does not exist)")
    q.add_argument("--database", default=None)
    q.set_defaults(func=cmd_backup_list)
    q = ps.add_parser("verify", help="decrypt, check against the manifest and open a backup")
    q.add_argument("ref", help="a backup id, a database (its newest backup) or 'all'")
    q.set_defaults(func=cmd_backup_verify)
    q = ps.add_parser("restore", help="restore a whole database into a new SQLite file or an empty PostgreSQL db")
    q.add_argument("ref", help="a backup id or a database (its newest backup)")
    q.add_argument("--to", required=True, help="a new file path, or postgres://... of an empty database")
    q.set_defaults(func=cmd_backup_restore)
    q = ps.add_parser("restore-tenant", help="restore one tenant from a host backup into a host, verified, "
                      "then replay the erasure journal")
    q.add_argument("ref", help="a host backup id or host-<name> (its newest backup)")
    q.add_argument("--tenant", required=True, help="the tenant's slug")
    q.add_argument("--to-host", required=True, help="the host to restore it into (any host)")
    q.set_defaults(func=cmd_backup_restore_tenant)
    q = ps.add_parser("request-restore", help="queue a tenant restore for the backup site (from a host, without "
                      "the site key); the site runs it on its next pass")
    q.add_argument("tenant", help="the tenant's slug")
    q.add_argument("--to-host", required=True, help="the host to restore it into")
    q.add_argument("--backup", default="", help="a host backup id (default: the newest of the tenant's host)")
    q.add_argument("--reason", required=True, help="why (kept with the request)")
    q.set_defaults(func=cmd_backup_request_restore)
    q = ps.add_parser("requests", help="tenant restore requests with their state and progress")
    q.add_argument("--limit", type=int, default=20)
    q.set_defaults(func=cmd_backup_requests)
    q = ps.add_parser("override-distance", help="allow backing up a database from a site under 500 km away "
                      "(recorded: who, when, why), or --revoke")
    q.add_argument("database", help="host-<name>")
    q.add_argument("--reason", default="", help="why (required unless --revoke)")
    q.add_argument("--revoke", action="store_true")
    q.set_defaults(func=cmd_backup_override_distance)
    q = ps.add_parser("drill", help="restore into a scratch database and compare row counts with the manifest")
    q.add_argument("ref", nargs="?", default=None, help="a backup id or a database (default: every database)")
    q.set_defaults(func=cmd_backup_drill)
    q = ps.add_parser("prune", help="delete backups the retention policy (BINDERY_BACKUP_RETENTION) does not keep")
    q.add_argument("--database", default=None)
    q.add_argument("--dry-run", action="store_true")
    q.set_defaults(func=cmd_backup_prune)
    p = add("backup-site", cmd_backup_site, "Run the backup site: daily backups per host with catch-up, "
            "verify, weekly drills, retention and alerts.")
    p.add_argument("--once", action="store_true", help="run one pass and exit")
    p.add_argument("--poll", type=float, default=60.0, help="seconds between passes (default 60)")
