"""Field factories shared by catalog models, so money and quantities have one shape everywhere."""

from __future__ import annotations

from typing import Any

import pycountry
from django.core.exceptions import ValidationError
from django.db import models

MAX_DIGITS = 18
DECIMAL_PLACES = 4


def amount_field(**kwargs: Any) -> models.DecimalField:
    """Money or quantity: 18 digits, 4 decimal places (enough for unit prices of bulk goods)."""
    return models.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, **kwargs)


def is_currency(code: str) -> bool:
    """Return whether ``code`` is a current ISO 4217 alphabetic code (upper case, as stored)."""
    return len(code) == 3 and code.isupper() and pycountry.currencies.get(alpha_3=code) is not None


def validate_currency(code: str) -> None:
    if not is_currency(code):
        raise ValidationError(f"{code!r} is not an ISO 4217 currency code")


def currency_field(**kwargs: Any) -> models.CharField:
    return models.CharField(max_length=3, validators=[validate_currency], **kwargs)


def tenant_indexes(prefix: str) -> list[models.Index]:
    """Indexes every tenant-owned catalog table needs.

    ``(tenant, modified_at)`` serves differential runs ("modified at or after the watermark"),
    ``(tenant, id)`` keyset pagination by the time-ordered UUIDv7.
    """
    return [
        models.Index(fields=["tenant", "modified_at"], name=f"{prefix}_t_mod"),
        models.Index(fields=["tenant", "id"], name=f"{prefix}_t_id"),
    ]
