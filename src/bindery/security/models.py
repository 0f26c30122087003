"""API tokens: how other systems authenticate to a tenant's API."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

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
