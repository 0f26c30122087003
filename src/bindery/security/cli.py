"""``bindery blacklist ...`` and ``bindery security events``: operators' view of the brute-force guard."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from typing import Any

from bindery.config import Config


def cmd_blacklist_list(config: Config, args: argparse.Namespace) -> int:
    from django.utils import timezone

    from bindery.security.models import Ban

    bans = Ban.objects.order_by("-created_at")
    if not args.all:
        bans = bans.filter(until__gt=timezone.now())
    rows = list(bans[:500])
    if not rows:
        print("No active bans." if not args.all else "No bans.")
        return 0
    print(f"{'ID':>6} {'SCOPE':15} {'SOURCE':42} {'ACCOUNT':30} {'LEVEL':>5} UNTIL / REASON")
    for b in rows:
        print(f"{b.pk:>6} {b.scope:15} {b.source:42} {b.account[:30]:30} {b.level:>5} "
              f"{b.until:%Y-%m-%d %H:%M} {b.reason}")
    return 0


def cmd_blacklist_add(config: Config, args: argparse.Namespace) -> int:
    from bindery.cli import CommandFailed
    from bindery.security.bruteforce import ban
    from bindery.security.client_ip import parse_ip, source_key
    from bindery.security.models import BanScope

    if parse_ip(args.ip) is None:
        raise CommandFailed(f"{args.ip[:60]!r} is not an IP address")
    scope = BanScope.ACCOUNT_SOURCE if args.account else BanScope.SOURCE
    entry = ban(scope, source_key(args.ip), args.account.strip().lower(), reason=args.reason, actor="cli")
    print(f"Banned {entry.source}{' for ' + entry.account if entry.account else ''} until "
          f"{entry.until:%Y-%m-%d %H:%M} UTC (level {entry.level}).")
    return 0


def cmd_blacklist_lift(config: Config, args: argparse.Namespace) -> int:
    from django.utils import timezone

    from bindery.cli import CommandFailed
    from bindery.security.bruteforce import lift
    from bindery.security.client_ip import parse_ip, source_key
    from bindery.security.models import Ban

    active = Ban.objects.filter(until__gt=timezone.now())
    if args.target.isdigit():
        found = list(active.filter(pk=int(args.target)))
    elif parse_ip(args.target) is not None:
        found = list(active.filter(source=source_key(args.target)))
    else:
        raise CommandFailed(f"{args.target[:60]!r} is neither a ban id nor an IP address")
    if not found:
        raise CommandFailed(f"no active ban for {args.target[:60]}")
    for entry in found:
        lift(entry, actor="cli")
        print(f"Lifted ban {entry.pk} on {entry.source}{' for ' + entry.account if entry.account else ''}.")
    return 0


def cmd_events(config: Config, args: argparse.Namespace) -> int:
    from django.utils import timezone

    from bindery.security.models import SecurityEvent

    events = SecurityEvent.objects.filter(created_at__gte=timezone.now() - dt.timedelta(hours=args.hours))
    if args.kind:
        events = events.filter(kind=args.kind)
    if args.ip:
        events = events.filter(ip=args.ip)
    for e in events.order_by("-created_at")[: args.limit]:
        print(f"{e.created_at:%Y-%m-%d %H:%M:%S} {e.kind:15} {e.ip:40} {e.account[:40]:40} {e.detail}")
    return 0


def register(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("blacklist", cmd_blacklist_list,
            "The brute-force guard's bans: list, add, lift (each is a security event).")
    bs = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = bs.add_parser("list", help="active bans (--all: every ban)")
    q.add_argument("--all", action="store_true")
    q.set_defaults(func=cmd_blacklist_list)
    q = bs.add_parser("add", help="ban an IP (IPv6: its /64), or an account from that IP")
    q.add_argument("ip")
    q.add_argument("--account", default="", help="workspace:email or an operator's e-mail")
    q.add_argument("--reason", default="banned by an operator")
    q.set_defaults(func=cmd_blacklist_add)
    q = bs.add_parser("lift", help="lift a ban by id, or every active ban of an IP")
    q.add_argument("target", metavar="ID_OR_IP")
    q.set_defaults(func=cmd_blacklist_lift)
    p = add("security", cmd_events, "Security events: sign-in failures, bans, refusals, firewall blocks.")
    ss = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = ss.add_parser("events", help="recent events, newest first")
    q.add_argument("--kind", default="")
    q.add_argument("--ip", default="")
    q.add_argument("--hours", type=int, default=24)
    q.add_argument("--limit", type=int, default=200)
    q.set_defaults(func=cmd_events)
