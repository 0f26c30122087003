"""Helpers for the security tests: no-query assertions and the brute-force guard's two backends."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
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


REDIS_URL = "redis://127.0.0.1:6379/0"  # the machine's Redis (.ci/run starts it); keeps nothing on disk


def redis_or_skip() -> None:
    """Inside CI a missing Redis is a failure; elsewhere the Redis half of the tests is skipped with the reason."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as error:
        if os.environ.get("CI"):
            raise AssertionError(f"Redis does not answer on {REDIS_URL}: {error}") from error
        pytest.skip(f"Redis does not answer on {REDIS_URL}")


@contextlib.contextmanager
def guard_backend(settings: Any, backend: str) -> Iterator[str]:
    """Run the brute-force guard on ``database`` or ``redis`` (a unique key prefix, its keys deleted after)."""
    import redis

    from bindery.security import guard_redis
    from bindery.security.bruteforce import BannedSources

    prefix = f"bindery-test:{uuid.uuid4().hex}:"
    if backend == "redis":
        redis_or_skip()
        settings.BINDERY_REDIS_URL = REDIS_URL
        settings.BINDERY_REDIS_PREFIX = prefix
    else:
        settings.BINDERY_REDIS_URL = ""
    guard_redis.forget()
    BannedSources.forget()
    try:
        yield prefix
    finally:
        guard_redis.forget()
        BannedSources.forget()
        if backend == "redis":  # only this test's keys: other agents and runs share the server (no FLUSHALL)
            client = redis.Redis.from_url(REDIS_URL)
            keys = list(client.scan_iter(match=prefix + "*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()
