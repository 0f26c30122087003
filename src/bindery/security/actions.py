"""Writes to API tokens: create, revoke, rotate and record use.

Plaintext tokens are returned to the caller exactly once and never stored or logged; log
lines name tokens by their row id and public lookup id only. (Log field names avoid the word
"token": the log filter redacts any field whose name contains it.)
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from bindery.accounts.activity import EventKind, record_event
from bindery.control.actors import actor_label
from bindery.control.models import LocalTenant
from bindery.control.routers import HOST
from bindery.security.errors import TokenActionError, TokenError
from bindery.security.models import ApiToken, TokenState
from bindery.security.scopes import normalize_scopes
from bindery.security.tokens import generate_token, hash_token, new_lookup

logger = logging.getLogger(__name__)

MAX_LIFETIME = dt.timedelta(days=3650)
MAX_OVERLAP = dt.timedelta(days=30)
# last_used_at is for people ("is this integration still alive?"): minute precision is plenty
# and saves a write on every API request.
USE_RECORD_INTERVAL = dt.timedelta(minutes=1)


def _check_lifetime(expires_in: dt.timedelta | None) -> None:
    if expires_in is not None and not dt.timedelta(0) < expires_in <= MAX_LIFETIME:
        raise TokenActionError(TokenError.INVALID_EXPIRY, "expiry must be between now and 10 years from now")


@sensitive_variables("plaintext")
def _insert_token(tenant_id: Any, *, name: str, scopes: list[str], now: dt.datetime,
                  lifetime: dt.timedelta | None, created_by: str, node_id: Any = None) -> tuple[ApiToken, str]:
    expires_at = now + lifetime if lifetime is not None else None
    for attempt in range(5):
        lookup = new_lookup()
        plaintext = generate_token(lookup)
        row = ApiToken(tenant_id=tenant_id, name=name, lookup=lookup, secret_hash=hash_token(tenant_id, plaintext),
                       scopes=scopes, expires_at=expires_at, lifetime=lifetime, created_by=created_by,
                       node_id=node_id)
        try:
            with transaction.atomic(using=HOST):  # a savepoint, so a lookup collision can be retried
                row.save(force_insert=True)
        except IntegrityError:
            if attempt == 4:
                raise
            continue
        return row, plaintext
    raise AssertionError("unreachable")


@sensitive_variables("plaintext")
def do_create_api_token(tenant: LocalTenant, name: str, scopes: Iterable[str], *,
                        expires_in: dt.timedelta | None = None, node: Any = None, actor: Any,
                        now: dt.datetime | None = None) -> tuple[ApiToken, str]:
    """Create a token; return the row and the plaintext, which the caller shows once and forgets.

    With ``node`` (an API node of the tenant) the token is that node's: it opens only the node's
    connector endpoints (``/api/connectors/<id>/...``), within its scopes.
    """
    name = name.strip()
    if not name or len(name) > 100:
        raise TokenActionError(TokenError.INVALID_NAME, "a token needs a name of 1-100 characters")
    clean_scopes = normalize_scopes(scopes)
    _check_lifetime(expires_in)
    if node is not None:
        _check_token_node(tenant, node)
    row, plaintext = _insert_token(tenant.pk, name=name, scopes=clean_scopes, now=now or timezone.now(),
                                   lifetime=expires_in, created_by=actor_label(actor),
                                   node_id=node.pk if node is not None else None)
    logger.info("api token created", extra={"event": "api_token.created", "tenant": tenant.slug,
                                             "row_id": str(row.pk), "lookup_id": row.lookup,
                                             "scopes": ",".join(clean_scopes), "actor": actor_label(actor)})
    record_event(tenant.pk, EventKind.TOKEN_CREATED, actor=actor,
                 detail={"name": name, "lookup": row.lookup, "scopes": clean_scopes,
                         **({"node": str(node.pk)} if node is not None else {})})
    return row, plaintext


TOKEN_NODE_TECHNOLOGIES = ("bindery_api", "logistics")


def _check_token_node(tenant: LocalTenant, node: Any) -> None:
    if node.tenant_id != tenant.pk:
        raise TokenActionError(TokenError.UNKNOWN_NODE, "no such node")
    if node.technology not in TOKEN_NODE_TECHNOLOGIES:
        raise TokenActionError(TokenError.UNKNOWN_NODE,
                               f"node {node.name!r} is a {node.technology} node; tokens belong to "
                               f"{', '.join(TOKEN_NODE_TECHNOLOGIES)} nodes")


def do_revoke_api_token(token: ApiToken, *, actor: Any, now: dt.datetime | None = None) -> bool:
    """Revoke a token at once; return False if it was already revoked (revoking is idempotent)."""
    now = now or timezone.now()
    changed = ApiToken.objects.for_tenant(token.tenant_id).filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=actor_label(actor), modified_at=now)
    if changed:
        token.revoked_at, token.revoked_by = now, actor_label(actor)
        logger.info("api token revoked", extra={"event": "api_token.revoked", "row_id": str(token.pk),
                                                 "lookup_id": token.lookup, "actor": actor_label(actor)})
    return bool(changed)


@sensitive_variables("plaintext")
def do_rotate_api_token(token: ApiToken, *, overlap: dt.timedelta, actor: Any,
                        expires_in: dt.timedelta | None = None,
                        now: dt.datetime | None = None) -> tuple[ApiToken, str]:
    """Replace a token by a new one with the same name and scopes; return it and its plaintext once.

    The old token keeps working for ``overlap`` (so integrations can be switched without an
    outage; zero stops it at once), never past its own expiry. The new token gets ``expires_in``
    or, by default, the same lifetime the old one was created with.
    """
    if not dt.timedelta(0) <= overlap <= MAX_OVERLAP:
        raise TokenActionError(TokenError.INVALID_OVERLAP, "the overlap must be between 0 and 30 days")
    _check_lifetime(expires_in)
    now = now or timezone.now()
    with transaction.atomic(using=HOST):
        # Lock the row: two concurrent rotations must not both create a successor.
        old = ApiToken.objects.for_tenant(token.tenant_id).select_for_update().get(pk=token.pk)
        state = old.state(now)
        if state is TokenState.REVOKED:
            raise TokenActionError(TokenError.REVOKED, f"token {old.display_prefix} is revoked")
        if state is TokenState.EXPIRED:
            raise TokenActionError(TokenError.EXPIRED, f"token {old.display_prefix} has expired")
        if old.replaced_by_id is not None:
            raise TokenActionError(TokenError.ALREADY_ROTATED, f"token {old.display_prefix} was already rotated")
        new, plaintext = _insert_token(old.tenant_id, name=old.name, scopes=list(old.scopes), now=now,
                                       lifetime=expires_in if expires_in is not None else old.lifetime,
                                       created_by=actor_label(actor), node_id=old.node_id)
        grace = now + overlap
        if old.expires_at is not None:
            grace = min(grace, old.expires_at)
        old.replaced_by, old.rotation_grace_until = new, grace
        old.save(update_fields=["replaced_by", "rotation_grace_until", "modified_at"])
    token.replaced_by, token.rotation_grace_until = new, grace
    logger.info("api token rotated", extra={"event": "api_token.rotated", "row_id": str(old.pk),
                                             "lookup_id": old.lookup, "new_row_id": str(new.pk),
                                             "new_lookup_id": new.lookup, "grace_until": grace.isoformat(),
                                             "actor": actor_label(actor)})
    return new, plaintext


def do_record_token_use(token: ApiToken, ip: str | None, *, now: dt.datetime | None = None) -> bool:
    """Record when and from where a token was last used, at most once a minute; return whether it wrote.

    The conditional UPDATE makes concurrent requests (several workers) write at most once per
    interval, and a recent in-memory value skips the database altogether.
    """
    now = now or timezone.now()
    threshold = now - USE_RECORD_INTERVAL
    if token.last_used_at is not None and token.last_used_at > threshold:
        return False
    try:
        clean_ip: str | None = str(ipaddress.ip_address(ip)) if ip else None
    except ValueError:
        clean_ip = None
    changed = (ApiToken.objects.for_tenant(token.tenant_id)
               .filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=threshold), pk=token.pk)
               .update(last_used_at=now, last_used_ip=clean_ip))
    token.last_used_at = now
    if changed:
        token.last_used_ip = clean_ip
    return bool(changed)


# --- IP rules and promoted bans (bindery.security.iprules) --------------------------------------

MAX_TENANT_RULES = 500  # per tenant, nodes included
MAX_GLOBAL_RULES = 50_000  # promoted bans included
MAX_NOTE = 200


def _clean_rule_input(action: str, network: str, note: str) -> tuple[str, str, str]:
    from bindery.security.iprules import IpRuleError, normalize_network
    from bindery.security.models import IpRuleAction

    if action not in IpRuleAction.values:
        raise IpRuleError("invalid_action", f"action must be allow or deny, not {str(action)[:20]!r}")
    note = (note or "").strip()
    if len(note) > MAX_NOTE or not note.isprintable():
        raise IpRuleError("invalid_note", f"a note is at most {MAX_NOTE} printable characters")
    return action, normalize_network(network), note


def do_add_ip_rule(tenant: LocalTenant, action: str, network: str, *, node: Any = None, note: str = "",
                   actor: Any) -> Any:
    """Add an allow or deny rule for the tenant (or one of its nodes); return the rule.

    Raises :class:`~bindery.security.iprules.IpRuleError` for a bad CIDR, a duplicate, a node of
    another tenant or too many rules. Takes effect in this process at once, elsewhere within
    the rules cache's few seconds.
    """
    from bindery.security.bruteforce import record_event
    from bindery.security.iprules import IpRuleError, TenantRules
    from bindery.security.models import IpRule, SecurityEventKind

    action, net, note = _clean_rule_input(action, network, note)
    if node is not None and node.tenant_id != tenant.pk:
        raise IpRuleError("unknown_node", "no such node")
    with transaction.atomic(using=HOST):
        rules = IpRule.objects.for_tenant(tenant)
        if rules.count() >= MAX_TENANT_RULES:
            raise IpRuleError("too_many_rules", f"a workspace has at most {MAX_TENANT_RULES} IP rules")
        if rules.filter(action=action, network=net, node=node).exists():
            raise IpRuleError("duplicate_rule", f"the rule {action} {net} already exists")
        rule = IpRule.objects.create(tenant=tenant, action=action, network=net, node=node, note=note,
                                     created_by=actor_label(actor))
        record_event(SecurityEventKind.IP_RULE_ADDED, tenant_id=tenant.pk, action=action, network=net,
                     node_id=str(node.pk) if node is not None else None, by=actor_label(actor))
    TenantRules.forget(tenant.pk)
    return rule


def do_remove_ip_rule(rule: Any, *, actor: Any) -> None:
    from bindery.security.bruteforce import record_event
    from bindery.security.iprules import TenantRules
    from bindery.security.models import IpRule, SecurityEventKind

    with transaction.atomic(using=HOST):
        IpRule.objects.for_tenant(rule.tenant_id).filter(pk=rule.pk).delete()
        record_event(SecurityEventKind.IP_RULE_REMOVED, tenant_id=rule.tenant_id, action=rule.action,
                     network=rule.network, node_id=str(rule.node_id) if rule.node_id else None,
                     by=actor_label(actor))
    TenantRules.forget(rule.tenant_id)


def do_add_global_ip_rule(action: str, network: str, *, note: str = "", expires_at: dt.datetime | None = None,
                          actor: Any) -> Any:
    """Add a rule for every host (control plane); hosts pick it up within their cache's few seconds."""
    from bindery.control.routers import CONTROL
    from bindery.security.bruteforce import record_event
    from bindery.security.iprules import GlobalRules, IpRuleError
    from bindery.security.models import GlobalIpRule, SecurityEventKind

    action, net, note = _clean_rule_input(action, network, note)
    with transaction.atomic(using=CONTROL):
        if GlobalIpRule.objects.count() >= MAX_GLOBAL_RULES:
            raise IpRuleError("too_many_rules", f"at most {MAX_GLOBAL_RULES} global IP rules")
        if GlobalIpRule.objects.filter(action=action, network=net).exists():
            raise IpRuleError("duplicate_rule", f"the global rule {action} {net} already exists")
        rule = GlobalIpRule.objects.create(action=action, network=net, note=note, expires_at=expires_at,
                                           created_by=actor_label(actor))
    record_event(SecurityEventKind.IP_RULE_ADDED, scope="global", action=action, network=net,
                 by=actor_label(actor))
    GlobalRules.forget()
    return rule


def do_remove_global_ip_rule(rule: Any, *, actor: Any) -> None:
    from bindery.security.bruteforce import record_event
    from bindery.security.iprules import GlobalRules
    from bindery.security.models import GlobalIpRule, SecurityEventKind

    GlobalIpRule.objects.filter(pk=rule.pk).delete()
    record_event(SecurityEventKind.IP_RULE_REMOVED, scope="global", action=rule.action, network=rule.network,
                 by=actor_label(actor))
    GlobalRules.forget()


def do_promote_ban(ban: Any, *, actor: Any, now: dt.datetime | None = None) -> Any:
    """Copy an active source ban to the control plane as a global deny rule ending with the ban.

    Every host then refuses the source from its cached global rules, and every host's firewall
    render drops it. Promoting again (or a longer ban) only ever extends the rule; a permanent
    operator rule for the same range stays permanent.
    """
    from django.conf import settings

    from bindery.control.routers import CONTROL
    from bindery.security.bruteforce import record_event
    from bindery.security.iprules import GlobalRules, IpRuleError
    from bindery.security.models import BanScope, GlobalIpRule, GlobalIpRuleOrigin, IpRuleAction, SecurityEventKind

    now = now or timezone.now()
    if ban.scope != BanScope.SOURCE:
        raise IpRuleError("not_promotable", "only bans of a whole source can be promoted, not account+source bans")
    if ban.until <= now:
        raise IpRuleError("not_promotable", f"the ban on {ban.source} is no longer active")
    net = normalize_ban_source(ban.source)
    with transaction.atomic(using=CONTROL):
        rule = GlobalIpRule.objects.select_for_update().filter(action=IpRuleAction.DENY, network=net).first()
        if rule is None:
            rule = GlobalIpRule.objects.create(
                action=IpRuleAction.DENY, network=net, note=ban.reason[:MAX_NOTE], expires_at=ban.until,
                origin=GlobalIpRuleOrigin.PROMOTED_BAN, origin_host=settings.BINDERY_HOST_NAME[:63],
                created_by=actor_label(actor))
        elif rule.expires_at is not None and rule.expires_at < ban.until:
            rule.expires_at = ban.until
            rule.save(update_fields=["expires_at"])
    record_event(SecurityEventKind.BAN_PROMOTED, ip=ban.source, network=net, until=ban.until.isoformat(),
                 rule_id=rule.pk, by=actor_label(actor))
    GlobalRules.forget()
    return rule


def normalize_ban_source(source: str) -> str:
    """Return a ban's source as a CIDR: an IPv4 address as /32, an IPv6 /64 as it is."""
    net = ipaddress.ip_network(source, strict=False)
    return str(net)
