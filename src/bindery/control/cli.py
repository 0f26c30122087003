"""``bindery datacenters|hosts|tenants ...``: provision hosts and place tenants from the shell."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from bindery.config import Config


def _out(line: str = "") -> None:
    print(line, flush=True)


def _failed(message: str) -> Exception:
    from bindery.cli import CommandFailed

    return CommandFailed(message)


def _control_call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    from bindery.control.errors import ControlError

    try:
        return func(*args, **kwargs)
    except ControlError as exc:
        raise _failed(str(exc)) from None


def _decimal(value: str | None, what: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise _failed(f"{what} {value!r} is not a number") from None


def cmd_datacenters_add(config: Config, args: argparse.Namespace) -> int:
    from bindery.control.hosts import do_add_datacenter

    dc = _control_call(do_add_datacenter, args.name, args.country,
                       latitude=_decimal(args.latitude, "--latitude"),
                       longitude=_decimal(args.longitude, "--longitude"), actor="cli")
    _out(f"Datacenter {dc.name} ({dc.country}) added.")
    return 0


def cmd_datacenters_list(config: Config, args: argparse.Namespace) -> int:
    from django.db.models import Count

    from bindery.control.models import Datacenter

    rows = Datacenter.objects.annotate(n=Count("hosts")).order_by("name")
    _out(f"{'NAME':20} {'COUNTRY':8} {'LAT':>10} {'LON':>10} HOSTS")
    for dc in rows:
        lat = "" if dc.latitude is None else f"{dc.latitude}"
        lon = "" if dc.longitude is None else f"{dc.longitude}"
        _out(f"{dc.name:20} {dc.country:8} {lat:>10} {lon:>10} {dc.n}")
    return 0


def cmd_hosts_add(config: Config, args: argparse.Namespace) -> int:
    from bindery.control.hosts import access_datacenter, do_add_host

    dc = _control_call(access_datacenter, args.datacenter)
    host = _control_call(do_add_host, args.name, datacenter=dc, public_url=args.url,
                         database_url=args.database, capacity=args.capacity,
                         dedicated=args.dedicated, actor="cli")
    kind = "dedicated" if host.dedicated else "shared"
    _out(f"Host {host.name} ({kind}, capacity {host.capacity}) added in {dc.name}; database created and migrated.")
    return 0


def cmd_hosts_list(config: Config, args: argparse.Namespace) -> int:
    from bindery.control.load import measure_hosts, recommend_moves

    loads = measure_hosts()
    _out(f"{'HOST':16} {'DC':10} {'STATE':9} {'KIND':9} {'LOAD':>8} {'CAP':>6} {'USE':>5} {'RUNS/D':>8} "
         f"{'LAG':>7} TENANTS")
    for load in loads:
        host = load.host
        tenants = ", ".join(f"{t.slug}({t.products}p/{t.orders_30d}o/{t.runs_per_day:g}r)"
                            for t in load.tenants) or "-"
        use = f"{load.share:.0%}" if load.reachable else "down"
        lag = f"{load.queue_lag_seconds:.0f}s" + ("!" if load.lagging else "")
        _out(f"{host.name:16} {host.datacenter.name:10} {host.state:9} "
             f"{'dedicated' if host.dedicated else 'shared':9} {load.units:8.2f} {host.capacity:6} {use:>5} "
             f"{load.runs_per_day:8.2f} {lag:>7} {tenants}")
    for rec in recommend_moves(loads):
        _out(f"recommend: move {rec.tenant_slug} from {rec.source} to {rec.target} ({rec.units} units; {rec.reason})")
    return 0


def cmd_hosts_retire(config: Config, args: argparse.Namespace) -> int:
    from bindery.control.hosts import access_host, do_retire_host

    host = _control_call(access_host, args.name)
    _control_call(do_retire_host, host, actor="cli")
    _out(f"Host {host.name} retired.")
    return 0


def cmd_tenants_create(config: Config, args: argparse.Namespace) -> int:
    from bindery.control.actions import do_create_tenant
    from bindery.control.hosts import access_host, choose_host
    from bindery.control.models import Plan

    if args.plan not in Plan.values:
        raise _failed(f"--plan {args.plan!r} is not one of {', '.join(Plan.values)}")
    countries = sorted({c.strip().upper() for c in (args.country or []) if c.strip()})
    if args.host:
        host = _control_call(access_host, args.host)
    else:
        host = _control_call(choose_host, allowed_countries=countries, dedicated=args.dedicated)
    tenant = _control_call(do_create_tenant, args.slug, args.name or args.slug, plan=args.plan, host=host,
                           dedicated=args.dedicated, allowed_countries=countries, actor="cli")
    _out(f"Tenant {tenant.slug} created on host {host.name} ({host.public_url}).")
    return 0


def cmd_tenants_list(config: Config, args: argparse.Namespace) -> int:
    from bindery.control.models import Placement

    _out(f"{'TENANT':24} {'PLAN':13} {'HOST':16} {'EPOCH':>5} {'STATE':7} COUNTRIES")
    for p in Placement.objects.select_related("tenant", "host").order_by("tenant__slug"):
        countries = ",".join(p.tenant.allowed_countries) or "any"
        ded = " dedicated" if p.tenant.dedicated else ""
        _out(f"{p.tenant.slug:24} {p.tenant.plan:13} {p.host.name:16} {p.epoch:5} {p.state:7} {countries}{ded}")
    return 0


def cmd_tenants_move(config: Config, args: argparse.Namespace) -> int:
    from bindery.control.hosts import access_host
    from bindery.control.models import Tenant
    from bindery.control.moves import do_move_tenant

    tenant = Tenant.objects.filter(slug=args.slug).first()
    if tenant is None:
        raise _failed(f"no tenant {args.slug!r}")
    target = _control_call(access_host, args.to)
    move = _control_call(do_move_tenant, tenant, target, actor="cli", progress=_out,
                         job_wait_seconds=args.wait_jobs)
    window = (move.unfenced_at - move.fenced_at).total_seconds() if move.fenced_at and move.unfenced_at else 0
    _out(f"Tenant {tenant.slug} moved to {target.name}: {move.rows_copied} rows copied, every table verified; "
         f"writes paused {window:.2f} s. Prune the old copy with 'bindery tenants prune-moved'.")
    return 0


def cmd_tenants_prune(config: Config, args: argparse.Namespace) -> int:
    from bindery.control.moves import do_prune_moved

    pruned = _control_call(do_prune_moved, actor="cli")
    for move in pruned:
        _out(f"Pruned {move.tenant.slug} from {move.source.name}.")
    _out(f"{len(pruned)} old copies pruned.")
    return 0


def cmd_hosts_drain(config: Config, args: argparse.Namespace) -> int:
    from bindery.control.hosts import access_host
    from bindery.control.moves import do_drain_host

    host = _control_call(access_host, args.name)
    moved = _control_call(do_drain_host, host, actor="cli", progress=_out)
    _out(f"Host {host.name} drained: {len(moved)} tenants moved and verified.")
    return 0


def cmd_hosts_snapshot_access(config: Config, args: argparse.Namespace) -> int:
    from django.conf import settings

    from bindery.backups.actions import SnapshotAccessError, do_set_snapshot_access
    from bindery.control.hosts import access_host, ensure_local_host

    if args.name == settings.BINDERY_HOST_NAME:
        ensure_local_host()  # registered on first need
    host = _control_call(access_host, args.name)
    try:
        token = do_set_snapshot_access(host, cidrs=args.allow or [], new_token=args.new_token, off=args.off,
                                       actor="cli")
    except SnapshotAccessError as exc:
        raise _failed(str(exc)) from None
    if args.off:
        _out(f"Snapshot endpoint of {host.name} disabled.")
        return 0
    _out(f"Snapshot endpoint of {host.name}: {host.public_url.rstrip('/')}/_snapshot/ from "
         f"{', '.join(host.snapshot_allowed_cidrs)}.")
    if token:
        _out("Token (shown once; give it to the backup site as BINDERY_BACKUP_SNAPSHOT_TOKENS="
             f"{host.name}=TOKEN):")
        _out(token)
    return 0


def register(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("datacenters", cmd_datacenters_list, "Manage datacenters (sites hosts run in, with their country).")
    ps = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = ps.add_parser("add", help="add a datacenter")
    q.add_argument("name")
    q.add_argument("--country", required=True, help="ISO 3166-1 alpha-2 code, e.g. DE")
    q.add_argument("--latitude", default=None)
    q.add_argument("--longitude", default=None)
    q.set_defaults(func=cmd_datacenters_add)
    q = ps.add_parser("list", help="list datacenters")
    q.set_defaults(func=cmd_datacenters_list)

    p = add("hosts", cmd_hosts_list, "Manage delivery hosts: add (creates and migrates the database), list "
            "with measured load, drain, retire.")
    ps = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = ps.add_parser("add", help="create the host's database if missing, migrate it and register the host")
    q.add_argument("name")
    q.add_argument("--url", required=True, help="the host's public URL, e.g. https://eu1.bindery.example")
    q.add_argument("--database", required=True, help="sqlite:///path or postgres://user:pass@host:port/db "
                   "(stored encrypted)")
    q.add_argument("--datacenter", required=True)
    q.add_argument("--capacity", type=int, default=100, help="load units the host can carry (default 100)")
    q.add_argument("--dedicated", action="store_true", help="the host serves exactly one tenant")
    q.set_defaults(func=cmd_hosts_add)
    q = ps.add_parser("list", help="hosts with their tenants, load against capacity and move recommendations")
    q.set_defaults(func=cmd_hosts_list)
    q = ps.add_parser("drain", help="stop placing tenants on a host and move every tenant away")
    q.add_argument("name")
    q.set_defaults(func=cmd_hosts_drain)
    q = ps.add_parser("retire", help="retire an empty host (refused while tenants remain)")
    q.add_argument("name")
    q.set_defaults(func=cmd_hosts_retire)
    q = ps.add_parser("snapshot-access", help="let the backup site pull this SQLite host's snapshot over HTTPS: "
                      "source addresses allowed, and a token (made the first time or with --new-token)")
    q.add_argument("name")
    q.add_argument("--allow", action="append", metavar="CIDR", help="a source address or network (repeatable)")
    q.add_argument("--new-token", action="store_true", help="replace the token (the old one stops working)")
    q.add_argument("--off", action="store_true", help="disable the endpoint (forget token and addresses)")
    q.set_defaults(func=cmd_hosts_snapshot_access)

    p = add("tenants", cmd_tenants_list, "Manage tenants' placement: create on the least-loaded eligible host, "
            "move, prune moved copies, list.")
    ps = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = ps.add_parser("create", help="create a tenant on the least-loaded eligible host (or --host)")
    q.add_argument("slug")
    q.add_argument("--name", default="")
    q.add_argument("--plan", default="standard", help="demo, standard, professional or enterprise")
    q.add_argument("--host", default="", help="place on this host instead of choosing by load")
    q.add_argument("--dedicated", action="store_true", help="place alone on an empty dedicated host")
    q.add_argument("--country", action="append", metavar="CC",
                   help="allowed country for the tenant's data (repeatable; default anywhere)")
    q.set_defaults(func=cmd_tenants_create)
    q = ps.add_parser("move", help="move a tenant to another host (copy, catch up, fence, verify, switch); "
                      "run again to resume a move that stopped")
    q.add_argument("slug")
    q.add_argument("--to", required=True, metavar="HOST")
    q.add_argument("--wait-jobs", type=float, default=600.0, metavar="SECONDS",
                   help="how long to wait for the tenant's running jobs before the cutover (default 600)")
    q.set_defaults(func=cmd_tenants_move)
    q = ps.add_parser("prune-moved", help="delete the fenced old copies of finished moves")
    q.set_defaults(func=cmd_tenants_prune)
    q = ps.add_parser("list", help="tenants with their host, epoch and residency")
    q.set_defaults(func=cmd_tenants_list)
