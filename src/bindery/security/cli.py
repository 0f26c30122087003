"""``bindery blacklist ...`` and ``bindery security events``: operators' view of the brute-force guard."""

from __future__ import annotations

import argparse
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
    from bindery.security.bruteforce import account_for_search, ban
    from bindery.security.client_ip import parse_ip, source_key
    from bindery.security.models import BanScope

    if parse_ip(args.ip) is None:
        raise CommandFailed(f"{args.ip[:60]!r} is not an IP address")
    scope = BanScope.ACCOUNT_SOURCE if args.account else BanScope.SOURCE
    entry = ban(scope, source_key(args.ip), account_for_search(args.account), reason=args.reason, actor="cli")
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
    from bindery.cli import CommandFailed
    from bindery.control.models import Tenant
    from bindery.security.events import EventFilterError, event_filter, events_per_hour, filter_events

    tenant_id = None
    if args.tenant:
        tenant_id = Tenant.objects.filter(slug=args.tenant).values_list("id", flat=True).first()
        if tenant_id is None:
            raise CommandFailed(f"no tenant '{args.tenant[:63]}'")
    try:
        flt = event_filter(kind=args.kind, ip=args.ip, account=args.account, hours=args.hours,
                           tenant_id=tenant_id, tenant_slug=args.tenant)
    except EventFilterError as exc:
        raise CommandFailed(f"--{exc.field}: {exc}") from None
    if args.per_hour:
        for hour, n in events_per_hour(flt):
            print(f"{hour:%Y-%m-%d %H}:00 {n:>6} {'#' * min(n, 60)}")
        return 0
    for e in filter_events(flt)[: args.limit]:
        print(f"{e.created_at:%Y-%m-%d %H:%M:%S} {e.kind:15} {e.ip:40} {e.account[:40]:40} {e.detail}")
    return 0


def cmd_blacklist_promote(config: Config, args: argparse.Namespace) -> int:
    from django.utils import timezone

    from bindery.cli import CommandFailed
    from bindery.security.actions import do_promote_ban
    from bindery.security.client_ip import parse_ip, source_key
    from bindery.security.iprules import IpRuleError
    from bindery.security.models import Ban, BanScope

    active = Ban.objects.filter(until__gt=timezone.now(), scope=BanScope.SOURCE)
    if args.target.isdigit():
        found = list(active.filter(pk=int(args.target)))
    elif parse_ip(args.target) is not None:
        found = list(active.filter(source=source_key(args.target)))
    else:
        raise CommandFailed(f"{args.target[:60]!r} is neither a ban id nor an IP address")
    if not found:
        raise CommandFailed(f"no active ban of a whole source for {args.target[:60]}")
    for entry in found:
        try:
            rule = do_promote_ban(entry, actor="cli")
        except IpRuleError as exc:
            raise CommandFailed(str(exc)) from None
        until = f"{rule.expires_at:%Y-%m-%d %H:%M} UTC" if rule.expires_at else "removed"
        print(f"Promoted ban {entry.pk} on {entry.source}: every host refuses {rule.network} until {until} "
              f"(global rule {rule.pk}).")
    return 0


# --- bindery iprules ---------------------------------------------------------------------------


def _rule_target(args: argparse.Namespace) -> tuple[Any, Any]:
    """Return (tenant, node) named by --tenant/--node; (None, None) for the global rules."""
    from bindery.cli import CommandFailed
    from bindery.control.models import LocalTenant

    if args.node and not args.tenant:
        raise CommandFailed("--node needs --tenant")
    if not args.tenant:
        return None, None
    tenant = LocalTenant.objects.filter(slug=args.tenant).first()
    if tenant is None:
        raise CommandFailed(f"no tenant '{args.tenant[:63]}' on this host")
    if not args.node:
        return tenant, None
    from bindery.integration.access import access_node_by_ref

    try:
        return tenant, access_node_by_ref(tenant, args.node)
    except Exception as exc:  # NotFound: say it as a command failure
        raise CommandFailed(str(exc)) from None


def cmd_iprules_list(config: Config, args: argparse.Namespace) -> int:
    from bindery.security.models import GlobalIpRule, IpRule

    tenant, node = _rule_target(args)
    if tenant is None:
        rows = [(r.pk, r.action, r.network, "global", r.expires_at, f"{r.note} [{r.origin}]")
                for r in GlobalIpRule.objects.order_by("action", "network")[:5000]]
    else:
        rules = IpRule.objects.for_tenant(tenant).select_related("node").order_by("node__name", "action", "network")
        if node is not None:
            rules = rules.filter(node=node)
        rows = [(r.pk, r.action, r.network, f"node {r.node.name}" if r.node else f"tenant {tenant.slug}", None,
                 r.note) for r in rules]
    if not rows:
        print("No IP rules: every address is admitted (bans aside).")
        return 0
    print(f"{'ID':36} {'ACTION':6} {'NETWORK':43} {'SCOPE':24} {'EXPIRES':16} NOTE")
    for pk, action, network, scope, expires, note in rows:
        print(f"{pk!s:36} {action:6} {network:43} {scope[:24]:24} "
              f"{f'{expires:%Y-%m-%d %H:%M}' if expires else 'never':16} {note}")
    return 0


def cmd_iprules_add(config: Config, args: argparse.Namespace) -> int:
    from bindery.cli import CommandFailed
    from bindery.security.actions import do_add_global_ip_rule, do_add_ip_rule
    from bindery.security.iprules import IpRuleError

    tenant, node = _rule_target(args)
    try:
        if tenant is None:
            rule = do_add_global_ip_rule(args.action, args.network, note=args.note, actor="cli")
        else:
            rule = do_add_ip_rule(tenant, args.action, args.network, node=node, note=args.note, actor="cli")
    except IpRuleError as exc:
        raise CommandFailed(str(exc)) from None
    where = "every host" if tenant is None else f"node {node.name}" if node else f"tenant {tenant.slug}"
    print(f"Added rule {rule.pk}: {rule.action} {rule.network} for {where}.")
    return 0


def cmd_iprules_remove(config: Config, args: argparse.Namespace) -> int:
    import uuid

    from bindery.cli import CommandFailed
    from bindery.security.actions import do_remove_global_ip_rule, do_remove_ip_rule
    from bindery.security.iprules import IpRuleError, normalize_network
    from bindery.security.models import GlobalIpRule, IpRule

    tenant, node = _rule_target(args)
    target = args.target.strip()[:80]
    if tenant is None:
        rules = GlobalIpRule.objects.all()
        if target.isdigit():
            found = list(rules.filter(pk=int(target)))
        else:
            try:
                found = list(rules.filter(network=normalize_network(target)))
            except IpRuleError as exc:
                raise CommandFailed(f"{target!r} is neither a rule id nor an IP range: {exc}") from None
        for rule in found:
            do_remove_global_ip_rule(rule, actor="cli")
    else:
        tenant_rules = IpRule.objects.for_tenant(tenant).filter(node=node)
        try:
            found = list(tenant_rules.filter(pk=uuid.UUID(target)))
        except ValueError:
            try:
                found = list(tenant_rules.filter(network=normalize_network(target)))
            except IpRuleError as exc:
                raise CommandFailed(f"{target!r} is neither a rule id nor an IP range: {exc}") from None
        for rule in found:
            do_remove_ip_rule(rule, actor="cli")
    if not found:
        raise CommandFailed(f"no such rule: {target}")
    for rule in found:
        print(f"Removed rule {rule.pk}: {rule.action} {rule.network}.")
    return 0


# --- bindery firewall (bindery.ops.firewall) ---------------------------------------------------


def _firewall_ruleset(config: Config, args: argparse.Namespace) -> dict[str, Any]:
    from pathlib import Path

    from bindery.cli import CommandFailed
    from bindery.ops.firewall import PolicyError, blacklisted_networks, load_policy, render

    path = Path(args.policy) if args.policy else config.var_dir / "firewall.toml"
    try:
        policy = load_policy(path)
    except PolicyError as exc:
        raise CommandFailed(f"firewall policy {path}: {exc}") from None
    return render(policy, blacklisted_networks() if policy.blacklist else ())


def cmd_firewall_example(config: Config, args: argparse.Namespace) -> int:
    from bindery.ops.firewall import example_policy

    print(example_policy(https_port=config.https_port, http_port=config.http_port), end="")
    return 0


def cmd_firewall_render(config: Config, args: argparse.Namespace) -> int:
    import json

    print(json.dumps(_firewall_ruleset(config, args), indent=1))
    return 0


def cmd_firewall_check(config: Config, args: argparse.Namespace) -> int:
    from bindery.cli import CommandFailed
    from bindery.ops.firewall import NftError, run_nft, summary

    ruleset = _firewall_ruleset(config, args)
    try:
        run_nft(ruleset, check_only=True)
    except NftError as exc:
        raise CommandFailed(f"nft refused the ruleset: {exc}") from None
    print(f"OK (dry run, nothing applied): {summary(ruleset)}.")
    return 0


def cmd_firewall_apply(config: Config, args: argparse.Namespace) -> int:
    from bindery.cli import CommandFailed
    from bindery.ops.firewall import NftError, apply, summary

    ruleset = _firewall_ruleset(config, args)
    try:
        apply(ruleset)
    except NftError as exc:
        raise CommandFailed(f"nft refused the ruleset (nothing changed): {exc}") from None
    print(f"Applied {summary(ruleset)}; other tables untouched.")
    return 0


def cmd_firewall_watch(config: Config, args: argparse.Namespace) -> int:
    import contextlib
    from pathlib import Path

    from bindery.cli import CommandFailed
    from bindery.ops.firewall import NftError, PolicyError, Watcher

    if not config.firewall_manage:
        raise CommandFailed("this host does not manage its firewall: set BINDERY_FIREWALL_MANAGE=true to let "
                            "`bindery firewall watch` apply table inet bindery")
    path = Path(args.policy) if args.policy else config.var_dir / "firewall.toml"
    watcher = Watcher(path)
    if args.once:
        try:
            applied = watcher.step()
        except (PolicyError, NftError) as exc:
            raise CommandFailed(f"firewall not applied (nothing changed): {exc}") from None
        print("Applied." if applied else "Unchanged.")
        return 0
    interval = max(1.0, args.interval)
    print(f"Watching the blacklist and {path} every {interval:g} s (Ctrl-C stops).", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        watcher.run(interval=interval)
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
    q = bs.add_parser("promote", help="copy a source ban to the control plane: every host and firewall refuses it")
    q.add_argument("target", metavar="ID_OR_IP")
    q.set_defaults(func=cmd_blacklist_promote)
    p = add("iprules", cmd_iprules_list,
            "IP allow/deny rules: global (every host), per tenant (--tenant), per node (--tenant --node).")
    rs = p.add_subparsers(dest="action_name", metavar="ACTION", required=True)
    for name, func, text in (("list", cmd_iprules_list, "list the rules of one scope"),
                             ("add", cmd_iprules_add, "add a rule; deny wins, allow rules admit only their ranges"),
                             ("remove", cmd_iprules_remove, "remove a rule by id or by its range")):
        q = rs.add_parser(name, help=text)
        q.add_argument("--tenant", default="", metavar="SLUG", help="a tenant's rules (default: global rules)")
        q.add_argument("--node", default="", metavar="NODE", help="one node's rules (id or name; needs --tenant)")
        q.set_defaults(func=func)
        if name == "add":
            q.add_argument("action", choices=["allow", "deny"])
            q.add_argument("network", help="an address or CIDR: 192.0.2.0/24, 2001:db8::/48")
            q.add_argument("--note", default="")
        elif name == "remove":
            q.add_argument("target", metavar="ID_OR_NETWORK")
    p = add("firewall", cmd_firewall_render,
            "The host firewall: render the policy (with the blacklist) as nftables JSON, check it, apply it.")
    fs = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, func, text in (
            ("example", cmd_firewall_example, "print an example policy to start <VAR_DIR>/firewall.toml from"),
            ("render", cmd_firewall_render, "print the nftables ruleset (JSON, for nft -j -f)"),
            ("check", cmd_firewall_check, "dry-run the ruleset with nft -c (needs root, changes nothing)"),
            ("apply", cmd_firewall_apply, "check, then atomically replace table inet bindery (other tables stay)"),
            ("watch", cmd_firewall_watch, "re-apply whenever a ban, lift, promotion or the policy changes "
                                          "(needs BINDERY_FIREWALL_MANAGE=true)")):
        q = fs.add_parser(name, help=text)
        q.set_defaults(func=func)
        if name != "example":
            q.add_argument("--policy", default="", metavar="FILE", help="default: <VAR_DIR>/firewall.toml")
        if name == "watch":
            q.add_argument("--interval", type=float, default=10.0, metavar="SECONDS",
                           help="how often to look for changes (default 10, at least 1)")
            q.add_argument("--once", action="store_true", help="one look: apply if changed, then exit")
    p = add("security", cmd_events, "Security events: sign-in failures, bans, refusals, firewall blocks.")
    ss = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = ss.add_parser("events", help="recent events, newest first")
    q.add_argument("--kind", default="")
    q.add_argument("--ip", default="")
    q.add_argument("--account", default="", help="part of the account (workspace:e-mail or operator e-mail)")
    q.add_argument("--tenant", default="", metavar="SLUG")
    q.add_argument("--per-hour", action="store_true", help="counts per hour instead of the events")
    q.add_argument("--hours", type=int, default=24)
    q.add_argument("--limit", type=int, default=200)
    q.set_defaults(func=cmd_events)
