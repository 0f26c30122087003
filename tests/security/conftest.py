"""Helpers for the API token tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connections
from django.test.utils import CaptureQueriesContext


@contextlib.contextmanager
def no_queries() -> Iterator[None]:
    """Fail if the block runs any query on any database (host or control)."""
    with contextlib.ExitStack() as stack:
        captured = [stack.enter_context(CaptureQueriesContext(connections[alias])) for alias in connections]
        yield
    ran = [q["sql"] for c in captured for q in c.captured_queries]
    assert not ran, ran
