"""``bindery privacy ...``: subject requests, erasure replay, access log, incidents, records."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from bindery.config import Config

Out = Callable[[str], None]


def _tenant(slug: str) -> Any:
    from bindery.cli import CommandFailed
    from bindery.control.models import LocalTenant

    tenant = LocalTenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise CommandFailed(f"no tenant '{slug}' on this host")
    return tenant


def _subject(args: argparse.Namespace) -> Any:
    from bindery.cli import CommandFailed
    from bindery.privacy.subjects import Subject, SubjectError

    try:
        return Subject.parse(args.email, args.customer or ())
    except SubjectError as exc:
        raise CommandFailed(str(exc)) from None


def cmd_export(config: Config, args: argparse.Namespace) -> int:
    from bindery.privacy.subjects import export_as_csv, export_subject

    export = export_subject(_tenant(args.tenant), _subject(args), actor="cli", purpose=args.purpose)
    print(export_as_csv(export) if args.format == "csv" else json.dumps(export, indent=2, default=str), end="")
    return 0


def cmd_erase(config: Config, args: argparse.Namespace) -> int:
    from bindery.cli import CommandFailed
    from bindery.privacy.subjects import SubjectError, erase_subject

    try:
        record = erase_subject(_tenant(args.tenant), _subject(args), actor="cli", reason=args.reason)
    except SubjectError as exc:
        raise CommandFailed(str(exc)) from None
    print(f"Erased {record.rows_erased} row(s); journal entry {record.pk}.")
    return 0


def cmd_replay(config: Config, args: argparse.Namespace) -> int:
    from bindery.privacy.subjects import replay_erasures

    print(f"Replayed the erasure journal: {replay_erasures(_tenant(args.tenant))} row(s) erased again.")
    return 0


def cmd_access_log(config: Config, args: argparse.Namespace) -> int:
    from bindery.privacy.models import PersonalDataAccess

    rows = PersonalDataAccess.objects.for_tenant(_tenant(args.tenant)).order_by("-created_at")
    if args.actor:
        rows = rows.filter(actor=args.actor)
    for row in rows[: args.limit]:
        print(f"{row.created_at:%Y-%m-%d %H:%M:%S} {row.actor:24} {row.action:15} {row.resource} "
              f"{row.object_id} purpose={row.purpose!r}")
    return 0


def cmd_records(config: Config, args: argparse.Namespace) -> int:
    from bindery.privacy.records import record_as_markdown, record_of_processing

    print(json.dumps(record_of_processing(), indent=2) if args.format == "json" else record_as_markdown(), end="")
    return 0


def _incident(ref: str) -> Any:
    import uuid

    from bindery.cli import CommandFailed
    from bindery.privacy.models import Incident

    try:
        return Incident.objects.get(pk=uuid.UUID(ref))
    except (ValueError, Incident.DoesNotExist):
        raise CommandFailed(f"no incident '{ref[:40]}'") from None


def cmd_incidents(config: Config, args: argparse.Namespace) -> int:
    from django.utils import timezone

    from bindery.privacy.models import Incident

    now = timezone.now()
    for incident in Incident.objects.all():
        left = incident.hours_left(now)
        clock = (f"{left:.0f} h left" if left > 0 else f"{-left:.0f} h OVERDUE") if incident.state == "open" else ""
        print(f"{incident.pk} {incident.state:8} {incident.discovered_at:%Y-%m-%d %H:%M} {clock:14} {incident.title}")
    return 0


def cmd_incident_open(config: Config, args: argparse.Namespace) -> int:
    from django.utils import timezone

    from bindery.cli import CommandFailed
    from bindery.privacy.incidents import IncidentError, do_open_incident

    try:
        discovered = dt.datetime.fromisoformat(args.discovered) if args.discovered else timezone.now()
        incident = do_open_incident(args.title, discovered_at=discovered, actor="cli",
                                    description=args.description, tenant_ids=args.tenant or (),
                                    data_classes=args.data or ())
    except ValueError as exc:  # IncidentError and a malformed date alike
        raise CommandFailed(str(exc) if isinstance(exc, IncidentError) else f"--discovered: {exc}") from None
    print(f"Incident {incident.pk} opened; notify the authority by {incident.notify_by:%Y-%m-%d %H:%M} UTC.")
    return 0


def cmd_incident_step(config: Config, args: argparse.Namespace) -> int:
    from bindery.cli import CommandFailed
    from bindery.privacy import incidents

    incident = _incident(args.incident)
    try:
        if args.step == "notified":
            incidents.do_mark_authority_notified(incident, actor="cli")
        elif args.step == "notify-tenants":
            print(f"{incidents.do_notify_tenant_owners(incident, actor='cli')} owner(s) notified.")
        elif args.step == "close":
            incidents.do_close_incident(incident, actor="cli")
        else:
            incidents.do_add_incident_action(incident, args.text or "", actor="cli")
    except incidents.IncidentError as exc:
        raise CommandFailed(str(exc)) from None
    print(f"Incident {incident.pk}: {args.step} done.")
    return 0


def cmd_retention(config: Config, args: argparse.Namespace) -> int:
    import uuid

    from bindery.cli import CommandFailed
    from bindery.control.rls import tenant_scope
    from bindery.privacy.models import RetentionRule
    from bindery.privacy.retention import RetentionError, apply_retention, do_set_retention_rule

    tenant = _tenant(args.tenant)
    with tenant_scope(tenant.pk):
        if args.step == "set":
            try:
                node = uuid.UUID(args.channel) if args.channel else None
                rule = do_set_retention_rule(tenant, origin_node_id=node, days=args.days, actor="cli")
            except (ValueError, RetentionError) as exc:
                raise CommandFailed(str(exc) if isinstance(exc, RetentionError) else "--channel is not a node id") \
                    from None
            print(f"Order contacts of {rule.origin_node_id or 'every channel'} are anonymized "
                  f"{rule.days_after_shipment} days after shipment.")
        elif args.step == "run":
            for run in apply_retention(tenant):
                print(f"{run.rule.origin_node_id or 'every channel'}: {run.orders_anonymized} order(s) anonymized, "
                      f"{run.rows_blanked} row(s) blanked (shipped before {run.cutoff:%Y-%m-%d}).")
        else:
            for rule in RetentionRule.objects.for_tenant(tenant):
                print(f"{rule.origin_node_id or 'every channel'}: {rule.days_after_shipment} days after shipment")
    return 0


def cmd_rotate_key(config: Config, args: argparse.Namespace) -> int:
    from bindery.privacy.keys import rotate_tenant_key

    rotation = rotate_tenant_key(_tenant(args.tenant), actor="cli")
    print(f"New data key {rotation.key_id}: {rotation.rows} row(s) re-encrypted; "
          f"{rotation.retired_keys} retired key(s) kept for older backups.")
    return 0


def cmd_rotate_index_key(config: Config, args: argparse.Namespace) -> int:
    from bindery.privacy.keys import rotate_index_key

    rotation = rotate_index_key(_tenant(args.tenant), actor="cli")
    print(f"New blind-index key {rotation.key_id}: the e-mail index of {rotation.rows} row(s) recomputed; "
          f"{rotation.retired_keys} retired index key(s).")
    return 0


def cmd_purge(config: Config, args: argparse.Namespace) -> int:
    from bindery.cli import CommandFailed
    from bindery.privacy.purge import PurgeError, certificate_text, do_purge_tenant

    try:
        purge = do_purge_tenant(args.slug, confirm=args.confirm, actor="cli", reason=args.reason)
    except PurgeError as exc:
        raise CommandFailed(str(exc)) from None
    print(certificate_text(purge), end="")
    print(f"SHA-256: {purge.digest}")
    return 0


def register(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("privacy", cmd_incidents, "Data protection: subject export and erasure, access log, incidents, "
            "record of processing.")
    ps = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    def subject_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--tenant", required=True, metavar="SLUG")
        q.add_argument("--email", default="", help="the person's e-mail address")
        q.add_argument("--customer", action="append", metavar="ID", help="a customer id (repeatable)")

    q = ps.add_parser("export", help="print everything held about a person (JSON or CSV)")
    subject_args(q)
    q.add_argument("--format", choices=["json", "csv"], default="json")
    q.add_argument("--purpose", default="subject access request", help="recorded in the access log")
    q.set_defaults(func=cmd_export)
    q = ps.add_parser("erase", help="erase a person's personal data, keeping accounting values")
    subject_args(q)
    q.add_argument("--reason", required=True, help="recorded with the erasure")
    q.set_defaults(func=cmd_erase)
    q = ps.add_parser("replay", help="erase again every journaled person (run after a restore)")
    q.add_argument("--tenant", required=True, metavar="SLUG")
    q.set_defaults(func=cmd_replay)
    q = ps.add_parser("access-log", help="who read or exported personal data, newest first")
    q.add_argument("--tenant", required=True, metavar="SLUG")
    q.add_argument("--actor", default="")
    q.add_argument("--limit", type=int, default=100)
    q.set_defaults(func=cmd_access_log)
    q = ps.add_parser("retention", help="anonymize order contacts N days after shipment: list | set | run")
    q.add_argument("step", choices=["list", "set", "run"])
    q.add_argument("--tenant", required=True, metavar="SLUG")
    q.add_argument("--channel", default="", metavar="NODE_ID", help="one channel's node (default: every channel)")
    q.add_argument("--days", type=int, default=30)
    q.set_defaults(func=cmd_retention)
    q = ps.add_parser("purge-tenant", help="delete every row of a tenant on this host; prints a certificate")
    q.add_argument("slug")
    q.add_argument("--confirm", required=True, metavar="SLUG", help="the slug again, to confirm")
    q.add_argument("--reason", required=True)
    q.set_defaults(func=cmd_purge)
    q = ps.add_parser("rotate-key", help="new field-encryption data key for a tenant; re-encrypts its rows")
    q.add_argument("--tenant", required=True, metavar="SLUG")
    q.set_defaults(func=cmd_rotate_key)
    q = ps.add_parser("rotate-index-key", help="new blind-index (e-mail lookup) key for a tenant; recomputes "
                      "every index")
    q.add_argument("--tenant", required=True, metavar="SLUG")
    q.set_defaults(func=cmd_rotate_index_key)
    q = ps.add_parser("records", help="the processor's record of processing (art. 30(2))")
    q.add_argument("--format", choices=["markdown", "json"], default="markdown")
    q.set_defaults(func=cmd_records)
    q = ps.add_parser("incidents", help="list incidents with their 72-hour clock")
    q.set_defaults(func=cmd_incidents)
    q = ps.add_parser("incident-open", help="record a personal-data breach")
    q.add_argument("title")
    q.add_argument("--discovered", default="", help="ISO 8601 time with offset (default: now)")
    q.add_argument("--description", default="")
    q.add_argument("--tenant", action="append", metavar="TENANT_ID", help="an affected tenant (repeatable)")
    q.add_argument("--data", action="append", metavar="app.Model.field", help="affected data (repeatable)")
    q.set_defaults(func=cmd_incident_open)
    q = ps.add_parser("incident", help="record a step: notified | notify-tenants | close | action TEXT")
    q.add_argument("incident", metavar="ID")
    q.add_argument("step", choices=["notified", "notify-tenants", "close", "action"])
    q.add_argument("text", nargs="?", default="")
    q.set_defaults(func=cmd_incident_step)
