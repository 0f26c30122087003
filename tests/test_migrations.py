"""Models and migrations agree (a forgotten migration fails here, not in production)."""

from __future__ import annotations

import pytest
from django.core.management import call_command


@pytest.mark.django_db(databases="__all__")
def test_no_missing_migrations() -> None:
    """`makemigrations --check` finds nothing to write."""
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
