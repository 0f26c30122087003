"""The ``bindery`` command: one entry point for every role of the platform.

Each subcommand validates the configuration first; a problem ends the program with one line
naming the variable and what is wrong (exit 2), never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bindery import __version__
from bindery.config import Config, ConfigError, load, markdown_table

if TYPE_CHECKING:
    from bindery.ops.tls import TlsFiles

EXIT_CONFIG = 2
EXIT_FAILED = 1


class CommandFailed(Exception):
    """A command could not do its work; the message says why in one line."""


def _out(line: str = "") -> None:
    print(line, flush=True)


def setup_django() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bindery.settings"
    import django

    django.setup()


# --- checks shared by the commands ------------------------------------------------------------

_DB_VARS = {"control": "BINDERY_CONTROL_DATABASE_URL", "default": "BINDERY_HOST_DATABASE_URL"}


def check_databases(config: Config, *, control_optional: bool = False) -> list[str]:
    """Connect to both databases; raise ConfigError naming the URL variable that fails.

    With ``control_optional`` (serving commands: web, worker, scheduler) an unreachable control
    database is only warned about: a host keeps serving its own tenants through a control-plane
    outage (docs/hosts.md, Routing), and that includes a host restarted during one. Returns the
    aliases that answered.
    """
    from django.db import connections

    from bindery.ops.logs import redact_text

    answered = []
    for alias, variable in _DB_VARS.items():
        url = config.control_db if alias == "control" else config.host_db
        try:
            if url.is_sqlite and url.path is not None and not url.path.parent.is_dir():
                raise ConfigError(variable, f"folder {url.path.parent} does not exist")
            try:
                connections[alias].ensure_connection()
                with connections[alias].cursor() as cursor:
                    cursor.execute("SELECT 1")
            except Exception as exc:
                reason = redact_text(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
                raise ConfigError(variable, f"cannot connect to the database: {reason}") from None
        except ConfigError as exc:
            if not (control_optional and alias == "control"):
                raise
            connections[alias].close()
            print(f"bindery: warning: {exc}; serving this host's own tenants from its own records "
                  "until the control database answers", file=sys.stderr, flush=True)
            continue
        answered.append(alias)
    return answered


def pending_migrations(aliases: list[str] | None = None) -> dict[str, int]:
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    pending = {}
    for alias in aliases if aliases is not None else list(_DB_VARS):
        executor = MigrationExecutor(connections[alias])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        pending[alias] = len(plan)
    return pending


def check_port_free(config: Config, port: int, variable: str) -> None:
    family = socket.AF_INET6 if ":" in config.bind else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((config.bind, port))
        except OSError as exc:
            raise ConfigError(variable, f"cannot listen on {config.bind}:{port}: {exc.strerror}") from None


# --- subcommands ------------------------------------------------------------------------------


def cmd_migrate(config: Config, args: argparse.Namespace) -> int:
    from django.core.management import call_command

    from bindery.ops.queue import initialize_queue

    check_databases(config)
    verbosity = 0 if getattr(args, "quiet", False) else 1
    for alias in ("control", "default"):
        call_command("migrate", database=alias, interactive=False, verbosity=verbosity)
    initialize_queue()
    call_command("collectstatic", interactive=False, verbosity=0)
    if verbosity:
        _out("Databases migrated, queue ready.")
    return 0


def cmd_demo(config: Config, args: argparse.Namespace) -> int:
    from bindery.accounts.demo import ensure_demo_account

    account = ensure_demo_account()
    if account.password:
        _out("")
        _out("  Demo tenant ready. Sign in at " + config.public_url + "/login/ with:")
        _out(f"    workspace: {account.tenant}")
        _out(f"    e-mail:    {account.email}")
        _out(f"    password:  {account.password}   (shown only now; you will be asked to change it)")
        _out("")
    else:
        _out(f"  Demo tenant '{account.tenant}' exists; its owner is {account.email}.")
    return 0


def _prepare_web(config: Config) -> tuple[TlsFiles, list[str]]:
    """Check everything the web server needs before it starts: certificate, ports, databases.

    Returns the TLS files and the database aliases that answered (the control database may not).
    """
    from bindery.ops.tls import ensure_certificate

    tls = ensure_certificate(config)
    check_port_free(config, config.https_port, "BINDERY_HTTPS_PORT")
    if config.http_port:
        check_port_free(config, config.http_port, "BINDERY_HTTP_PORT")
    return tls, check_databases(config, control_optional=True)


def cmd_web(config: Config, args: argparse.Namespace) -> int:
    from bindery.ops.server import serve_https, start_redirect_server

    tls, answered = _prepare_web(config)
    waiting = {alias: n for alias, n in pending_migrations(answered).items() if n}
    if waiting:
        raise CommandFailed(f"{sum(waiting.values())} database migrations are not applied; run 'bindery migrate'")
    start_redirect_server(config)
    serve_https(config, tls)
    return 0


def _consumer(config: Config, *, periodic: bool, threads: int) -> Any:
    from huey.consumer import Consumer

    from bindery.ops.queue import huey

    if huey.immediate:
        raise CommandFailed("BINDERY_QUEUE is 'immediate': jobs run inline, there is nothing to consume")
    return Consumer(huey, workers=threads, periodic=periodic, worker_type="thread",
                    check_worker_health=True)


def cmd_worker(config: Config, args: argparse.Namespace) -> int:
    check_databases(config, control_optional=True)
    consumer = _consumer(config, periodic=args.with_scheduler, threads=args.threads or config.worker_threads)
    _out(f"Bindery worker: {consumer.workers} threads on the {config.queue_backend} queue.")
    consumer.run()
    return 0


def cmd_scheduler(config: Config, args: argparse.Namespace) -> int:
    """Enqueue due periodic and delayed jobs; run exactly one per host."""
    from huey.consumer import Scheduler

    from bindery.ops.queue import huey

    check_databases(config, control_optional=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    scheduler = Scheduler(huey, stop, interval=1, periodic=True)
    _out(f"Bindery scheduler on the {config.queue_backend} queue.")
    while not stop.is_set():
        scheduler.loop()
    return 0


def cmd_run(config: Config, args: argparse.Namespace) -> int:
    """Everything in one command: migrate, demo tenant, web (child process), worker + scheduler."""
    tls, _answered = _prepare_web(config)
    cmd_migrate(config, argparse.Namespace(quiet=True))
    if config.demo and not args.no_demo:
        cmd_demo(config, args)
    consumer = _consumer(config, periodic=True, threads=config.worker_threads)

    web = subprocess.Popen([sys.executable, "-m", "bindery", "web"])

    def watch_web() -> None:
        code = web.wait()
        if code not in (0, -signal.SIGINT, -signal.SIGTERM):
            print(f"bindery: the web server stopped with exit code {code}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGINT)  # stop the worker too

    threading.Thread(target=watch_web, name="web-watch", daemon=True).start()
    _out(f"Bindery {__version__} is starting at {config.public_url}  (health: {config.public_url}/healthz)")
    if tls.generated:
        _out(f"  A self-signed certificate was created in {tls.cert.parent}; browsers will ask you to accept it.")
    if config.http_port:
        _out(f"  http://localhost:{config.http_port} redirects to HTTPS.")
    _out("  Press Ctrl-C to stop.")
    try:
        consumer.run()
    finally:
        if web.poll() is None:
            web.terminate()
            try:
                web.wait(timeout=10)
            except subprocess.TimeoutExpired:
                web.kill()
    return 0 if web.returncode in (0, None, -signal.SIGINT, -signal.SIGTERM) else EXIT_FAILED


def cmd_check(config: Config, args: argparse.Namespace) -> int:
    """Validate configuration and connectivity; print one line per part; exit 1 on any error."""
    from django.core import checks as django_checks

    from bindery.ops.tls import ensure_certificate, load_certificate

    problems = 0

    def report(ok: bool, part: str, detail: str) -> None:
        nonlocal problems
        problems += 0 if ok else 1
        _out(f"{'ok   ' if ok else 'ERROR'} {part}: {detail}")

    report(True, "configuration", "all BINDERY_* variables are valid")
    try:
        check_databases(config)
        report(True, "databases", f"control ({config.control_db.engine}) and host ({config.host_db.engine}) answer")
        waiting = pending_migrations()
        report(not any(waiting.values()), "migrations",
               "up to date" if not any(waiting.values()) else f"{waiting} pending; run 'bindery migrate'")
    except ConfigError as exc:
        report(False, "databases", str(exc))
    try:
        from bindery.ops.queue import queue_state

        state = queue_state()
        report(True, "queue", f"{state['backend']}, {state['pending']} pending")
    except Exception as exc:
        report(False, "queue", f"{type(exc).__name__}: {str(exc)[:200]}")
    try:
        if config.tls_cert_file and config.tls_key_file:
            cert = load_certificate(config.tls_cert_file, config.tls_key_file,
                                    cert_var="BINDERY_TLS_CERT_FILE", key_var="BINDERY_TLS_KEY_FILE")
            report(True, "tls", f"certificate valid until {cert.not_valid_after_utc:%Y-%m-%d}")
        else:
            tls = ensure_certificate(config)
            report(True, "tls", f"self-signed certificate in {tls.cert.parent}")
    except ConfigError as exc:
        report(False, "tls", str(exc))
    messages = django_checks.run_checks(include_deployment_checks=args.deploy)
    for message in messages:
        if message.level >= django_checks.ERROR:
            report(False, f"system check {message.id}", f"{message.msg} (hint: {message.hint})")
        elif message.level >= django_checks.WARNING:
            _out(f"warn  system check {message.id}: {message.msg}")
    if not any(m.level >= django_checks.ERROR for m in messages):
        report(True, "system checks", f"{len(messages)} warnings" if messages else "no issues")
    return EXIT_FAILED if problems else 0


def cmd_operators_create(config: Config, args: argparse.Namespace) -> int:
    from django.core.exceptions import ValidationError

    if args.action == "reset-mfa":
        return _reset_operator_mfa(args.email)

    from bindery.accounts.actions import MemberActionError, clean_email, do_create_operator, generate_password
    from bindery.accounts.models import Operator

    try:
        args.email = clean_email(args.email)
    except MemberActionError as exc:
        raise CommandFailed(str(exc)) from None
    if Operator.objects.filter(email__iexact=args.email).exists():
        raise CommandFailed(f"an operator with e-mail {args.email} already exists")
    password = generate_password()
    try:
        do_create_operator(args.email, password, name=args.name, actor="cli")
    except ValidationError as exc:
        raise CommandFailed("; ".join(exc.messages)) from None
    _out(f"Operator {args.email} created. Password (shown only now): {password}")
    _out(f"Sign in at {config.public_url}/ops/")
    return 0


def _reset_operator_mfa(email: str) -> int:
    """Remove a lost authenticator: the operator enrols a new one at the next sign-in."""
    from bindery.accounts import mfa
    from bindery.accounts.actions import MemberActionError, clean_email
    from bindery.accounts.models import Operator

    try:
        email = clean_email(email)
    except MemberActionError as exc:
        raise CommandFailed(str(exc)) from None
    operator = Operator.objects.filter(email__iexact=email).first()
    if operator is None:
        raise CommandFailed(f"no operator with e-mail {email}")
    removed = mfa.disable(operator)
    logging.getLogger("bindery.ops.audit").warning(
        "operator second factor removed", extra={"event": "ops.mfa_reset", "operator_id": str(operator.pk),
                                                  "actor": "cli"})
    _out(f"{'Removed' if removed else 'There was no'} second factor for {operator.email}; "
         "they set up a new one at their next sign-in.")
    return 0


def cmd_users(config: Config, args: argparse.Namespace) -> int:
    """Tenant members from the command line: invite someone, or remove a lost second factor."""
    from bindery.accounts import links, mfa
    from bindery.accounts.actions import MemberActionError
    from bindery.accounts.activity import EventKind, record_event
    from bindery.accounts.models import User, by_email, email_is
    from bindery.control.models import LocalTenant

    tenant = LocalTenant.objects.filter(slug=args.tenant.strip().lower()).first()
    if tenant is None:
        raise CommandFailed(f"no tenant {args.tenant!r} on this host")
    if args.action == "invite":
        try:
            links.do_invite(tenant, args.email, args.role, actor="cli")
        except MemberActionError as exc:
            raise CommandFailed(str(exc)) from None
        _out(f"Invitation sent to {args.email} ({args.role}); it works once, for 7 days.")
        return 0
    if args.action == "list":
        for member in by_email(User.objects.for_tenant(tenant).filter(is_active=True)):
            _out(f"{member.email:40} {member.role:9} mfa={'on' if mfa.has_mfa(member) else 'off'}")
        return 0
    user = User.objects.for_tenant(tenant).filter(email_is(tenant, args.email)).first()
    if user is None:
        raise CommandFailed(f"no member {args.email} in {tenant.slug}")
    if mfa.disable(user):
        record_event(tenant.pk, EventKind.MFA_DISABLED, actor="cli", user=user, detail={"by": "support"})
    _out(f"{user.email} has no second factor now; they set up a new one from the console.")
    return 0


def cmd_config(config: Config, args: argparse.Namespace) -> int:
    if args.markdown:
        _out(markdown_table())
        return 0
    for field, value in vars(config).items():
        shown = "[set]" if field == "secret_key" else value
        if field in ("master_key", "backup_site_key"):
            shown = "[set]" if value else "[key file in the var folder]"
        if field in ("backup_sftp_password", "backup_sftp_private_key", "backup_drill_url"):
            shown = "[set]" if value else "[not set]"
        if field.endswith("_db"):
            from bindery.ops.logs import redact_text

            shown = redact_text(value.url)
        _out(f"{field:16} {shown}")
    return 0


def cmd_manage(config: Config, args: argparse.Namespace) -> int:
    from django.core.management import execute_from_command_line

    execute_from_command_line(["bindery manage", *args.args])
    return 0


# --- API tokens (bindery.security) -------------------------------------------------------------


def _tokens_tenant(slug: str) -> Any:
    from bindery.control.models import LocalTenant

    tenant = LocalTenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise CommandFailed(f"no tenant '{slug}' on this host")
    return tenant


def _tokens_find(tenant: Any, ref: str) -> Any:
    """Find a tenant's token by row id, lookup id, ``bnd_<lookup>`` or a whole (leaked) token."""
    import uuid

    from bindery.security.models import ApiToken

    tokens = ApiToken.objects.for_tenant(tenant)
    try:
        found = tokens.filter(pk=uuid.UUID(ref)).first()
    except ValueError:
        lookup = ref.removeprefix("bnd_").split("_", 1)[0]
        found = tokens.filter(lookup=lookup).first()
    if found is None:
        raise CommandFailed(f"tenant '{tenant.slug}' has no token '{ref[:20]}'")
    return found


def cmd_tokens_create(config: Config, args: argparse.Namespace) -> int:
    import datetime as dt

    from bindery.security.actions import do_create_api_token
    from bindery.security.errors import TokenActionError

    tenant = _tokens_tenant(args.tenant)
    try:
        expires_in = dt.timedelta(days=args.expires_days) if args.expires_days is not None else None
    except OverflowError:
        raise CommandFailed(f"--expires-days {args.expires_days} is too large") from None
    node = None
    if args.node:
        from bindery.integration.access import access_node_by_ref
        from bindery.integration.errors import IntegrationError

        try:
            node = access_node_by_ref(tenant, args.node)
        except IntegrationError as exc:
            raise CommandFailed(str(exc)) from None
    try:
        token, plaintext = do_create_api_token(tenant, args.name, args.scopes.split(","),
                                               expires_in=expires_in, node=node, actor="cli")
    except TokenActionError as exc:
        raise CommandFailed(str(exc)) from None
    expiry = f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "never expires"
    _out(f"Token {token.display_prefix} ({token.name}) created for '{tenant.slug}': "
         f"scopes {','.join(token.scopes)}, {expiry}.")
    _out(f"Token (shown only now, store it safely): {plaintext}")
    return 0


def cmd_tokens_list(config: Config, args: argparse.Namespace) -> int:
    from django.utils import timezone

    from bindery.security.models import ApiToken

    tenant = _tokens_tenant(args.tenant)
    now = timezone.now()
    tokens = list(ApiToken.objects.for_tenant(tenant).order_by("created_at"))
    if not tokens:
        _out(f"Tenant '{tenant.slug}' has no API tokens.")
        return 0
    _out(f"{'PREFIX':21} {'STATE':9} {'NAME':24} {'SCOPES':28} {'LAST USE':17} {'EXPIRES':17} ID")
    for token in tokens:
        last = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
        expires = f"{token.expires_at:%Y-%m-%d %H:%M}" if token.expires_at else "never"
        _out(f"{token.display_prefix:21} {token.state(now):9} {token.name[:24]:24} "
             f"{','.join(token.scopes)[:28]:28} {last:17} {expires:17} {token.pk}")
    return 0


def cmd_tokens_revoke(config: Config, args: argparse.Namespace) -> int:
    from bindery.security.actions import do_revoke_api_token

    token = _tokens_find(_tokens_tenant(args.tenant), args.token)
    if do_revoke_api_token(token, actor="cli"):
        _out(f"Token {token.display_prefix} ({token.name}) revoked; it no longer authenticates.")
    else:
        _out(f"Token {token.display_prefix} ({token.name}) was already revoked.")
    return 0


def cmd_tokens_rotate(config: Config, args: argparse.Namespace) -> int:
    import datetime as dt

    from bindery.security.actions import do_rotate_api_token
    from bindery.security.errors import TokenActionError

    token = _tokens_find(_tokens_tenant(args.tenant), args.token)
    try:
        overlap = dt.timedelta(hours=args.overlap_hours)
    except OverflowError:
        raise CommandFailed(f"--overlap-hours {args.overlap_hours} is too large") from None
    try:
        new, plaintext = do_rotate_api_token(token, overlap=overlap, actor="cli")
    except TokenActionError as exc:
        raise CommandFailed(str(exc)) from None
    _out(f"Token {token.display_prefix} replaced by {new.display_prefix}; the old one works until "
         f"{token.rotation_grace_until:%Y-%m-%d %H:%M} UTC.")
    _out(f"New token (shown only now, store it safely): {plaintext}")
    return 0


# --- parser -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bindery",
        description="Bindery: self-hostable e-commerce integration hub. Configuration comes from "
        "BINDERY_* environment variables (see 'bindery config --markdown').",
    )
    parser.add_argument("--version", action="version", version=f"bindery {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func: Callable[[Config, argparse.Namespace], int], help_text: str,
            *, setup: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func, setup=setup)
        return p

    p = add("run", cmd_run, "Run everything in one command: migrate, demo tenant, HTTPS web server, "
            "HTTP redirect, job worker and scheduler (the embedded default).")
    p.add_argument("--no-demo", action="store_true", help="do not create the demo tenant")
    add("web", cmd_web, "Serve the console and APIs over HTTPS (granian), plus the HTTP→HTTPS redirect.")
    p = add("worker", cmd_worker, "Run job workers that consume this host's queue.")
    p.add_argument("--threads", type=int, default=0, help="worker threads (default BINDERY_WORKER_THREADS)")
    p.add_argument("--with-scheduler", action="store_true", help="also enqueue periodic jobs "
                   "(use when no separate 'bindery scheduler' runs)")
    add("scheduler", cmd_scheduler, "Enqueue periodic and delayed jobs; run one per host.")
    p = add("migrate", cmd_migrate, "Create or upgrade the control and host databases and the job queue.")
    p.add_argument("--quiet", action="store_true")
    p = add("check", cmd_check, "Validate configuration and connectivity and say what is wrong.")
    p.add_argument("--deploy", action="store_true", help="include production-only checks")
    add("demo", cmd_demo, "Create the demo tenant and its owner account (prints the password once).")
    p = add("operators", cmd_operators_create, "Manage operator accounts (the support team).")
    op_sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = op_sub.add_parser("create", help="create an operator and print its password once")
    create.add_argument("email")
    create.add_argument("--name", default="")
    reset = op_sub.add_parser("reset-mfa", help="remove an operator's lost authenticator (enrols anew at sign-in)")
    reset.add_argument("email")
    p = add("users", cmd_users, "A tenant's members: list them, invite someone, remove a lost second factor.")
    users_sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    u = users_sub.add_parser("list", help="members with role and whether a second factor is on")
    u.add_argument("--tenant", required=True)
    u = users_sub.add_parser("invite", help="e-mail an invitation (single use, 7 days)")
    u.add_argument("--tenant", required=True)
    u.add_argument("--email", required=True)
    u.add_argument("--role", default="viewer", choices=["owner", "admin", "operator", "viewer"])
    u = users_sub.add_parser("reset-mfa", help="remove a member's lost authenticator (after checking who asks)")
    u.add_argument("--tenant", required=True)
    u.add_argument("--email", required=True)
    p = add("tokens", cmd_tokens_list, "Manage a tenant's API tokens (secrets are shown only once, at creation).")
    tok_sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    t = tok_sub.add_parser("create", help="create a token and print it once")
    t.set_defaults(func=cmd_tokens_create)
    t.add_argument("--tenant", required=True, metavar="SLUG")
    t.add_argument("--name", required=True)
    t.add_argument("--scopes", required=True, help="comma-separated, e.g. catalog:read,sales:write,*:read")
    t.add_argument("--expires-days", type=int, default=None, metavar="N", help="default: never expires")
    t.add_argument("--node", metavar="NAME_OR_ID", help="an API or logistics node: the token then opens only "
                   "that node's connector URLs")
    t = tok_sub.add_parser("list", help="list tokens: prefix, state, name, scopes, last use (never secrets)")
    t.set_defaults(func=cmd_tokens_list)
    t.add_argument("--tenant", required=True, metavar="SLUG")
    t = tok_sub.add_parser("revoke", help="stop a token at once")
    t.set_defaults(func=cmd_tokens_revoke)
    t.add_argument("--tenant", required=True, metavar="SLUG")
    t.add_argument("token", metavar="ID_OR_PREFIX", help="row id, lookup id or bnd_<lookup> prefix")
    t = tok_sub.add_parser("rotate", help="replace a token; the old one keeps working during the overlap")
    t.set_defaults(func=cmd_tokens_rotate)
    t.add_argument("--tenant", required=True, metavar="SLUG")
    t.add_argument("token", metavar="ID_OR_PREFIX", help="row id, lookup id or bnd_<lookup> prefix")
    t.add_argument("--overlap-hours", type=int, default=24, metavar="N",
                   help="how long the old token keeps working (default 24, at most 720)")
    from bindery.privacy.cli import register as register_privacy
    from bindery.security.cli import register as register_security

    register_security(sub, add)

    register_privacy(sub, add)
    # Integration engine: nodes, connectors, procedures, runs, keys (bindery.integration.commands).
    from bindery.integration.commands import register as register_integration

    register_integration(sub, add)
    from bindery.control.cli import register as register_control

    register_control(sub, add)
    from bindery.backups.cli import register as register_backups

    register_backups(sub, add)
    p = add("config", cmd_config, "Show the effective configuration (secrets hidden).", setup=False)
    p.add_argument("--markdown", action="store_true", help="print the README's configuration table")
    p = add("manage", cmd_manage, "Run a Django management command (for maintenance).")
    p.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = load(create=args.command not in ("config",))
        if args.setup:
            setup_django()
        return int(args.func(config, args))
    except ConfigError as exc:
        print(f"bindery: configuration error: {exc.variable}: {exc.problem}", file=sys.stderr)
        return EXIT_CONFIG
    except CommandFailed as exc:
        print(f"bindery: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130

