"""``bindery nodes|connectors|procedures|runs|keys``: the integration engine from the shell.

Commands parse arguments, resolve the tenant, call actions and print counts; errors end with
one line (CommandFailed). Credentials are read from a file or stdin, never from arguments
(which other users can see in the process list and which shells keep in history).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from bindery.config import Config

AddCommand = Callable[..., argparse.ArgumentParser]


def _failed(message: str) -> Exception:
    from bindery.cli import CommandFailed

    return CommandFailed(message)


def _out(line: str = "") -> None:
    print(line, flush=True)


def _tenant(slug: str) -> Any:
    from bindery.control.models import LocalTenant

    tenant = LocalTenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise _failed(f"no tenant '{slug}' on this host")
    return tenant


def _json_arg(value: str | None, what: str) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise _failed(f"{what} is not valid JSON (column {exc.colno})") from None


Handler = Callable[[Config, argparse.Namespace], int]


def _integration_errors(func: Handler) -> Handler:
    def wrapper(config: Config, args: argparse.Namespace) -> int:
        from bindery.integration.errors import IntegrationError

        try:
            return func(config, args)
        except IntegrationError as exc:
            detail = "; ".join(f"{e.field}: {e.message}" for e in exc.errors[1:])
            raise _failed(exc.message + (f" (also {detail})" if detail else "")) from None

    return wrapper


# --- keys -----------------------------------------------------------------------------------------


@_integration_errors
def cmd_keys_rotate(config: Config, args: argparse.Namespace) -> int:
    from bindery.integration.actions import do_rotate_master_key
    from bindery.security import envelope

    if args.generate:
        if config.master_key:
            raise _failed("--generate adds a key to the key file, but BINDERY_MASTER_KEY is set: put a new key "
                          "first in that variable (keeping the old one after it) and run 'bindery keys rotate'")
        key = envelope.add_key_to_file()
        _out(f"New master key {key.key_id_hex} added to {envelope.key_file_path()} (older keys kept as fallbacks).")
    envelope.reset_keyring()
    rewrapped, unchanged = do_rotate_master_key(actor="cli")
    current = envelope.keyring().current.key_id_hex
    _out(f"Master key {current}: {rewrapped} data keys re-wrapped, {unchanged} already current.")
    return 0


# --- nodes ----------------------------------------------------------------------------------------


def _read_credentials(path: str | None) -> Any:
    if path is None:
        return None
    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()  # noqa: SIM115
    except (OSError, UnicodeDecodeError) as exc:
        raise _failed(f"cannot read the credentials file: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise _failed("the credentials file is not a JSON object") from None


@_integration_errors
def cmd_nodes_list(config: Config, args: argparse.Namespace) -> int:
    from bindery.integration.actions import masked_credentials
    from bindery.integration.models import Node

    tenant = _tenant(args.tenant)
    nodes = list(Node.objects.for_tenant(tenant).order_by("name"))
    if not nodes:
        _out(f"Tenant '{tenant.slug}' has no nodes.")
        return 0
    _out(f"{'NAME':24} {'TECHNOLOGY':14} {'ENABLED':7} {'CREDENTIALS':30} ID")
    for node in nodes:
        creds = ",".join(f"{k}={v}" for k, v in masked_credentials(node).items()) or "-"
        enabled = "yes" if node.enabled else "no"
        _out(f"{node.name[:24]:24} {node.technology[:14]:14} {enabled:7} {creds[:30]:30} {node.pk}")
    return 0


@_integration_errors
def cmd_nodes_create(config: Config, args: argparse.Namespace) -> int:
    from bindery.integration.actions import do_create_node

    tenant = _tenant(args.tenant)
    node = do_create_node(tenant, args.name, args.technology, settings=_json_arg(args.settings, "--settings"),
                          credentials=_read_credentials(args.credentials_file), actor="cli")
    _out(f"Node {node.name} ({node.technology}) created: {node.pk}")
    return 0


@_integration_errors
def cmd_nodes_webhook_secret(config: Config, args: argparse.Namespace) -> int:
    from django.conf import settings

    from bindery.integration.access import access_node_by_ref
    from bindery.integration.webhooks import do_set_webhook_secret

    tenant = _tenant(args.tenant)
    node = access_node_by_ref(tenant, args.node)
    given = None
    path = args.secret_file
    if path:
        with (sys.stdin if path == "-" else open(path, encoding="utf-8")) as source:
            given = source.read(1000).strip()
    secret = do_set_webhook_secret(node, scheme=args.scheme, secret=given, actor="cli")
    _out(f"Webhook inbox of {node.name} ({args.scheme}): {settings.BINDERY_PUBLIC_URL.rstrip('/')}"
         f"/api/webhooks/{node.pk}")
    if not given:
        _out(f"Secret (shown only now; give it to the sender): {secret}")
    return 0


# --- connectors -----------------------------------------------------------------------------------


@_integration_errors
def cmd_connectors_url(config: Config, args: argparse.Namespace) -> int:
    from bindery.integration.access import access_connector_by_ref
    from bindery.integration.calls import call_url
    from bindery.integration.models import Node

    tenant = _tenant(args.tenant)
    connector = access_connector_by_ref(tenant, args.connector)
    url = call_url(connector, Node.objects.for_tenant(tenant).get(pk=connector.node_id).technology)
    if url is None:
        raise _failed(f"connector {connector.name} is run by Bindery; it has no URL to call")
    _out(url)
    return 0


@_integration_errors
def cmd_connectors_list(config: Config, args: argparse.Namespace) -> int:
    from bindery.integration.models import Connector

    tenant = _tenant(args.tenant)
    connectors = list(Connector.objects.for_tenant(tenant).select_related("node").order_by("name"))
    if not connectors:
        _out(f"Tenant '{tenant.slug}' has no connectors.")
        return 0
    _out(f"{'NAME':24} {'NODE':16} {'TYPE':16} {'MODE':20} ID")
    for c in connectors:
        mode = ",".join(m for m, on in (("differential", c.differential), ("simulate", c.simulate)) if on) or "full"
        _out(f"{c.name[:24]:24} {c.node.name[:16]:16} {c.connector_type[:16]:16} {mode:20} {c.pk}")
    return 0


@_integration_errors
def cmd_connectors_create(config: Config, args: argparse.Namespace) -> int:
    from bindery.integration.access import access_node_by_ref
    from bindery.integration.actions import do_create_connector

    tenant = _tenant(args.tenant)
    node = access_node_by_ref(tenant, args.node)
    connector = do_create_connector(tenant, args.name, node, args.type, config=_json_arg(args.config, "--config"),
                                    simulate=args.simulate, differential=args.differential,
                                    product_filter=_json_arg(args.product_filter, "--product-filter"), actor="cli")
    _out(f"Connector {connector.name} ({connector.connector_type} on {node.name}) created: {connector.pk}")
    return 0


def _show_run_started(run: Any, wait: bool) -> int:
    from bindery.integration.models import RunStatus
    from bindery.integration.runner import execute_run

    _out(f"Run {run.pk} queued.")
    if not wait:
        return 0
    finished = execute_run(run.pk) or run
    finished.refresh_from_db()
    _out(f"Run {finished.pk} {finished.status}: read {finished.read_count}, created {finished.created_count}, "
         f"updated {finished.updated_count}, skipped {finished.skipped_count}, failed {finished.failed_count}.")
    if finished.error:
        _out(f"Error: {finished.error}")
    return 0 if finished.status == RunStatus.SUCCEEDED else 1


@_integration_errors
def cmd_connectors_run(config: Config, args: argparse.Namespace) -> int:
    from bindery.integration.access import access_connector_by_ref
    from bindery.integration.actions import do_enqueue_run

    connector = access_connector_by_ref(_tenant(args.tenant), args.connector)
    return _show_run_started(do_enqueue_run(connector=connector, actor="cli"), args.wait)


# --- procedures -----------------------------------------------------------------------------------


@_integration_errors
def cmd_procedures_list(config: Config, args: argparse.Namespace) -> int:
    from bindery.integration.models import Procedure, ProcedureStep

    tenant = _tenant(args.tenant)
    procedures = list(Procedure.objects.for_tenant(tenant).order_by("name"))
    names: dict[Any, list[str]] = {}
    for step in ProcedureStep.objects.for_tenant(tenant).select_related("connector").order_by("position"):
        names.setdefault(step.procedure_id, []).append(step.connector.name)
    if not procedures:
        _out(f"Tenant '{tenant.slug}' has no procedures.")
        return 0
    _out(f"{'NAME':24} {'EVERY':8} {'ENABLED':7} {'NEXT RUN':17} {'STEPS':40} ID")
    for p in procedures:
        steps = " > ".join(names.get(p.pk, [])) or "-"
        nxt = f"{p.next_run_at:%Y-%m-%d %H:%M}" if p.next_run_at else "-"
        _out(f"{p.name[:24]:24} {str(p.interval_minutes) + 'm':8} {'yes' if p.enabled else 'no':7} {nxt:17} "
             f"{steps[:40]:40} {p.pk}")
    return 0


@_integration_errors
def cmd_procedures_create(config: Config, args: argparse.Namespace) -> int:
    from bindery.integration.access import access_connector_by_ref
    from bindery.integration.actions import do_create_procedure

    tenant = _tenant(args.tenant)
    connectors = [access_connector_by_ref(tenant, ref.strip()) for ref in args.connectors.split(",") if ref.strip()]
    emails = [e.strip() for e in (args.alert_emails or "").split(",") if e.strip()]
    procedure = do_create_procedure(tenant, args.name, connectors, interval_minutes=args.every,
                                    windows=_json_arg(args.windows, "--windows"), alert_emails=emails,
                                    delay_alert_minutes=args.delay_alert_minutes, actor="cli")
    _out(f"Procedure {procedure.name} created ({len(connectors)} steps, every {procedure.interval_minutes} min): "
         f"{procedure.pk}")
    return 0


@_integration_errors
def cmd_procedures_run(config: Config, args: argparse.Namespace) -> int:
    from bindery.integration.access import access_procedure_by_ref
    from bindery.integration.actions import do_enqueue_run

    procedure = access_procedure_by_ref(_tenant(args.tenant), args.procedure)
    return _show_run_started(do_enqueue_run(procedure=procedure, actor="cli"), args.wait)


# --- runs -----------------------------------------------------------------------------------------


@_integration_errors
def cmd_runs_list(config: Config, args: argparse.Namespace) -> int:
    from bindery.integration.models import Run

    tenant = _tenant(args.tenant)
    runs = list(Run.objects.for_tenant(tenant).filter(parent__isnull=True)
                .select_related("connector", "procedure").order_by("-queued_at")[: args.limit])
    if not runs:
        _out(f"Tenant '{tenant.slug}' has no runs.")
        return 0
    _out(f"{'QUEUED':17} {'STATUS':9} {'TARGET':24} {'PROGRESS':10} {'R/C/U/S/F':20} ID")
    for r in runs:
        progress = f"{r.progress_done}/{r.progress_total}" if r.progress_total is not None else str(r.progress_done)
        counts = f"{r.read_count}/{r.created_count}/{r.updated_count}/{r.skipped_count}/{r.failed_count}"
        _out(f"{r.queued_at:%Y-%m-%d %H:%M} {r.status:9} {r.target_name[:24]:24} {progress:10} {counts:20} {r.pk}")
    return 0


@_integration_errors
def cmd_runs_show(config: Config, args: argparse.Namespace) -> int:
    from bindery.integration.access import access_run_by_id
    from bindery.integration.models import Run, RunItemFailure, RunLogLine

    tenant = _tenant(args.tenant)
    run = access_run_by_id(tenant, args.run, for_write=False)
    _out(f"Run {run.pk}: {run.target_name}, {run.status}, attempt {run.attempt}/{run.max_attempts}")
    _out(f"read {run.read_count}, created {run.created_count}, updated {run.updated_count}, "
         f"skipped {run.skipped_count}, failed {run.failed_count}; progress {run.progress_done}/"
         f"{run.progress_total if run.progress_total is not None else '?'}")
    if run.error:
        _out(f"error: {run.error}")
    children = Run.objects.for_tenant(tenant).filter(parent=run)
    for line in RunLogLine.objects.for_tenant(tenant).filter(run__in=[run, *children]).order_by("id"):
        _out(f"{line.at:%H:%M:%S} {line.level:7} {line.message}")
    for failure in RunItemFailure.objects.for_tenant(tenant).filter(run=run).order_by("id")[:100]:
        _out(f"item {failure.item}: {failure.code} {failure.field} {failure.message}")
    return 0


@_integration_errors
def cmd_runs_cancel(config: Config, args: argparse.Namespace) -> int:
    from bindery.integration.access import access_run_by_id
    from bindery.integration.actions import do_cancel_run

    run = do_cancel_run(access_run_by_id(_tenant(args.tenant), args.run, for_write=False), actor="cli")
    _out(f"Run {run.pk}: {'cancelled' if run.status == 'cancelled' else 'cancellation requested'}.")
    return 0


@_integration_errors
def cmd_runs_execute(config: Config, args: argparse.Namespace) -> int:
    """Execute one queued run in this process (what a worker does), e.g. to debug it."""
    from bindery.integration.runner import execute_run

    run = execute_run(args.run)
    if run is None:
        raise _failed(f"run {args.run} is not queued (already claimed, finished or unknown)")
    _out(f"Run {run.pk} {run.status}.")
    return 0


def cmd_runs_tick(config: Config, args: argparse.Namespace) -> int:
    """One scheduler pass now (what the periodic job does every minute)."""
    from bindery.integration.runner import WORKER_ID
    from bindery.integration.scheduler import release_lease, tick

    try:
        result = tick(holder=WORKER_ID)
    finally:
        release_lease(WORKER_ID)  # a one-shot pass must not keep the periodic leader waiting
    if not result.leader:
        _out("Another scheduler holds the lease on this host; nothing done.")
        return 0
    _out(f"Enqueued {len(result.enqueued)} procedures, skipped {len(result.skipped)}, retried "
         f"{len(result.retried)} lost runs, failed {len(result.failed)}.")
    return 0


def cmd_runs_prune(config: Config, args: argparse.Namespace) -> int:
    """Delete finished runs older than the retention (what the scheduler does hourly)."""
    import datetime as dt

    from django.utils import timezone

    from bindery.integration.scheduler import prune_runs

    days = args.older_than_days or config.run_retention_days
    if not 1 <= days <= 3650:
        raise _failed("--older-than-days must be between 1 and 3650")
    deleted = prune_runs(now=timezone.now(), keep=dt.timedelta(days=days), max_batches=1_000_000)
    _out(f"Deleted {deleted} finished runs older than {days} days.")
    return 0


@_integration_errors
def cmd_delete(config: Config, args: argparse.Namespace) -> int:
    """Delete a node, connector or procedure (``args.kind``) by name or id; refused while in use."""
    from bindery.integration import access, actions

    tenant = _tenant(args.tenant)
    if args.kind == "node":
        node = access.access_node_by_ref(tenant, args.ref)
        actions.do_delete_node(node, actor="cli")
        name = node.name
    elif args.kind == "connector":
        connector = access.access_connector_by_ref(tenant, args.ref)
        actions.do_delete_connector(connector, actor="cli")
        name = connector.name
    else:
        procedure = access.access_procedure_by_ref(tenant, args.ref)
        actions.do_delete_procedure(procedure, actor="cli")
        name = procedure.name
    _out(f"{args.kind.capitalize()} {name} deleted.")
    return 0


def _add_delete(group: Any, kind: str, help_text: str) -> None:
    d = group.add_parser("delete", help=help_text)
    d.set_defaults(func=cmd_delete, kind=kind)
    d.add_argument("--tenant", required=True, metavar="SLUG")
    d.add_argument("ref", metavar="NAME_OR_ID")


def register(sub: Any, add: AddCommand) -> None:
    """Add the integration command groups to the ``bindery`` parser."""
    p = add("keys", cmd_keys_rotate, "Manage the master keys that wrap stored credentials.")
    keys = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    k = keys.add_parser("rotate", help="re-wrap every credential's data key under the current master key")
    k.set_defaults(func=cmd_keys_rotate)
    k.add_argument("--generate", action="store_true",
                   help="first add a new current key to the key file (embedded default only)")

    p = add("nodes", cmd_nodes_list, "Manage a tenant's nodes (connected systems); credentials are shown masked.")
    nodes = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    n = nodes.add_parser("list", help="list nodes")
    n.set_defaults(func=cmd_nodes_list)
    n.add_argument("--tenant", required=True, metavar="SLUG")
    n = nodes.add_parser("create", help="create a node")
    n.set_defaults(func=cmd_nodes_create)
    n.add_argument("--tenant", required=True, metavar="SLUG")
    n.add_argument("--name", required=True)
    n.add_argument("--technology", required=True)
    n.add_argument("--settings", metavar="JSON")
    n.add_argument("--credentials-file", metavar="PATH", help="JSON object of credentials; '-' reads stdin")

    _add_delete(nodes, "node", "delete a node and its bindings (refused while connectors use it)")
    n = nodes.add_parser("webhook-secret", help="open (or re-key) the node's webhook inbox; prints the secret once")
    n.set_defaults(func=cmd_nodes_webhook_secret)
    n.add_argument("--tenant", required=True, metavar="SLUG")
    n.add_argument("node", metavar="NAME_OR_ID")
    n.add_argument("--scheme", required=True, choices=["standard", "shopify", "woocommerce"])
    n.add_argument("--secret-file", metavar="PATH", help="use the sender's secret from this file ('-': stdin) "
                   "instead of generating one")

    p = add("connectors", cmd_connectors_list, "Manage and run a tenant's connectors.")
    conns = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = conns.add_parser("list", help="list connectors")
    c.set_defaults(func=cmd_connectors_list)
    c.add_argument("--tenant", required=True, metavar="SLUG")
    c = conns.add_parser("create", help="create a connector on a node")
    c.set_defaults(func=cmd_connectors_create)
    c.add_argument("--tenant", required=True, metavar="SLUG")
    c.add_argument("--name", required=True)
    c.add_argument("--node", required=True, metavar="NAME_OR_ID")
    c.add_argument("--type", required=True, help="connector type of the node's technology")
    c.add_argument("--config", metavar="JSON")
    c.add_argument("--product-filter", metavar="JSON")
    c.add_argument("--simulate", action="store_true")
    c.add_argument("--differential", action="store_true")
    _add_delete(conns, "connector", "delete a connector and its runs (refused while a procedure lists it)")
    c = conns.add_parser("url", help="the URL another system calls, for a passive (API) connector")
    c.set_defaults(func=cmd_connectors_url)
    c.add_argument("--tenant", required=True, metavar="SLUG")
    c.add_argument("connector", metavar="NAME_OR_ID")
    c = conns.add_parser("run", help="queue a run now")
    c.set_defaults(func=cmd_connectors_run)
    c.add_argument("--tenant", required=True, metavar="SLUG")
    c.add_argument("connector", metavar="NAME_OR_ID")
    c.add_argument("--wait", action="store_true", help="execute it in this process and print the outcome")

    p = add("procedures", cmd_procedures_list, "Manage and run a tenant's procedures.")
    procs = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    r = procs.add_parser("list", help="list procedures")
    r.set_defaults(func=cmd_procedures_list)
    r.add_argument("--tenant", required=True, metavar="SLUG")
    r = procs.add_parser("create", help="create a procedure from connectors in order")
    r.set_defaults(func=cmd_procedures_create)
    r.add_argument("--tenant", required=True, metavar="SLUG")
    r.add_argument("--name", required=True)
    r.add_argument("--connectors", required=True, help="comma-separated names or ids, in order")
    r.add_argument("--every", type=int, default=60, metavar="MINUTES")
    r.add_argument("--windows", metavar="JSON", help='e.g. [{"weekdays":[0,1,2,3,4],"start":"08:00","end":"18:00"}]')
    r.add_argument("--alert-emails", metavar="LIST", help="comma-separated addresses told about failed or late runs")
    r.add_argument("--delay-alert-minutes", type=int, default=None, metavar="N",
                   help="alert when a run is still unfinished after N minutes")
    _add_delete(procs, "procedure", "delete a procedure, its steps and runs (its connectors stay)")
    r = procs.add_parser("run", help="queue a run now")
    r.set_defaults(func=cmd_procedures_run)
    r.add_argument("--tenant", required=True, metavar="SLUG")
    r.add_argument("procedure", metavar="NAME_OR_ID")
    r.add_argument("--wait", action="store_true", help="execute it in this process and print the outcome")

    p = add("runs", cmd_runs_list, "Watch, cancel and recover runs.")
    runs = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    u = runs.add_parser("list", help="latest runs with status, progress and counters")
    u.set_defaults(func=cmd_runs_list)
    u.add_argument("--tenant", required=True, metavar="SLUG")
    u.add_argument("--limit", type=int, default=20)
    u = runs.add_parser("show", help="a run's counters, log and failed items")
    u.set_defaults(func=cmd_runs_show)
    u.add_argument("--tenant", required=True, metavar="SLUG")
    u.add_argument("run", metavar="ID")
    u = runs.add_parser("cancel", help="cancel a queued run, or stop a running one at its next checkpoint")
    u.set_defaults(func=cmd_runs_cancel)
    u.add_argument("--tenant", required=True, metavar="SLUG")
    u.add_argument("run", metavar="ID")
    u = runs.add_parser("execute", help="execute one queued run in this process")
    u.set_defaults(func=cmd_runs_execute)
    u.add_argument("run", metavar="ID")
    u = runs.add_parser("tick", help="one scheduler pass now: enqueue due procedures, recover lost runs")
    u.set_defaults(func=cmd_runs_tick)
    u = runs.add_parser("prune", help="delete finished runs older than the retention, with their logs")
    u.set_defaults(func=cmd_runs_prune)
    u.add_argument("--older-than-days", type=int, default=0, metavar="N",
                   help="default BINDERY_RUN_RETENTION_DAYS")
