"""The brute-force guard on Redis: atomic counts, ban mirrors, and failing safe when Redis is down."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from bindery.accounts.models import User
from bindery.security import bruteforce, guard_redis
from bindery.security.bruteforce import SOURCE_LIMIT, tenant_account
from bindery.security.models import Ban, BanScope, FailureCounter
from tests.conftest import PASSWORD, HttpsClient
from tests.security.conftest import REDIS_URL, guard_backend
from tests.security.test_bruteforce import WRONG, HashCounter, sign_in

pytestmark = pytest.mark.django_db(databases="__all__")
DOWN = "redis://127.0.0.1:1/0"  # nothing listens on port 1
OWNER = tenant_account("acme", "owner@acme.example")  # how the guard names the owner's account


@pytest.fixture
def on_redis(settings: Any) -> Iterator[str]:
    with guard_backend(settings, "redis") as prefix:
        yield prefix


def keys(prefix: str) -> set[str]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        return set(client.scan_iter(match=prefix + "*", count=1000))
    finally:
        client.close()


def test_fifty_parallel_hits_get_fifty_different_counts(on_redis: str) -> None:
    """Figure: INCR and the window's expiry in one script: 50 threads get exactly 1..50."""
    guard_redis.is_banned("198.51.100.1")  # mirrors the bans once, before the threads
    counts: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(50)

    def attempt() -> None:
        start.wait()
        value = guard_redis.hit("pair:acme:owner@acme.example|198.51.100.9", dt.timedelta(minutes=15))
        with lock:
            counts.append(value)

    threads = [threading.Thread(target=attempt) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == list(range(1, 51))
    client = redis.Redis.from_url(REDIS_URL)
    ttl = client.pttl(f"{on_redis}n:pair:acme:owner@acme.example|198.51.100.9")
    client.close()
    assert 14 * 60_000 < ttl <= 15 * 60_000  # the window expires with the key


def test_a_counter_starts_a_new_window_when_the_old_one_expired(on_redis: str) -> None:
    window = dt.timedelta(milliseconds=300)
    assert [guard_redis.hit("k", window) for _ in range(3)] == [1, 2, 3]
    client = redis.Redis.from_url(REDIS_URL)
    client.pexpire(f"{on_redis}n:k", 1)  # let the window run out now rather than sleep
    client.close()
    threading.Event().wait(0.05)
    assert guard_redis.hit("k", window) == 1


def test_a_ban_and_its_lift_are_mirrored(on_redis: str, client: HttpsClient, owner: User,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    entry = bruteforce.ban(BanScope.ACCOUNT_SOURCE, "198.51.100.70", "acme:owner@acme.example", reason="test")
    assert f"{on_redis}ban:{OWNER}|198.51.100.70" in keys(on_redis)
    hashes = HashCounter(monkeypatch)
    assert sign_in(client, "198.51.100.70", password=PASSWORD).status_code == 400  # refused before hashing
    assert hashes.calls == 0
    bruteforce.lift(entry, actor="operator:1")
    assert not any("ban:" in key for key in keys(on_redis))
    assert sign_in(client, "198.51.100.70", password=PASSWORD).status_code == 302


def test_redis_down_falls_back_to_the_database(settings: Any, client: HttpsClient, owner: User,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """Fail safe: with Redis unreachable, attempts are still counted (in the database) and bans still bite."""
    with guard_backend(settings, "database"):
        settings.BINDERY_REDIS_URL = DOWN
        answers = [sign_in(client, "198.51.100.80", email=f"user{i}@acme.example").status_code
                   for i in range(SOURCE_LIMIT + 3)]
    assert answers[:SOURCE_LIMIT + 1] == [400] * (SOURCE_LIMIT + 1)
    assert set(answers[SOURCE_LIMIT + 1:]) == {403}
    assert FailureCounter.objects.get(key="src:198.51.100.80").count == SOURCE_LIMIT + 1
    assert Ban.objects.get(scope=BanScope.SOURCE).source == "198.51.100.80"
    assert any(getattr(r, "event", "") == "security.redis_unavailable" for r in caplog.records)


def test_bans_made_while_redis_was_down_are_mirrored_when_it_answers(settings: Any, client: HttpsClient,
                                                                     owner: User,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with guard_backend(settings, "redis") as prefix:
        settings.BINDERY_REDIS_URL = DOWN
        bruteforce.ban(BanScope.ACCOUNT_SOURCE, "198.51.100.90", "acme:owner@acme.example", reason="test")
        assert bruteforce.is_banned("198.51.100.90", OWNER)  # from the database meanwhile
        settings.BINDERY_REDIS_URL = REDIS_URL  # Redis answers again: the next call re-mirrors every ban
        hashes = HashCounter(monkeypatch)
        assert sign_in(client, "198.51.100.90", password=PASSWORD).status_code == 400
        assert hashes.calls == 0
        assert f"{prefix}ban:{OWNER}|198.51.100.90" in keys(prefix)
        assert sign_in(client, "198.51.100.91", password=WRONG).status_code == 400  # counted in Redis again
        assert f"{prefix}n:pair:{OWNER}|198.51.100.91" in keys(prefix)
