"""Second factors: TOTP authenticators and single-use recovery codes, for tenant users and operators.

pyotp does the RFC 6238 arithmetic; this module adds what a platform needs around it: the secret
sealed at rest with the master key, a code accepted once (``last_step``), ten recovery codes kept
as keyed hashes and spent under a row lock, and a QR code drawn as inline SVG (segno) so the
enrolment page needs no script and no third party.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pyotp
import segno
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from bindery.accounts.models import Operator, OperatorTotpDevice, PasskeyCredential, TotpDevice, TotpDeviceBase, User
from bindery.control.routers import CONTROL, HOST
from bindery.security import envelope

ISSUER = "Bindery"
RECOVERY_CODE_COUNT = 10
RECOVERY_SALT = "bindery.accounts.recovery_code"
STEP_SECONDS = 30
# One step either side: a phone clock 30 s off still works, a code older than 60 s does not.
VALID_WINDOW = 1
MAX_CODE_LENGTH = 64  # anything longer is not a code; refuse it before any work


class Method(StrEnum):
    TOTP = "totp"
    RECOVERY_CODE = "recovery_code"


class MfaError(ValueError):
    """A second-factor request was refused; the message says why to a person."""


Account = User | Operator


@dataclass(frozen=True)
class Enrolment:
    secret: str  # base32, shown once for manual entry
    uri: str  # otpauth:// URI, encoded in the QR code

    def qr_svg_data_uri(self) -> str:
        return segno.make(self.uri, error="m").svg_data_uri(scale=4, border=2)

    def __repr__(self) -> str:  # never show the secret in logs or tracebacks
        return "Enrolment(<secret>)"


def _database(account: Account) -> str:
    return CONTROL if isinstance(account, Operator) else HOST


def _devices(account: Account) -> Any:
    if isinstance(account, Operator):
        return OperatorTotpDevice.objects.filter(operator=account)
    return TotpDevice.objects.unscoped().filter(user=account)


def _aad(account: Account) -> bytes:
    realm = "operator" if isinstance(account, Operator) else "user"
    return f"bindery.totp:{realm}:{account.pk}".encode()


def _secret(device: TotpDeviceBase, account: Account) -> str:
    return envelope.open_sealed(bytes(device.secret), envelope.keyring(), aad=_aad(account)).decode()


def confirmed_device(account: Account) -> TotpDeviceBase | None:
    device: TotpDeviceBase | None = _devices(account).filter(confirmed_at__isnull=False).first()
    return device


def has_mfa(account: Account) -> bool:
    return _devices(account).filter(confirmed_at__isnull=False).exists()


def start_enrolment(account: Account) -> Enrolment:
    """Make a new secret for ``account`` (replacing an unconfirmed one); a confirmed one stays."""
    if has_mfa(account):
        raise MfaError("an authenticator is already set up; remove it first")
    secret = pyotp.random_base32(length=32)  # 160 bits, RFC 4226's recommendation
    sealed = envelope.seal(secret.encode(), envelope.keyring(), aad=_aad(account))
    with transaction.atomic(using=_database(account)):
        _devices(account).delete()
        if isinstance(account, Operator):
            OperatorTotpDevice.objects.create(operator=account, secret=sealed)
        else:
            TotpDevice.objects.create(tenant_id=account.tenant_id, user=account, secret=sealed)
    label = account.email if isinstance(account, Operator) else f"{account.tenant.slug}:{account.email}"
    uri = pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(name=label, issuer_name=ISSUER)
    return Enrolment(secret=secret, uri=uri)


def _normalize_code(code: str) -> str:
    return "".join(ch for ch in str(code).lower() if ch.isalnum())


def _hash_recovery_code(account: Account, code: str) -> str:
    return salted_hmac(RECOVERY_SALT, f"{account.pk}:{_normalize_code(code)}", algorithm="sha256").hexdigest()


def _new_recovery_codes(account: Account) -> tuple[list[str], list[str]]:
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()[:10]  # 50 bits each
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes, [_hash_recovery_code(account, code) for code in codes]


def _matching_step(secret: str, code: str, last_step: int, now: dt.datetime) -> int | None:
    """Return the time step ``code`` belongs to (within the window, after ``last_step``), else None."""
    digits = _normalize_code(code)
    if len(digits) != 6 or not digits.isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    current = int(now.timestamp()) // STEP_SECONDS
    found = None
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        # Compare every candidate (no early exit): the time taken does not say which step matched.
        if constant_time_compare(totp.at(step * STEP_SECONDS), digits) and step > last_step and found is None:
            found = step
    return found


def confirm_enrolment(account: Account, code: str) -> list[str]:
    """Check the first code from the new authenticator; return the ten recovery codes (shown once)."""
    if len(str(code)) > MAX_CODE_LENGTH:
        raise MfaError("that code is not right")
    with transaction.atomic(using=_database(account)):
        device = _devices(account).select_for_update().first()
        if device is None or device.confirmed_at is not None:
            raise MfaError("start the set-up again")
        step = _matching_step(_secret(device, account), code, device.last_step, timezone.now())
        if step is None:
            raise MfaError("that code is not right; check the time on your phone and try the next one")
        codes, hashes = _new_recovery_codes(account)
        device.confirmed_at = timezone.now()
        device.last_step = step
        device.recovery_codes = hashes
        device.recovery_codes_created_at = device.confirmed_at
        device.save(update_fields=["confirmed_at", "last_step", "recovery_codes", "recovery_codes_created_at"])
    return codes


def verify(account: Account, code: str) -> Method | None:
    """Accept a current TOTP code or an unused recovery code once; return how, or None."""
    if not code or len(str(code)) > MAX_CODE_LENGTH:
        return None
    with transaction.atomic(using=_database(account)):
        device = _devices(account).select_for_update().filter(confirmed_at__isnull=False).first()
        if device is None:
            return None
        step = _matching_step(_secret(device, account), code, device.last_step, timezone.now())
        if step is not None:
            device.last_step = step
            device.save(update_fields=["last_step"])
            return Method.TOTP
        wanted = _hash_recovery_code(account, code)
        remaining = [h for h in device.recovery_codes if not constant_time_compare(h, wanted)]
        if len(remaining) == len(device.recovery_codes):
            return None
        device.recovery_codes = remaining
        device.save(update_fields=["recovery_codes"])
        return Method.RECOVERY_CODE


def recovery_codes_left(account: Account) -> int:
    device = confirmed_device(account)
    return len(device.recovery_codes) if device else 0


def regenerate_recovery_codes(account: Account) -> list[str]:
    """Replace every recovery code (the old ones stop working); return the new ones, shown once."""
    with transaction.atomic(using=_database(account)):
        device = _devices(account).select_for_update().filter(confirmed_at__isnull=False).first()
        if device is None:
            raise MfaError("set up an authenticator first")
        codes, hashes = _new_recovery_codes(account)
        device.recovery_codes = hashes
        device.recovery_codes_created_at = timezone.now()
        device.save(update_fields=["recovery_codes", "recovery_codes_created_at"])
    return codes


def disable(account: Account) -> bool:
    """Remove the authenticator and its recovery codes; return whether there was one."""
    with transaction.atomic(using=_database(account)):
        deleted, _ = _devices(account).delete()
        if isinstance(account, User):  # passkeys are a second way in only while MFA is on
            PasskeyCredential.objects.for_tenant(account.tenant_id).filter(user=account).delete()
    return bool(deleted)
