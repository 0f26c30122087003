"""Restores that put data back into service: one tenant into any host, and a whole host.

**One tenant** (:func:`restore_tenant`): the host backup is decrypted and restored (checked
against its manifest) into a scratch database, which is added as a ``host:`` alias and
migrated to this version; the tenant mover's copy and verify
(:func:`bindery.control.moves.copy_tenant_rows`) then replaces the tenant's rows on the target
host with exactly those of the backup, in one transaction, verified table by table (count and
checksum). The tenant's current host, when another one, is fenced first at the new epoch; the
directory flips to the target with that epoch; then the erasure journal is replayed on the
target, so a person erased after the backup was taken is erased again.

**Whole host** (:func:`after_host_restore`): after ``bindery backup restore`` wrote a host
database, the journal is replayed for every tenant in it and purged tenants' rows are removed.

A tenant that was purged is recorded in the backup catalog's index
(:class:`~bindery.backups.models.PurgedTenant`): restoring it is refused.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from bindery.backups.repository import BackupError, Manifest, _with_database, restore_backup
from bindery.backups.targets import Target
from bindery.security.envelope import Keyring

logger = logging.getLogger(__name__)


@dataclass
class TenantRestore:
    backup_id: str
    tenant: str
    host: str
    epoch: int
    tables: dict[str, Any] = field(default_factory=dict)
    rows_erased_again: int = 0
    previous_host: str = ""
    previous_fenced: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(int(t["rows"]) for t in self.tables.values())


def _drop_alias(alias: str) -> None:
    if alias in connections.settings:
        connections[alias].close()
        del connections.settings[alias]
        with contextlib.suppress(AttributeError):
            delattr(connections._connections, alias)  # type: ignore[attr-defined]  # Django's thread-local holder


@contextlib.contextmanager
def _pg_admin(url: str) -> Iterator[Any]:
    import psycopg

    with psycopg.connect(_with_database(url, "postgres"), autocommit=True, connect_timeout=30) as conn:
        yield conn


@contextlib.contextmanager
def scratch_database(target: Target, ring: Keyring, manifest: Manifest, *, work_dir: Path,
                     server_url: str | None) -> Iterator[str]:
    """Restore ``manifest`` into a throw-away database; yield its Django alias; drop it afterwards.

    SQLite: a file in the site's scratch folder. PostgreSQL: a database created on
    ``server_url``'s server (its role needs CREATEDB). The restore is checked against the
    manifest (sizes, SHA-256, per-table counts) before anything reads it.
    """
    from bindery.control.databases import migrate_alias, register_alias
    from bindery.control.routers import HOST_ALIAS_PREFIX

    alias = f"{HOST_ALIAS_PREFIX}restore-{secrets.token_hex(4)}"
    scratch_root = work_dir / "scratch"
    scratch_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.ExitStack() as stack:
        if manifest.engine == "sqlite":
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=scratch_root)))
            url = f"sqlite:///{folder / 'scratch.sqlite3'}"
            result = restore_backup(target, ring, manifest, str(folder / "scratch.sqlite3"), work_dir=work_dir)
        else:
            if not server_url or not server_url.startswith(("postgres://", "postgresql://")):
                raise BackupError("a PostgreSQL backup needs a PostgreSQL server to restore into "
                                  "(BINDERY_BACKUP_DRILL_DATABASE_URL or a PostgreSQL target host)")
            name = "bindery_restore_" + secrets.token_hex(6)
            with _pg_admin(server_url) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')

            def drop() -> None:
                with _pg_admin(server_url) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

            stack.callback(drop)
            url = _with_database(server_url, name)
            result = restore_backup(target, ring, manifest, url, work_dir=work_dir)
        if not result.ok:
            raise BackupError("the backup does not restore cleanly: " + "; ".join(result.problems[:5]))
        register_alias(alias, url)
        stack.callback(_drop_alias, alias)
        migrate_alias(alias)  # a backup from an older version gains this version's tables and columns
        yield alias


def _is_purged(tenant_id: Any) -> Any:
    from bindery.backups.models import PurgedTenant

    return PurgedTenant.objects.filter(tenant_id=tenant_id).first()


def restore_tenant(target: Target, ring: Keyring, manifest: Manifest, slug: str, to_host: Any, *,
                   work_dir: Path, server_url: str | None, actor: Any,
                   progress: Callable[[str], None] | None = None) -> TenantRestore:
    """Restore one tenant from a host backup into ``to_host``; see the module docstring."""
    from bindery.backups.models import PurgedTenant
    from bindery.control import directory
    from bindery.control.databases import alias_for_host
    from bindery.control.errors import ControlError
    from bindery.control.fencing import fence_tenant, unfence_tenant
    from bindery.control.hosts import check_host_eligible
    from bindery.control.models import LocalTenant, MoveState, MoveStep, Placement, PlacementState, Tenant, TenantMove
    from bindery.control.moves import copy_tenant_rows
    from bindery.control.routers import CONTROL
    from bindery.privacy.subjects import replay_erasures

    say = progress or (lambda _line: None)
    if not manifest.database.startswith("host-"):
        raise BackupError(f"{manifest.backup_id} is not a host backup; a tenant restores from host-<name>")
    purged = PurgedTenant.objects.filter(slug=slug).order_by("-purged_at").first()
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        if purged is not None:
            raise BackupError(f"tenant {slug!r} was purged on {purged.purged_at:%Y-%m-%d}; "
                              "its backups must not be restored")
        raise BackupError(f"no tenant {slug!r} in the directory")
    if _is_purged(tenant.pk):
        raise BackupError(f"tenant {slug!r} was purged; its backups must not be restored")
    if TenantMove.objects.filter(tenant=tenant, state=MoveState.RUNNING).exists():
        raise BackupError(f"tenant {slug!r} is moving; finish the move first")
    placement = Placement.objects.select_related("host").get(tenant=tenant)
    try:
        if placement.host_id != to_host.pk:
            check_host_eligible(to_host, tenant)
    except ControlError as exc:
        raise BackupError(str(exc)) from None
    with scratch_database(target, ring, manifest, work_dir=work_dir, server_url=server_url) as scratch:
        saved = LocalTenant.objects.using(scratch).filter(pk=tenant.pk).first()
        if saved is None:
            raise BackupError(f"tenant {slug!r} is not in {manifest.backup_id}")
        say(f"restored {manifest.backup_id} into a scratch database")
        epoch = placement.epoch + 1
        result = TenantRestore(manifest.backup_id, slug, to_host.name, epoch, previous_host=placement.host.name)
        dst = alias_for_host(to_host)
        old = alias_for_host(placement.host) if placement.host_id != to_host.pk else None
        if old is not None:
            try:  # the copy it holds now stops taking writes; an unreachable (lost) host cannot be fenced
                fence_tenant(old, tenant.pk, epoch=epoch)
                result.previous_fenced = True
            except (DatabaseError, LocalTenant.DoesNotExist) as exc:
                result.notes.append(f"host {placement.host.name} not fenced: {type(exc).__name__}")
        try:
            with transaction.atomic(using=dst):
                # Writers of the tenant on the target wait here (FOR KEY SHARE against FOR UPDATE).
                LocalTenant.objects.using(dst).select_for_update().filter(pk=tenant.pk).first()
                keep = {f.attname: getattr(saved, f.attname) for f in LocalTenant._meta.concrete_fields
                        if f.attname not in {"id", "epoch", "fenced", "created_at"}}
                LocalTenant.objects.using(dst).update_or_create(pk=tenant.pk, defaults={
                    **keep, "epoch": epoch, "fenced": False})
                result.tables = copy_tenant_rows(scratch, dst, tenant.pk, progress=say)
        except (ControlError, DatabaseError) as exc:
            if result.previous_fenced and old is not None:
                unfence_tenant(old, tenant.pk, epoch=placement.epoch)
            raise BackupError(f"restoring {slug!r} into {to_host.name} failed: {exc}") from None
    with transaction.atomic(using=CONTROL):
        Placement.objects.filter(tenant=tenant).update(host=to_host, epoch=epoch, state=PlacementState.ACTIVE)
        if result.previous_fenced:  # a finished move to the mover: `tenants prune-moved` clears the old copy
            now = timezone.now()
            TenantMove.objects.create(tenant=tenant, source=placement.host, target=to_host, state=MoveState.DONE,
                                      step=MoveStep.DONE, started_at=now, finished_at=now, fenced_at=now,
                                      unfenced_at=now, rows_total=result.rows, rows_copied=result.rows,
                                      checkpoint={"epoch": placement.epoch, "restored_from": manifest.backup_id})
    directory.clear()
    say(f"verified {len(result.tables)} tables, {result.rows} rows; directory points to {to_host.name} "
        f"at epoch {epoch}")
    result.rows_erased_again = replay_erasures(LocalTenant.objects.using(dst).get(pk=tenant.pk), using=dst)
    logger.info("tenant restored from backup", extra={
        "event": "backup.tenant_restored", "tenant": slug, "host": to_host.name, "backup_id": manifest.backup_id,
        "rows": result.rows, "rows_erased_again": result.rows_erased_again, "actor": str(actor)})
    return result


def after_host_restore(location: str, engine: str) -> dict[str, int]:
    """Replay the erasure journal on a restored host database and delete purged tenants' rows.

    ``location`` is the restored SQLite file or PostgreSQL URL. Returns counts for the record:
    ``rows_erased_again``, ``purged_tenants_removed``, ``purged_rows_removed``.
    """
    from bindery.backups.models import PurgedTenant
    from bindery.control.databases import register_alias
    from bindery.control.models import LocalTenant
    from bindery.control.moves import _delete_ids, _ids, tenant_models
    from bindery.control.routers import HOST_ALIAS_PREFIX
    from bindery.privacy.subjects import replay_erasures

    alias = register_alias(f"{HOST_ALIAS_PREFIX}restored-{secrets.token_hex(4)}",
                           f"sqlite:///{location}" if engine == "sqlite" else location)
    out = {"rows_erased_again": 0, "purged_tenants_removed": 0, "purged_rows_removed": 0}
    try:
        tenants = list(LocalTenant.objects.using(alias).order_by("slug"))
        purged = set(PurgedTenant.objects.filter(tenant_id__in=[t.pk for t in tenants])
                     .values_list("tenant_id", flat=True))
        for local in tenants:
            if local.pk in purged:
                with transaction.atomic(using=alias):
                    # Unfenced while it goes: the fence triggers refuse deletes of a fenced tenant.
                    LocalTenant.objects.using(alias).filter(pk=local.pk).update(fenced=False)
                    for model in reversed(tenant_models()):
                        out["purged_rows_removed"] += _delete_ids(alias, model, _ids(alias, model, local.pk))
                    LocalTenant.objects.using(alias).filter(pk=local.pk).delete()
                out["purged_tenants_removed"] += 1
            else:
                out["rows_erased_again"] += replay_erasures(local, using=alias)
    finally:
        _drop_alias(alias)
    return out
