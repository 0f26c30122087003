"""People: tenant users (host database) and platform operators (control database)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models

from bindery.control.models import ControlModel
from bindery.control.routers import HOST
from bindery.control.tenancy import TenantManager, TenantOwnedModel, new_id
from bindery.privacy.fields import (
    NO_MATCH,
    BlindIndexField,
    EncryptedCharField,
    EncryptedEmailField,
    EncryptedLookupError,
    blind_index,
)


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    OPERATOR = "operator", "Operator"
    VIEWER = "viewer", "Viewer"


def email_is(tenant: Any, email: str, *, using: str = HOST) -> models.Q:
    """Match rows whose encrypted ``email`` equals ``email`` (case-insensitive), by its blind index.

    A value that cannot be indexed (not text) matches nothing, like an unknown address.
    """
    if tenant is None:
        return models.Q(email_index=NO_MATCH)
    try:
        value = blind_index(tenant, str(email)[:320], using=using)
    except EncryptedLookupError:
        value = ""
    return models.Q(email_index=value or NO_MATCH)


def by_email(rows: Any) -> list[Any]:
    """Sort decrypted rows by e-mail (SQL cannot: the column holds ciphertext)."""
    return sorted(rows, key=lambda row: (str(row.email).lower(), str(row.pk)))


class UserManager(TenantManager):
    def get_by_natural_key(self, username: str) -> Any:  # pragma: no cover - not used for sign-in
        raise NotImplementedError("tenant users sign in with a tenant and an e-mail address")


class User(TenantOwnedModel, AbstractBaseUser):
    """A person working for one tenant. E-mail addresses are unique within a tenant.

    The e-mail and name are encrypted at rest under the tenant's keys (bindery.privacy.fields);
    sign-in, invitations and uniqueness go through the blind index ``email_index``.
    """

    email = EncryptedEmailField(max_length=254)
    email_index = BlindIndexField(source="email")
    name = EncryptedCharField(max_length=200, blank=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    is_active = models.BooleanField(default=True)
    must_change_password = models.BooleanField(default=False)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects = UserManager()  # type: ignore[misc]  # a TenantManager with the auth hooks

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "email_index"], condition=~models.Q(email_index=""),
                                    name="accounts_user_tenant_email"),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def is_staff(self) -> bool:
        """Tenant users never reach the operators' admin."""
        return False


class Operator(ControlModel, AbstractBaseUser):
    """A member of the platform's support team; signs in to the operators' admin at /ops/."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    # The admin asks these of request.user. Operators are all-or-nothing for now; finer
    # operator roles arrive with the accounts work.
    @property
    def is_staff(self) -> bool:
        return self.is_active

    @property
    def is_superuser(self) -> bool:
        return self.is_active

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return self.is_active

    def has_perms(self, perm_list: Any, obj: object = None) -> bool:
        return self.is_active

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_active


class AccountEvent(TenantOwnedModel):
    """One entry of a tenant's account activity log: sign-ins, failures, MFA, roles, invitations.

    ``actor`` is who did it (``user:<id>``, ``token:<id>``, ``operator:<id>``, ``system``);
    ``user`` the account it concerns, when there is one. Details never hold secrets.
    """

    kind = models.CharField(max_length=50)
    actor = models.CharField(max_length=100)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    email = EncryptedCharField(max_length=254, blank=True, help_text="the account's e-mail at the time")
    ip = models.GenericIPAddressField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.email}"


# --- Second factors ---------------------------------------------------------------------------


class TotpDeviceBase(models.Model):
    """A TOTP authenticator (RFC 6238) and the account's ten single-use recovery codes.

    ``secret`` is sealed with the platform's master key (bindery.security.envelope), bound to the
    account's id, so a copied row opens for no other account. ``last_step`` is the last time step
    accepted: a code is accepted once, never replayed. ``recovery_codes`` holds keyed hashes
    only; a used code's hash is removed in the same transaction that accepts it.
    """

    secret = models.BinaryField()
    confirmed_at = models.DateTimeField(null=True, blank=True, help_text="set once a first code was right")
    last_step = models.BigIntegerField(default=0)
    recovery_codes = models.JSONField(default=list, blank=True)
    recovery_codes_created_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class TotpDevice(TenantOwnedModel, TotpDeviceBase):
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="totp")


class OperatorTotpDevice(ControlModel, TotpDeviceBase):
    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    operator = models.OneToOneField(Operator, on_delete=models.CASCADE, related_name="totp")
    created_at = models.DateTimeField(auto_now_add=True)


class SecurityPolicy(TenantOwnedModel):
    """A tenant's rules for its people; one row per tenant, created on first change."""

    require_mfa = models.BooleanField(default=False, help_text="every member must use a second factor")
    idle_minutes = models.PositiveIntegerField(default=60, help_text="sign out after this long without a request")
    absolute_hours = models.PositiveIntegerField(default=12, help_text="sign out this long after signing in")

    class Meta:
        constraints = [models.UniqueConstraint("tenant", name="accounts_securitypolicy_one_per_tenant")]


class LinkPurpose(models.TextChoices):
    INVITATION = "invitation", "Invitation"
    PASSWORD_RESET = "password_reset", "Password reset"


class OneTimeLink(TenantOwnedModel):
    """An e-mailed, single-use, expiring link: an invitation to join or a password reset.

    Only a keyed hash of the link's secret is stored; ``used_at`` is set in the transaction that
    acts on it (row locked), so a link works once however often it is clicked.
    """

    purpose = models.CharField(max_length=20, choices=LinkPurpose.choices)
    email = EncryptedEmailField(max_length=254)
    email_index = BlindIndexField(source="email")
    role = models.CharField(max_length=20, choices=Role.choices, blank=True)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.CharField(max_length=100)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "purpose", "email_index"], name="accounts_link_email_index")]

    def __str__(self) -> str:
        return f"{self.purpose} {self.email}"


class UserSession(TenantOwnedModel):
    """A signed-in browser of a tenant user: listed to its owner, ended one by one or all at once.

    ``key_hash`` is a keyed hash of the session key (the key itself is a credential). The session
    guard checks this row on every request: ended, idle too long or too old means signed out.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    key_hash = models.CharField(max_length=64, unique=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    last_seen_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_reason = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]
        indexes = [models.Index(fields=["user", "ended_at"])]


class SupportGrant(TenantOwnedModel):
    """An operator's time-limited, reasoned access to one tenant's data, shown to its owners.

    Operators reach no tenant data without one; owners see every grant (and can end it) on the
    activity page, and each grant is an account event.
    """

    operator_id = models.UUIDField()
    operator_email = EncryptedEmailField(max_length=254)
    reason = models.CharField(max_length=500)
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "expires_at"])]

    def __str__(self) -> str:
        return f"support access by {self.operator_email}"


class PasskeyCredential(TenantOwnedModel):
    """A passkey (WebAuthn credential) a member registered as a second way through the second step."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="passkeys")
    credential_id = models.CharField(max_length=1400, unique=True, help_text="base64url")
    public_key = models.BinaryField()
    sign_count = models.PositiveBigIntegerField(default=0)
    name = models.CharField(max_length=100)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
