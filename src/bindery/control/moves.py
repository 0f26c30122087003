"""Tenant moves with zero loss, Ghostferry style: copy, catch up, fence, verify, switch, prune.

``do_move_tenant(tenant, target)`` runs these steps, saving a checkpoint in the
:class:`~bindery.control.models.TenantMove` row after each, so a move killed at any point
resumes when run again:

1. **start** — the target host gets the tenant's ``LocalTenant`` row; placement is ``moving``.
2. **copy** — every tenant-owned table (found by itself: every model on the tenant base, so
   models added later move without changes), in foreign-key order, in batches by id, one
   transaction per table, while the tenant keeps working on the source.
3. **catch up** — the tenant's schedules are paused and the move waits for its running jobs
   (a timeout leaves the move resumable). Between PostgreSQL hosts the rows the fence
   triggers journaled since the start are synced by id, round after round until few changed,
   then every table is pre-verified by buckets while the tenant still writes (see the journal
   section below). Otherwise rows changed since the copy started (``modified_at`` with a
   margin) are upserted and rows deleted on the source are deleted on the target.
4. **cutover** — the source fences the tenant (epoch + 1; on PostgreSQL the fence waits for
   running writers to commit and refuses every later write), the last changes are synced, and
   the move is **verified**: with the journal, the rows noted since the pre-verification and
   every table's row count; otherwise (or when counts differ, or after a restart) every table
   by row count and checksum. A table that differs is re-synced in full and verified again; a
   move that still differs fails and the source is unfenced (clean roll-back).
5. **switch** — the directory points to the target with the new epoch and the schedules resume
   there; the source keeps its fenced, read-only copy until ``bindery tenants prune-moved``.

The window in which the tenant cannot write is step 4 only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from functools import partial
from typing import Any

from django.apps import apps
from django.db import connections, models, transaction
from django.utils import timezone

from bindery.control.errors import ControlError, ControlErrorCode
from bindery.control.fencing import fence_tenant, unfence_tenant
from bindery.control.models import (
    Host,
    LocalTenant,
    MoveState,
    MoveStep,
    Placement,
    PlacementState,
    Tenant,
    TenantMove,
)
from bindery.control.routers import CONTROL
from bindery.control.tenancy import TenantOwnedModel

logger = logging.getLogger(__name__)

BATCH = 2_000
MARGIN = dt.timedelta(seconds=10)  # writers' clocks and in-flight transactions around the copy start
CATCH_UP_ROUNDS = 3
SMALL_ENOUGH = 500  # rows changed in a catch-up round below which the cutover starts

# Test hook: called with the step name after each checkpoint (the kill-and-resume test uses it).
after_step: Callable[[str], None] | None = None


def tenant_models() -> list[type[models.Model]]:
    """Every concrete tenant-owned model, ordered so a model comes after those it references."""
    found = [m for m in apps.get_models() if issubclass(m, TenantOwnedModel)
             and m._meta.managed and not m._meta.proxy]
    found.sort(key=lambda m: m._meta.db_table)
    names = {m._meta.label: m for m in found}

    def references(model: type[models.Model]) -> set[str]:
        out = set()
        for f in model._meta.concrete_fields:
            related = f.related_model
            if isinstance(related, type) and related is not model and related._meta.label in names:
                out.add(related._meta.label)
        return out

    deps = {m._meta.label: references(m) for m in found}
    ordered: list[type[models.Model]] = []
    done: set[str] = set()
    while len(ordered) < len(found):
        ready = [label for label in sorted(names) if label not in done and deps[label] <= done]
        if not ready:  # a cycle: deferred constraints let its tables go in any order
            ready = [label for label in sorted(names) if label not in done][:1]
        for label in ready:
            done.add(label)
            ordered.append(names[label])
    return ordered


def _columns(model: type[models.Model]) -> list[models.Field]:
    return list(model._meta.concrete_fields)


def _normal(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    return value


def _rows(alias: str, model: type[models.Model], tenant_id: Any, *, ids: list[Any] | None = None,
          since: dt.datetime | None = None) -> Iterable[list[tuple[Any, ...]]]:
    """Yield the tenant's rows of ``model`` in batches ordered by id, as tuples of column values."""
    attnames = [f.attname for f in _columns(model)]
    base = model._default_manager.db_manager(alias).unscoped().filter(tenant_id=tenant_id)  # type: ignore[attr-defined]
    if since is not None:
        base = base.filter(modified_at__gte=since)
    if ids is not None:
        for start in range(0, len(ids), BATCH):
            yield list(base.filter(pk__in=ids[start:start + BATCH]).order_by("pk").values_list(*attnames))
        return
    after = None
    while True:
        qs = base.order_by("pk")
        if after is not None:
            qs = qs.filter(pk__gt=after)
        batch = list(qs.values_list(*attnames)[:BATCH])
        if not batch:
            return
        yield batch
        after = batch[-1][0] if attnames[0] == "id" else batch[-1][attnames.index("id")]


def _upsert(alias: str, model: type[models.Model], batch: list[tuple[Any, ...]]) -> None:
    """Insert or overwrite rows as they are (no auto_now, no signals) on ``alias``."""
    if not batch:
        return
    conn = connections[alias]
    fields = _columns(model)
    quote = conn.ops.quote_name
    cols = ", ".join(quote(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    updates = ", ".join(f"{quote(f.column)} = EXCLUDED.{quote(f.column)}" for f in fields if not f.primary_key)
    sql = (f"INSERT INTO {quote(model._meta.db_table)} ({cols}) VALUES ({marks}) "  # noqa: S608  (names from the model registry, quoted)
           f"ON CONFLICT ({quote(model._meta.pk.column)}) DO UPDATE SET {updates}")
    prepared = [[f.get_db_prep_save(value, connection=conn) for f, value in zip(fields, row, strict=True)]
                for row in batch]
    with conn.cursor() as cursor:
        cursor.executemany(sql, prepared)


def _ids(alias: str, model: type[models.Model], tenant_id: Any) -> set[Any]:
    return set(model._default_manager.db_manager(alias).unscoped()  # type: ignore[attr-defined]
               .filter(tenant_id=tenant_id).values_list("pk", flat=True))


def _delete_ids(alias: str, model: type[models.Model], ids: Iterable[Any]) -> int:
    ids = list(ids)
    conn = connections[alias]
    quote = conn.ops.quote_name
    pk = model._meta.pk
    for start in range(0, len(ids), BATCH):
        chunk = [pk.get_db_prep_value(i, conn) for i in ids[start:start + BATCH]]
        with conn.cursor() as cursor:
            cursor.execute(f"DELETE FROM {quote(model._meta.db_table)} WHERE {quote(pk.column)} IN "  # noqa: S608  (names from the model registry)
                           f"({', '.join(['%s'] * len(chunk))})", chunk)
    return len(ids)


def _both_postgres(src: str, dst: str) -> bool:
    return connections[src].vendor == connections[dst].vendor == "postgresql"


def _copy_table(src: str, dst: str, model: type[models.Model], tenant_id: Any) -> int:
    """Copy the tenant's rows of one table in one target transaction; return how many.

    The target's rows of the tenant are deleted first, so a copy that ran but was not
    checkpointed (the mover died just after) is simply done again. Between two PostgreSQL
    hosts the rows stream with ``COPY``; otherwise in batches of upserts.
    """
    with transaction.atomic(using=dst):
        _delete_ids(dst, model, _ids(dst, model, tenant_id))
        if not _both_postgres(src, dst):
            copied = 0
            for batch in _rows(src, model, tenant_id):
                _upsert(dst, model, batch)
                copied += len(batch)
            return copied
        quote = connections[src].ops.quote_name
        cols = ", ".join(quote(f.column) for f in _columns(model))
        table = quote(model._meta.db_table)
        source_sql = f"COPY (SELECT {cols} FROM {table} WHERE tenant_id = %s) TO STDOUT"  # noqa: S608  (registry names)
        connections[src].ensure_connection()
        connections[dst].ensure_connection()
        # Row-level security refuses COPY FROM into the table itself: stage, then INSERT ... SELECT.
        stage = quote(f"move_stage_{model._meta.db_table}")
        with connections[dst].cursor() as cursor:
            cursor.execute(f"CREATE TEMP TABLE {stage} (LIKE {table}) ON COMMIT DROP")
        with connections[src].connection.cursor() as out_cursor, \
                connections[dst].connection.cursor() as in_cursor, \
                out_cursor.copy(source_sql, [tenant_id]) as out, \
                in_cursor.copy(f"COPY {stage} ({cols}) FROM STDIN") as into:
            for data in out:
                into.write(data)
        with connections[dst].cursor() as cursor:
            cursor.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage}")  # noqa: S608  (registry names)
        return len(_ids(dst, model, tenant_id))


def _sql_digest(alias: str, model: type[models.Model], tenant_id: Any) -> tuple[int, str]:
    """(count, md5 over every row's text in id order), computed by PostgreSQL itself."""
    conn = connections[alias]
    quote = conn.ops.quote_name
    cols = ", ".join(quote(f.column) for f in _columns(model))
    pk = quote(model._meta.pk.column)
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT count(*), coalesce(md5(string_agg(md5(ROW({cols})::text), '' ORDER BY {pk})), '') "  # noqa: S608
                       f"FROM {quote(model._meta.db_table)} WHERE tenant_id = %s", [tenant_id])
        count, digest = cursor.fetchone()
    return int(count), str(digest)


def table_digest(alias: str, model: type[models.Model], tenant_id: Any) -> tuple[int, str]:
    """Return (row count, SHA-256 over every row in id order) of the tenant's rows."""
    digest = hashlib.sha256()
    count = 0
    for batch in _rows(alias, model, tenant_id):
        for row in batch:
            digest.update(repr(tuple(_normal(v) for v in row)).encode())
            count += 1
    return count, digest.hexdigest()


def _sync_changes(src: str, dst: str, tenant_id: Any, since: dt.datetime | None, *,
                  only: list[type[models.Model]] | None = None, deletions: bool = True) -> int:
    """One catch-up round in one target transaction; return how many rows changed."""
    changed = 0
    ordered = [m for m in tenant_models() if only is None or m in only]
    with transaction.atomic(using=dst):
        for model in reversed(ordered) if deletions else ():  # deletions first, children before parents
            gone = _ids(dst, model, tenant_id) - _ids(src, model, tenant_id)
            changed += _delete_ids(dst, model, gone)
        for model in ordered:
            for batch in _rows(src, model, tenant_id, since=since):
                _upsert(dst, model, batch)
                changed += len(batch)
    return changed


def pause_schedules(alias: str, tenant_id: Any, *, paused: bool = True) -> None:
    """Pause (or resume) the tenant's schedules on one host.

    ``FOR UPDATE`` on the tenant row waits for workers claiming a run right now (their UPDATE's
    fence trigger holds the row until commit), so once this returns no new run of the tenant
    starts on that host and every run that did start is visible as running.
    """
    with transaction.atomic(using=alias):
        LocalTenant.objects.using(alias).select_for_update().filter(pk=tenant_id).first()
        LocalTenant.objects.using(alias).filter(pk=tenant_id).update(paused=paused)


def running_runs(alias: str, tenant_id: Any) -> int:
    from bindery.integration.models import Run, RunStatus

    return int(Run.objects.db_manager(alias).unscoped().filter(tenant_id=tenant_id, status=RunStatus.RUNNING).count())


def wait_for_jobs(alias: str, tenant_id: Any, *, timeout: float, poll: float = 0.5) -> None:
    """Wait until no run of the tenant is running on ``alias``; raise ``MOVE_WAITING`` after ``timeout`` s."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        running = running_runs(alias, tenant_id)
        if not running:
            return
        if time.monotonic() >= deadline:
            raise ControlError(ControlErrorCode.MOVE_WAITING,
                               f"{running} run(s) of the tenant are still running after {timeout:g} s; the move "
                               "stopped before the cutover and the tenant's schedules run again. Run the move "
                               "again to resume it (or cancel those runs first)")
        time.sleep(poll)


# --- the move journal (PostgreSQL hosts) ------------------------------------------------------
# While a move runs, the source's fence triggers record every written row of the tenant in
# ``control_movejournal``. Catch-up rounds take the entries out (DELETE ... RETURNING, in a
# source transaction that commits only after the target's, so a crash loses none) and sync
# exactly those rows. Entries of writers that commit later stay for the next round, so no
# write is missed whatever the commit order. Verification is then incremental: every table
# is compared bucket by bucket before the fence (rows that differ are noted), and under the
# fence only those rows and the rows the journal synced since are compared again, plus the
# row count of every table. Ghostferry's iterative verifier works the same way.

VERIFY_BUCKET_CHARS = 3  # 4,096 buckets per table by md5(id)
MAX_ROUNDS = 10


def set_journal(alias: str, tenant_id: Any, *, on: bool) -> None:
    """Start (or stop and clear) the tenant's move journal on a host.

    ``FOR UPDATE`` on the tenant row waits for writers in flight; every later write statement
    reads the flag after its own lock on the row, so none escapes the journal.
    """
    from bindery.control.models import MoveJournal

    with transaction.atomic(using=alias):
        LocalTenant.objects.using(alias).select_for_update().filter(pk=tenant_id).first()
        LocalTenant.objects.using(alias).filter(pk=tenant_id).update(journal=on)
        if not on:
            MoveJournal.objects.using(alias).filter(tenant_id=tenant_id).delete()


Touched = dict[str, set[Any]]


def _merge(into: Touched, more: Touched) -> None:
    for table, ids in more.items():
        into.setdefault(table, set()).update(ids)


def _sync_rows(src: str, dst: str, tenant_id: Any, touched: Touched) -> None:
    """Make the target's rows with these ids equal to the source's (upsert or delete), in one transaction."""
    ordered = [m for m in tenant_models() if touched.get(m._meta.db_table)]
    fetched: dict[str, list[tuple[Any, ...]]] = {}
    missing: dict[str, set[Any]] = {}
    for model in ordered:
        table = model._meta.db_table
        pk_at = [f.attname for f in _columns(model)].index(model._meta.pk.attname)
        rows = [row for batch in _rows(src, model, tenant_id, ids=list(touched[table])) for row in batch]
        fetched[table] = rows
        missing[table] = set(touched[table]) - {row[pk_at] for row in rows}
    with transaction.atomic(using=dst):
        for model in reversed(ordered):  # deletions first (a unique key may pass to a new row)
            _delete_ids(dst, model, missing[model._meta.db_table])
        for model in ordered:
            for start in range(0, len(fetched[model._meta.db_table]), BATCH):
                _upsert(dst, model, fetched[model._meta.db_table][start:start + BATCH])


def _drain_journal(src: str, dst: str, tenant_id: Any) -> Touched:
    """One catch-up round from the journal; return the rows it synced by table."""
    with transaction.atomic(using=src), connections[src].cursor() as cursor:
        cursor.execute("DELETE FROM control_movejournal WHERE tenant_id = %s RETURNING table_name, row_id",
                       [tenant_id])
        touched: Touched = {}
        for table, row_id in cursor.fetchall():
            touched.setdefault(table, set()).add(row_id)
        _sync_rows(src, dst, tenant_id, touched)  # the target commits first
    return touched


def _on_both(src: str, dst: str, work: Callable[[str], Any]) -> tuple[Any, Any]:
    """Run ``work(alias)`` on both hosts at once (the target side on its own thread and connection)."""
    from concurrent.futures import ThreadPoolExecutor

    def target_side() -> Any:
        try:
            return work(dst)
        finally:
            connections[dst].close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=1) as pool:
        target = pool.submit(target_side)
        return work(src), target.result()


def _bucket_digests(alias: str, model: type[models.Model], tenant_id: Any) -> dict[str, tuple[int, str]]:
    conn = connections[alias]
    quote = conn.ops.quote_name
    cols = ", ".join(quote(f.column) for f in _columns(model))
    pk = quote(model._meta.pk.column)
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT substr(md5({pk}::text), 1, {VERIFY_BUCKET_CHARS}) AS b, count(*), "  # noqa: S608  (registry names)
                       f"md5(string_agg(md5(ROW({cols})::text), '' ORDER BY {pk})) "
                       f"FROM {quote(model._meta.db_table)} WHERE tenant_id = %s GROUP BY b", [tenant_id])
        return {b: (int(n), str(d)) for b, n, d in cursor.fetchall()}


def _row_digests(alias: str, model: type[models.Model], tenant_id: Any, *,
                 buckets: list[str] | None = None, ids: list[Any] | None = None) -> dict[Any, str]:
    conn = connections[alias]
    quote = conn.ops.quote_name
    cols = ", ".join(quote(f.column) for f in _columns(model))
    pk = quote(model._meta.pk.column)
    if buckets is not None:
        where, arg = f"substr(md5({pk}::text), 1, {VERIFY_BUCKET_CHARS}) = ANY(%s)", buckets
    else:
        where, arg = f"{pk} = ANY(%s)", list(ids or [])
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT {pk}, md5(ROW({cols})::text) FROM {quote(model._meta.db_table)} "  # noqa: S608  (registry names)
                       f"WHERE tenant_id = %s AND {where}", [tenant_id, arg])
        return dict(cursor.fetchall())


def _differing(a: dict[Any, str], b: dict[Any, str]) -> set[Any]:
    return {key for key in a.keys() | b.keys() if a.get(key) != b.get(key)}


def _preverify(src: str, dst: str, tenant_id: Any) -> Touched:
    """Compare every table by buckets while the tenant still writes; return the rows that differ."""
    differing: Touched = {}
    for model in tenant_models():
        a, b = _on_both(src, dst, partial(_bucket_digests, model=model, tenant_id=tenant_id))
        buckets = sorted(key for key in a.keys() | b.keys() if a.get(key) != b.get(key))
        if buckets:
            ra, rb = _on_both(src, dst, partial(_row_digests, model=model, tenant_id=tenant_id, buckets=buckets))
            differing[model._meta.db_table] = _differing(ra, rb)
    return differing


def _counts(alias: str, tenant_id: Any) -> dict[str, int]:
    return {m._meta.db_table: m._default_manager.db_manager(alias).unscoped()  # type: ignore[attr-defined]
            .filter(tenant_id=tenant_id).count() for m in tenant_models()}


def _rows_and_counts(alias: str, tenant_id: Any, rows: Touched) -> tuple[dict[str, dict[Any, str]], dict[str, int]]:
    digests = {m._meta.db_table: _row_digests(alias, m, tenant_id, ids=list(rows[m._meta.db_table]))
               for m in tenant_models() if rows.get(m._meta.db_table)}
    return digests, _counts(alias, tenant_id)


def _verify_rows(src: str, dst: str, tenant_id: Any, rows: Touched) -> tuple[Touched, dict[str, int] | None]:
    """Compare the given rows and every table's count on both hosts (one connection each side).

    Return the differing rows, and the counts by table (None if they differ).
    """
    (a, count_a), (b, count_b) = _on_both(src, dst, partial(_rows_and_counts, tenant_id=tenant_id, rows=rows))
    out: Touched = {}
    for table in a:
        if differ := _differing(a[table], b[table]):
            out[table] = differ
    if count_a != count_b:
        logger.warning("tenant move: row counts differ under the fence", extra={
            "event": "tenant.move_counts_differ",
            "tables": {t: [count_a[t], count_b.get(t)] for t in count_a if count_a[t] != count_b.get(t)}})
        return out, None
    return out, count_a


def _vacuum(alias: str) -> None:
    """VACUUM (ANALYZE) the tenant tables, so the counts under the fence are index-only scans.

    Skipped inside a transaction (VACUUM cannot run there; tests wrap the default database).
    """
    conn = connections[alias]
    if conn.vendor != "postgresql" or conn.in_atomic_block:
        return
    with conn.cursor() as cursor:
        for model in tenant_models():
            cursor.execute(f"VACUUM (ANALYZE) {conn.ops.quote_name(model._meta.db_table)}")


def _verify_incremental(src: str, dst: str, tenant_id: Any, rows: Touched) -> dict[str, int] | None:
    """Under the fence: the rows noted since the pre-verification and every table's count.

    Return the counts by table, or None if the counts differ (something wrote past the journal:
    the caller verifies in full). Differing rows are synced once more and compared again.
    """
    differ, counts = _verify_rows(src, dst, tenant_id, rows)
    if differ:
        _sync_rows(src, dst, tenant_id, differ)
        differ, counts = _verify_rows(src, dst, tenant_id, rows)
        if differ:
            raise ControlError(ControlErrorCode.MOVE_FAILED, f"verification failed for {', '.join(sorted(differ))}")
    return counts


def _checkpoint(move: TenantMove, step: MoveStep, **fields: Any) -> None:
    move.step = step
    for name, value in fields.items():
        setattr(move, name, value)
    with transaction.atomic(using=CONTROL):
        move.save(update_fields=["step", "checkpoint", *fields])
    logger.info("tenant move step", extra={"event": "tenant.move_step", "tenant": move.tenant.slug,
                                           "step": str(step), "move": str(move.pk)})
    if after_step is not None:
        after_step(str(step))


def start_move(tenant: Tenant, target: Host, *, actor: Any) -> TenantMove:
    """Return the tenant's running move (to resume it) or a new one."""
    from bindery.control.hosts import check_host_eligible

    running = TenantMove.objects.select_related("tenant", "source", "target").filter(
        tenant=tenant, state=MoveState.RUNNING).first()
    if running is not None:
        if running.target_id != target.pk:
            raise ControlError(ControlErrorCode.MOVE_INVALID,
                               f"tenant {tenant.slug!r} is already moving to {running.target.name}; "
                               "run that move again to finish it")
        return running
    placement = Placement.objects.select_related("host").get(tenant=tenant)
    if placement.host_id == target.pk:
        raise ControlError(ControlErrorCode.MOVE_INVALID, f"tenant {tenant.slug!r} is already on {target.name}")
    check_host_eligible(target, tenant)
    with transaction.atomic(using=CONTROL):
        move = TenantMove.objects.create(tenant=tenant, source=placement.host, target=target,
                                         checkpoint={"epoch": placement.epoch})
        Placement.objects.filter(pk=placement.pk).update(state=PlacementState.MOVING)
    logger.info("tenant move started", extra={"event": "tenant.move_started", "tenant": tenant.slug,
                                              "target": target.name, "actor": str(actor)})
    return move


JOB_WAIT_SECONDS = 600.0


def do_move_tenant(tenant: Tenant, target: Host, *, actor: Any,
                   progress: Callable[[str], None] | None = None,
                   job_wait_seconds: float = JOB_WAIT_SECONDS) -> TenantMove:
    """Move (or resume moving) ``tenant`` to ``target``; see the module docstring."""
    from bindery.control import directory
    from bindery.control.hosts import host_alias

    move = start_move(tenant, target, actor=actor)
    src, dst = host_alias(move.source), host_alias(move.target)
    say = progress or (lambda _line: None)
    epoch = int(move.checkpoint.get("epoch", 1))
    journal = bool(move.checkpoint.get("journal"))
    # Rows to compare again under the fence; known only to the process that pre-verified
    # (a resumed move verifies every table in full instead).
    recheck: Touched | None = None
    pause: dict[str, Any] = {}
    try:
        if move.step == MoveStep.START:
            local = LocalTenant.objects.using(src).get(pk=tenant.pk)
            with transaction.atomic(using=dst):
                LocalTenant.objects.using(dst).update_or_create(
                    pk=tenant.pk, defaults={"slug": local.slug, "name": local.name, "epoch": epoch,
                                            "fenced": False, "paused": True, "max_products": local.max_products,
                                            "max_orders_30d": local.max_orders_30d})
            if _both_postgres(src, dst):
                set_journal(src, tenant.pk, on=True)  # before the copy: every later write is journaled
                move.checkpoint["journal"] = journal = True
            move.checkpoint["copy_started"] = timezone.now().isoformat()
            move.checkpoint["tables"] = {}
            move.rows_total = sum(m._default_manager.db_manager(src).unscoped()  # type: ignore[attr-defined]
                                  .filter(tenant_id=tenant.pk).count() for m in tenant_models())
            _checkpoint(move, MoveStep.COPY, rows_total=move.rows_total)
        if move.step == MoveStep.COPY:
            for model in tenant_models():
                table = model._meta.db_table
                if table in move.checkpoint["tables"]:
                    continue
                copied = _copy_table(src, dst, model, tenant.pk)
                move.checkpoint["tables"][table] = copied
                move.rows_copied += copied
                say(f"copied {table}: {copied} rows")
                _checkpoint(move, MoveStep.COPY, rows_copied=move.rows_copied)
            _checkpoint(move, MoveStep.CATCH_UP)
        if move.step == MoveStep.CATCH_UP:
            pause_schedules(src, tenant.pk)
            say("schedules paused; waiting for running jobs")
            try:
                wait_for_jobs(src, tenant.pk, timeout=job_wait_seconds)
            except ControlError:
                pause_schedules(src, tenant.pk, paused=False)
                raise
            if journal:
                for _round in range(MAX_ROUNDS):
                    changed = sum(len(ids) for ids in _drain_journal(src, dst, tenant.pk).values())
                    say(f"caught up {changed} changed rows")
                    if changed < SMALL_ENOUGH:
                        break
                _vacuum(src)
                _vacuum(dst)
                recheck = _preverify(src, dst, tenant.pk)
                say(f"pre-verified every table ({sum(len(v) for v in recheck.values())} rows differ, rechecked later)")
                _merge(recheck, _drain_journal(src, dst, tenant.pk))
                _checkpoint(move, MoveStep.CUTOVER)
        if move.step == MoveStep.CATCH_UP:
            since = dt.datetime.fromisoformat(move.checkpoint["copy_started"]) - MARGIN
            for _round in range(CATCH_UP_ROUNDS):
                started = timezone.now()
                changed = _sync_changes(src, dst, tenant.pk, since)
                say(f"caught up {changed} changed rows")
                since = started - MARGIN
                if changed < SMALL_ENOUGH:
                    break
            move.checkpoint["synced_since"] = since.isoformat()
            _checkpoint(move, MoveStep.CUTOVER)
        if move.step == MoveStep.CUTOVER:
            if move.fenced_at is None:
                move.fenced_at = timezone.now()
                _checkpoint(move, MoveStep.CUTOVER, fenced_at=move.fenced_at)
            clock = time.perf_counter()
            fence_tenant(src, tenant.pk, epoch=epoch + 1)
            pause["fence"] = round(time.perf_counter() - clock, 3)
            if journal:
                final = _drain_journal(src, dst, tenant.pk)
                if recheck is not None:
                    _merge(recheck, final)
            else:
                since = dt.datetime.fromisoformat(move.checkpoint.get("synced_since", move.checkpoint["copy_started"]))
                # Only changed rows here: deletions show up as a differing table in verify.
                _sync_changes(src, dst, tenant.pk, since - MARGIN, deletions=False)
            pause["final_sync"] = round(time.perf_counter() - clock - pause["fence"], 3)
            _checkpoint(move, MoveStep.VERIFY)
        clock = time.perf_counter()
        if move.step == MoveStep.VERIFY and journal and recheck is not None:
            pause["rows_rechecked"] = sum(len(ids) for ids in recheck.values())
            counts = _verify_incremental(src, dst, tenant.pk, recheck)
            if counts is not None:
                how = "buckets before the fence, changed rows and count under it"
                move.checkpoint["verified"] = {table: {"rows": n, "checked": how} for table, n in counts.items()}
                _checkpoint(move, MoveStep.SWITCH)
            else:
                say("row counts differ: verifying every table in full")
        if move.step == MoveStep.VERIFY:
            report = _verify(src, dst, tenant.pk)
            differing = [table for table, (a, b) in report.items() if a != b]
            if differing:
                say(f"re-syncing in full: {', '.join(differing)}")
                _sync_changes(src, dst, tenant.pk, None,
                              only=[m for m in tenant_models() if m._meta.db_table in differing])
                report = _verify(src, dst, tenant.pk)
                differing = [table for table, (a, b) in report.items() if a != b]
            if differing:
                raise ControlError(ControlErrorCode.MOVE_FAILED,
                                   f"verification failed for {', '.join(differing)}")
            move.checkpoint["verified"] = {table: {"rows": a[0], "sha256": a[1]} for table, (a, _b) in report.items()}
            pause["full_verify"] = True
            _checkpoint(move, MoveStep.SWITCH)
        if move.step == MoveStep.SWITCH:
            if "verify" not in pause:
                pause["verify"] = round(time.perf_counter() - clock, 3)
            move.checkpoint["pause"] = pause  # where the write pause went, in seconds
            if journal:
                set_journal(src, tenant.pk, on=False)
            with transaction.atomic(using=dst):
                LocalTenant.objects.using(dst).filter(pk=tenant.pk).update(epoch=epoch + 1, fenced=False,
                                                                            paused=False)
            with transaction.atomic(using=CONTROL):
                Placement.objects.filter(tenant=tenant).update(host=move.target, epoch=epoch + 1,
                                                               state=PlacementState.ACTIVE)
                move.state = MoveState.DONE
                move.finished_at = move.unfenced_at = timezone.now()
                move.step = MoveStep.DONE
                move.save(update_fields=["state", "finished_at", "unfenced_at", "step", "checkpoint"])
            directory.clear()
            logger.info("tenant moved", extra={"event": "tenant.moved", "tenant": tenant.slug,
                                               "source": move.source.name, "target": move.target.name,
                                               "actor": str(actor)})
    except ControlError as exc:
        if exc.code != ControlErrorCode.MOVE_WAITING:  # waiting for jobs leaves the move resumable
            _fail(move, src, epoch, str(exc))
        raise
    return move


def _verify(src: str, dst: str, tenant_id: Any, *, parallel: bool = True
            ) -> dict[str, tuple[tuple[int, str], tuple[int, str]]]:
    """Digest every table on both hosts; between PostgreSQL hosts both sides work at once.

    ``parallel=False`` digests the target on this thread's connection, so it sees rows that
    an open transaction on it has not committed yet (a tenant restore verifies before commit).
    """
    ordered = tenant_models()
    if _both_postgres(src, dst) and not parallel:
        return {m._meta.db_table: (_sql_digest(src, m, tenant_id), _sql_digest(dst, m, tenant_id)) for m in ordered}
    if not _both_postgres(src, dst):
        return {m._meta.db_table: (table_digest(src, m, tenant_id), table_digest(dst, m, tenant_id))
                for m in ordered}

    def target_side() -> list[tuple[int, str]]:
        try:
            return [_sql_digest(dst, m, tenant_id) for m in ordered]
        finally:
            connections[dst].close()  # this thread's own connection

    from concurrent.futures import ThreadPoolExecutor

    # The source side stays on this thread's connection (it may be inside a transaction).
    with ThreadPoolExecutor(max_workers=1) as pool:
        target = pool.submit(target_side)
        source = [_sql_digest(src, m, tenant_id) for m in ordered]
        pairs = zip(source, target.result(), strict=True)
    return {m._meta.db_table: pair for m, pair in zip(ordered, pairs, strict=True)}


def copy_tenant_rows(src: str, dst: str, tenant_id: Any,
                     progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Replace the tenant's rows on ``dst`` with exactly those on ``src``, then verify every table.

    The mover's copy and verify, in one transaction on ``dst`` (the caller may hold an outer
    one): every table is emptied of the tenant (children first), copied in foreign-key order
    and digested on both sides; a table that differs raises ``MOVE_FAILED`` and nothing stays.
    ``src`` is any database alias with the host tables: another host, or a scratch database
    a backup was restored into. Returns ``{table: {"rows": n, "sha256": digest}}``.
    """
    say = progress or (lambda _line: None)
    ordered = tenant_models()
    with transaction.atomic(using=dst):
        for model in reversed(ordered):
            _delete_ids(dst, model, _ids(dst, model, tenant_id))
        for model in ordered:
            copied = _copy_table(src, dst, model, tenant_id)
            say(f"copied {model._meta.db_table}: {copied} rows")
        report = _verify(src, dst, tenant_id, parallel=False)
        differing = [table for table, (a, b) in report.items() if a != b]
        if differing:
            raise ControlError(ControlErrorCode.MOVE_FAILED, f"verification failed for {', '.join(differing)}")
    return {table: {"rows": a[0], "sha256": a[1]} for table, (a, _b) in report.items()}


def _fail(move: TenantMove, src: str, epoch: int, error: str) -> None:
    """Roll back cleanly: the source serves the tenant again at its old epoch."""
    unfence_tenant(src, move.tenant_id, epoch=epoch)
    pause_schedules(src, move.tenant_id, paused=False)
    set_journal(src, move.tenant_id, on=False)
    with transaction.atomic(using=CONTROL):
        Placement.objects.filter(tenant_id=move.tenant_id).update(state=PlacementState.ACTIVE)
        TenantMove.objects.filter(pk=move.pk).update(state=MoveState.FAILED, error=error[:2000],
                                                     finished_at=timezone.now())


def do_prune_moved(*, actor: Any) -> list[TenantMove]:
    """Delete the old copies of every finished move from their source hosts."""
    from bindery.control.hosts import host_alias

    pruned = []
    for move in TenantMove.objects.select_related("tenant", "source").filter(state=MoveState.DONE,
                                                                            step=MoveStep.DONE):
        src = host_alias(move.source)
        with transaction.atomic(using=src):
            # Lock first: writers wait, then find no tenant and are refused by the fence.
            LocalTenant.objects.using(src).select_for_update().filter(pk=move.tenant_id).first()
            LocalTenant.objects.using(src).filter(pk=move.tenant_id).update(fenced=False)
            for model in reversed(tenant_models()):
                _delete_ids(src, model, _ids(src, model, move.tenant_id))
            LocalTenant.objects.using(src).filter(pk=move.tenant_id).delete()
        move.step = MoveStep.PRUNED
        with transaction.atomic(using=CONTROL):
            move.save(update_fields=["step"])
        pruned.append(move)
        logger.info("moved tenant pruned", extra={"event": "tenant.move_pruned", "tenant": move.tenant.slug,
                                                  "source": move.source.name, "actor": str(actor)})
    return pruned


def do_drain_host(host: Host, *, actor: Any, progress: Callable[[str], None] | None = None) -> list[TenantMove]:
    """Stop placing tenants on ``host`` and move every tenant it serves to the best other host."""
    from bindery.control.hosts import choose_host_excluding, do_set_host_state
    from bindery.control.models import HostState

    if host.state == HostState.ACTIVE:
        do_set_host_state(host, HostState.DRAINING, actor=actor)
    moves = []
    for placement in Placement.objects.select_related("tenant").filter(host=host).order_by("tenant__slug"):
        tenant = placement.tenant
        running = TenantMove.objects.filter(tenant=tenant, state=MoveState.RUNNING).select_related("target").first()
        target = running.target if running else choose_host_excluding(
            host, allowed_countries=tenant.allowed_countries, dedicated=tenant.dedicated)
        if progress:
            progress(f"moving {tenant.slug} to {target.name}")
        moves.append(do_move_tenant(tenant, target, actor=actor, progress=progress))
    return moves
