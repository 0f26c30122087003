"""API tokens: how other systems authenticate to a tenant's API."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import ClassVar

from django.db import models

from bindery.control.tenancy import TenantOwnedModel


class TokenState(StrEnum):
    ACTIVE = "active"
    ROTATING = "rotating"  # replaced, still accepted until rotation_grace_until
    ROTATED = "rotated"  # replaced, overlap over
    EXPIRED = "expired"
    REVOKED = "revoked"


class ApiToken(TenantOwnedModel):
    """One API token of a tenant; the secret itself is never stored, only a keyed hash.

    The lookup id is unique across tenants: the presented token finds its row (and so its
    tenant) without knowing the tenant first.
    """

    name = models.CharField(max_length=100)
    lookup = models.CharField(max_length=12, unique=True, help_text="public id, the part after bnd_")
    secret_hash = models.CharField(max_length=64, help_text="HMAC-SHA256 of the token; see security.tokens")
    scopes = models.JSONField(default=list)
    created_by = models.CharField(max_length=100)
    expires_at = models.DateTimeField(null=True, blank=True)
    lifetime = models.DurationField(null=True, blank=True, help_text="what expires_at was set from; reused on rotation")
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=100, blank=True)
    replaced_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rotation_grace_until = models.DateTimeField(
        null=True, blank=True, help_text="after a rotation, the old token works until this moment"
    )
    node = models.ForeignKey(
        "integration.Node", null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens",
        help_text="an API node's token: valid only on that node's connector endpoints, never on /api/v1/",
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "created_at"])]

    def __str__(self) -> str:
        return f"{self.display_prefix} ({self.name})"

    @property
    def display_prefix(self) -> str:
        """Return the public start of the token (``bnd_<lookup>``), safe to show and log."""
        return f"bnd_{self.lookup}"

    def state(self, now: dt.datetime) -> TokenState:
        """Return the token's state at ``now``; only ACTIVE and ROTATING tokens authenticate."""
        if self.revoked_at is not None:
            return TokenState.REVOKED
        if self.expires_at is not None and now >= self.expires_at:
            return TokenState.EXPIRED
        if self.rotation_grace_until is not None:
            return TokenState.ROTATING if now < self.rotation_grace_until else TokenState.ROTATED
        return TokenState.ACTIVE

    def is_usable(self, now: dt.datetime) -> bool:
        return self.state(now) in (TokenState.ACTIVE, TokenState.ROTATING)


class BanScope(models.TextChoices):
    SOURCE = "source", "IP address or IPv6 /64"
    ACCOUNT_SOURCE = "account_source", "Account from one source"


class Ban(models.Model):
    """A blacklist entry: requests from the source (or to the account from it) are refused until ``until``.

    Host-local, not tenant-owned: sources attack the host, whatever tenant they aim at.
    """

    id = models.BigAutoField(primary_key=True)
    scope = models.CharField(max_length=20, choices=BanScope.choices)
    source = models.CharField(max_length=64, help_text="an IP address or an IPv6 /64")
    account = models.CharField(max_length=320, blank=True, help_text="workspace:e-mail or operator e-mail")
    level = models.PositiveIntegerField(default=1, help_text="how many times this has been banned; sets the length")
    until = models.DateTimeField()
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "source", "account"], name="security_ban_once")]
        indexes = [models.Index(fields=["source", "until"], name="security_ban_source")]


class FailureCounter(models.Model):
    """Failed attempts of one key in the current window; updated atomically (``F() + 1``)."""

    id = models.BigAutoField(primary_key=True)
    key = models.CharField(max_length=400, unique=True)
    count = models.PositiveIntegerField(default=0)
    window_start = models.DateTimeField()


class KnownSource(models.Model):
    """A source an account has signed in from: its real user is never throttled there."""

    id = models.BigAutoField(primary_key=True)
    account = models.CharField(max_length=320)
    source = models.CharField(max_length=64)
    last_success_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "source"], name="security_known_source_once")]


class SecurityEventKind(models.TextChoices):
    SIGN_IN_FAILED = "sign_in_failed", "Sign-in failed"
    TOKEN_FAILED = "token_failed", "API token refused"
    BANNED = "banned", "Source banned"
    BAN_LIFTED = "ban_lifted", "Ban lifted"
    REFUSED = "refused", "Request from a banned source refused"
    THROTTLED = "throttled", "Attempt on an attacked account throttled"
    WAF_BLOCK = "waf_block", "Blocked by the application firewall"
    WAF_DETECT = "waf_detect", "Detected by the application firewall (not blocked)"
    IP_REFUSED = "ip_refused", "Request refused by an IP rule"
    IP_RULE_ADDED = "ip_rule_added", "IP rule added"
    IP_RULE_REMOVED = "ip_rule_removed", "IP rule removed"
    CALL_REFUSED = "call_refused", "Connector call refused"
    WEBHOOK_REFUSED = "webhook_refused", "Webhook refused"
    BAN_PROMOTED = "ban_promoted", "Ban promoted to every host"
    SNAPSHOT_REFUSED = "snapshot_refused", "Backup snapshot request refused"


class SecurityEvent(models.Model):
    """One security-relevant decision, for operators to search (never a password or token)."""

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=20, choices=SecurityEventKind.choices)
    ip = models.CharField(max_length=64, blank=True)
    account = models.CharField(max_length=320, blank=True)
    tenant_id = models.UUIDField(null=True, blank=True)
    detail = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "created_at"], name="security_event_kind_time")]


class IpRuleAction(models.TextChoices):
    ALLOW = "allow", "Allow"
    DENY = "deny", "Deny"


class GlobalIpRuleOrigin(models.TextChoices):
    OPERATOR = "operator", "Added by an operator"
    PROMOTED_BAN = "promoted_ban", "A host's ban, promoted to every host"


class GlobalIpRule(models.Model):
    """An allow or deny rule for every host (control plane); hosts keep a cached copy.

    A promoted ban is a deny rule with an expiry (the ban's end) and the host it came from.
    """

    database_role: ClassVar[str] = "control"

    id = models.BigAutoField(primary_key=True)
    action = models.CharField(max_length=5, choices=IpRuleAction.choices)
    network = models.CharField(max_length=43, help_text="a normalized CIDR: 192.0.2.0/24, 2001:db8::/48")
    note = models.CharField(max_length=200, blank=True)
    origin = models.CharField(max_length=20, choices=GlobalIpRuleOrigin.choices, default=GlobalIpRuleOrigin.OPERATOR)
    origin_host = models.CharField(max_length=63, blank=True, help_text="the host whose ban was promoted")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="empty: until removed")
    created_by = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["action", "network"]
        constraints = [models.UniqueConstraint(fields=["action", "network"], name="security_global_ip_rule_once")]

    def __str__(self) -> str:
        return f"{self.action} {self.network}"


class IpRule(TenantOwnedModel):
    """A tenant's allow or deny rule, for the whole tenant or (with ``node``) one integration node."""

    action = models.CharField(max_length=5, choices=IpRuleAction.choices)
    network = models.CharField(max_length=43, help_text="a normalized CIDR: 192.0.2.0/24, 2001:db8::/48")
    node = models.ForeignKey("integration.Node", null=True, blank=True, on_delete=models.CASCADE,
                             related_name="ip_rules", help_text="empty: the whole tenant (console and API tokens)")
    note = models.CharField(max_length=200, blank=True)
    created_by = models.CharField(max_length=100)

    class Meta:
        ordering = ["action", "network"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "action", "network"], condition=models.Q(node__isnull=True),
                                    name="security_ip_rule_tenant_once"),
            models.UniqueConstraint(fields=["tenant", "node", "action", "network"],
                                    condition=models.Q(node__isnull=False), name="security_ip_rule_node_once"),
        ]
        indexes = [models.Index(fields=["tenant", "node"], name="security_ip_rule_tenant")]

    def __str__(self) -> str:
        return f"{self.action} {self.network}"
