"""Passkeys (WebAuthn) as a second way through the second step, beside TOTP.

py_webauthn checks the ceremonies (challenge, origin, relying party, signature, counter); this
module keeps the challenge in the session between the two requests of each ceremony and stores
credentials. The relying party is the platform's public address (``BINDERY_PUBLIC_URL``), so a
passkey made for it works nowhere else. Passkeys are added once TOTP is on: the recovery codes
live with it, and a lost phone must not leave an account with no way back.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import webauthn
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from bindery.accounts.models import PasskeyCredential, User
from bindery.control.routers import HOST

REGISTER_KEY = "bindery_passkey_register"
SIGN_IN_KEY = "bindery_passkey_sign_in"
MAX_BODY = 64 * 1024  # a WebAuthn response is a few kilobytes
MAX_PER_USER = 10


class PasskeyError(ValueError):
    """The ceremony failed; the message says why to a person."""


def _origin() -> str:
    return str(settings.BINDERY_PUBLIC_URL)


def _rp_id() -> str:
    return urlsplit(_origin()).hostname or "localhost"


def passkeys_of(user: User) -> list[PasskeyCredential]:
    return list(PasskeyCredential.objects.for_tenant(user.tenant_id).filter(user=user))


def registration_options(request: HttpRequest, user: User) -> str:
    options = webauthn.generate_registration_options(
        rp_id=_rp_id(), rp_name="Bindery", user_name=f"{user.tenant.slug}:{user.email}",
        user_id=user.pk.bytes, user_display_name=user.name or user.email,
        exclude_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
                             for p in passkeys_of(user)],
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED, user_verification=UserVerificationRequirement.PREFERRED))
    request.session[REGISTER_KEY] = bytes_to_base64url(options.challenge)
    return webauthn.options_to_json(options)


def _parse(body: bytes | str) -> dict[str, Any]:
    if len(body) > MAX_BODY:
        raise PasskeyError("the answer from the browser is too large")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise PasskeyError("the answer from the browser is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("credential"), dict):
        raise PasskeyError("the answer from the browser has no credential")
    return data


def register(request: HttpRequest, user: User, body: bytes) -> PasskeyCredential:
    data = _parse(body)
    challenge = request.session.pop(REGISTER_KEY, None)
    if not challenge:
        raise PasskeyError("start adding the passkey again")
    if len(passkeys_of(user)) >= MAX_PER_USER:
        raise PasskeyError(f"at most {MAX_PER_USER} passkeys per account")
    try:
        verified = webauthn.verify_registration_response(
            credential=data["credential"], expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=_rp_id(), expected_origin=_origin())
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyError(f"the passkey was not accepted ({exc})") from None
    name = " ".join(str(data.get("name") or "Passkey").split())[:100] or "Passkey"
    with transaction.atomic(using=HOST):
        return PasskeyCredential.objects.create(
            tenant_id=user.tenant_id, user=user, credential_id=bytes_to_base64url(verified.credential_id),
            public_key=verified.credential_public_key, sign_count=verified.sign_count, name=name)


def authentication_options(request: HttpRequest, user: User) -> str:
    credentials = passkeys_of(user)
    if not credentials:
        raise PasskeyError("this account has no passkey")
    options = webauthn.generate_authentication_options(
        rp_id=_rp_id(), user_verification=UserVerificationRequirement.PREFERRED,
        allow_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
                           for p in credentials])
    request.session[SIGN_IN_KEY] = bytes_to_base64url(options.challenge)
    return webauthn.options_to_json(options)


def authenticate(request: HttpRequest, user: User, body: bytes) -> PasskeyCredential:
    """Check a signed challenge from one of ``user``'s passkeys; the challenge is used once."""
    data = _parse(body)
    challenge = request.session.pop(SIGN_IN_KEY, None)
    if not challenge:
        raise PasskeyError("start again")
    raw_id = str(data["credential"].get("id", ""))[:1400]
    with transaction.atomic(using=HOST):
        stored = PasskeyCredential.objects.for_tenant(user.tenant_id).select_for_update().filter(
            user=user, credential_id=raw_id).first()
        if stored is None:
            raise PasskeyError("this passkey is not registered for this account")
        try:
            verified = webauthn.verify_authentication_response(
                credential=data["credential"], expected_challenge=base64url_to_bytes(challenge),
                expected_rp_id=_rp_id(), expected_origin=_origin(),
                credential_public_key=bytes(stored.public_key), credential_current_sign_count=stored.sign_count)
        except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
            raise PasskeyError(f"the passkey was not accepted ({exc})") from None
        stored.sign_count = verified.new_sign_count
        stored.last_used_at = timezone.now()
        stored.save(update_fields=["sign_count", "last_used_at"])
    return stored


def remove(user: User, passkey_id: Any) -> bool:
    deleted, _ = PasskeyCredential.objects.for_tenant(user.tenant_id).filter(user=user, pk=passkey_id).delete()
    return bool(deleted)
