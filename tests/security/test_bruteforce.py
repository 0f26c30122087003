"""Attack simulations against the brute-force guard, each with its figure (issue 8 acceptance).

Every test runs twice: with the counters and ban lookups in the host database (the embedded
default) and in the machine's real Redis (``BINDERY_REDIS_URL``, a unique key prefix per test).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.db import connections
from django.test import RequestFactory, override_settings

from bindery.accounts.actions import do_create_user
from bindery.accounts.models import Role, User
from bindery.control.actions import do_create_tenant
from bindery.control.models import LocalTenant
from bindery.security import bruteforce
from bindery.security.bruteforce import PAIR_LIMIT, SOURCE_LIMIT, ban_length, tenant_account
from bindery.security.client_ip import resolve, source_key
from bindery.security.models import Ban, BanScope, FailureCounter, SecurityEvent
from tests.conftest import PASSWORD, HttpsClient
from tests.security.conftest import REDIS_URL, guard_backend, no_queries

pytestmark = pytest.mark.django_db(databases="__all__")
WRONG = "not the password at all"


@pytest.fixture(params=["database", "redis"], autouse=True)
def backend(request: pytest.FixtureRequest, settings: Any) -> Iterator[str]:
    with guard_backend(settings, request.param) as prefix:
        yield request.param if request.param == "database" else prefix


def redis_keys(prefix: str) -> list[str]:
    import redis

    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        return sorted(client.scan_iter(match=prefix + "*", count=1000))
    finally:
        client.close()


def sign_in(client: HttpsClient, ip: str, email: str = "owner@acme.example", password: str = WRONG,
            workspace: str = "acme", **extra: str) -> Any:
    return client.post("/login/", {"workspace": workspace, "email": email, "password": password},
                       REMOTE_ADDR=ip, **extra)


class HashCounter:
    """Counts password hashing and checking, to prove refusals cost no hashing."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original_check = User.check_password
        from bindery.accounts import backends

        original_make = backends.make_password

        def check(user: User, raw: str) -> bool:
            self.calls += 1
            return original_check(user, raw)

        def make(raw: str) -> str:
            self.calls += 1
            return original_make(raw)

        monkeypatch.setattr(User, "check_password", check)
        monkeypatch.setattr(backends, "make_password", make)


def test_password_spraying_from_one_ip_is_banned_after_the_threshold(client: HttpsClient, owner: User,
                                                                     backend: str) -> None:
    """Figure: a source trying many accounts gets SOURCE_LIMIT attempts, then every request is refused."""
    answers = [sign_in(client, "198.51.100.7", email=f"user{i}@acme.example").status_code
               for i in range(SOURCE_LIMIT + 5)]
    # The attempt over the limit is refused by the guard (the form's generic error) and bans the source.
    assert answers[:SOURCE_LIMIT + 1] == [400] * (SOURCE_LIMIT + 1)
    assert set(answers[SOURCE_LIMIT + 1:]) == {403}
    assert Ban.objects.get(scope=BanScope.SOURCE).source == "198.51.100.7"
    assert client.get("/healthz", REMOTE_ADDR="198.51.100.7").status_code == 403  # every request, at once
    assert client.get("/healthz", REMOTE_ADDR="198.51.100.8").status_code == 200
    assert SecurityEvent.objects.filter(kind="banned").count() == 1
    if backend == "database":
        assert FailureCounter.objects.filter(key="src:198.51.100.7").get().count == SOURCE_LIMIT + 1
    else:  # the counters and the ban's mirror live in Redis, none in the database
        assert not FailureCounter.objects.exists()
        assert f"{backend}n:src:198.51.100.7" in redis_keys(backend)
        assert f"{backend}ban:198.51.100.7" in redis_keys(backend)


def test_a_distributed_attack_does_not_lock_out_the_real_user(client: HttpsClient, owner: User,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Figure: 200 addresses attack one account; the owner still signs in from their usual address."""
    assert sign_in(client, "192.0.2.10", password=PASSWORD).status_code == 302  # the owner's usual address
    # One attempt per SLOW_SECONDS: stretched so a loaded machine's slow run does not open extra slots.
    monkeypatch.setattr(bruteforce, "SLOW_SECONDS", 3600)
    hashes = HashCounter(monkeypatch)
    attacker = HttpsClient()
    for i in range(200):
        assert sign_in(attacker, f"10.{i // 250}.{i % 250}.1").status_code == 400
    # Once the account is under attack, unknown sources share one attempt per SLOW_SECONDS.
    assert hashes.calls <= bruteforce.ACCOUNT_LIMIT + 2
    assert SecurityEvent.objects.filter(kind="throttled").count() >= 200 - bruteforce.ACCOUNT_LIMIT - 2
    assert sign_in(HttpsClient(), "192.0.2.10", password=PASSWORD).status_code == 302  # ... the owner is not


def test_rotating_inside_one_ipv6_64_counts_as_one_source(client: HttpsClient, owner: User) -> None:
    statuses = [sign_in(client, f"2001:db8:1:2::{i:x}").status_code for i in range(1, PAIR_LIMIT + 4)]
    assert statuses == [400] * len(statuses)  # the pair ban shows as the form's generic error
    assert SecurityEvent.objects.filter(kind="refused").count() == len(statuses) - PAIR_LIMIT
    entry = Ban.objects.get()
    assert (entry.scope, entry.source, entry.account) == (BanScope.ACCOUNT_SOURCE, "2001:db8:1:2::/64",
                                                          tenant_account("acme", "owner@acme.example"))
    assert sign_in(client, "2001:db8:1:3::1", password=PASSWORD).status_code == 302  # another /64


def test_forwarded_for_from_an_untrusted_peer_is_ignored(client: HttpsClient, owner: User) -> None:
    for i in range(PAIR_LIMIT + 2):
        sign_in(client, "203.0.113.9", HTTP_X_FORWARDED_FOR=f"10.9.9.{i}")  # a new forged address each time
    assert Ban.objects.get().source == "203.0.113.9"
    assert resolve("203.0.113.9", "10.9.9.1") == "203.0.113.9"


@override_settings(BINDERY_TRUSTED_PROXIES=("10.0.0.0/8",))
def test_forwarded_for_is_read_right_to_left_through_trusted_proxies() -> None:
    assert resolve("10.0.0.5", "1.2.3.4, 198.51.100.20, 10.0.0.7") == "198.51.100.20"
    assert resolve("10.0.0.5", "garbage, 198.51.100.20") == "198.51.100.20"
    assert resolve("10.0.0.5", "") == "10.0.0.5"
    assert resolve("::ffff:198.51.100.1", "") == "198.51.100.1"
    assert resolve("not an ip", "") == "0.0.0.0"  # noqa: S104


def test_a_banned_source_costs_no_password_hashing(client: HttpsClient, owner: User,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    bruteforce.ban(BanScope.SOURCE, "198.51.100.66", reason="test")
    bruteforce.ban(BanScope.ACCOUNT_SOURCE, "198.51.100.67", "acme:owner@acme.example", reason="test")
    hashes = HashCounter(monkeypatch)
    assert sign_in(client, "198.51.100.66", password=PASSWORD).status_code == 403
    assert sign_in(client, "198.51.100.67", password=PASSWORD).status_code == 400  # the form's generic error
    assert hashes.calls == 0
    assert sign_in(client, "198.51.100.68", password=PASSWORD).status_code == 302
    assert hashes.calls == 1


def test_a_banned_source_is_refused_without_any_database_query(client: HttpsClient, owner: User,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The blacklist is an in-process copy: once loaded, a banned source costs no query at all."""
    bruteforce.ban(BanScope.SOURCE, "198.51.100.69", reason="test")
    assert client.get("/healthz", REMOTE_ADDR="198.51.100.69").status_code == 403  # loads the copy
    monkeypatch.setattr(bruteforce, "CACHE_SECONDS", 3600)  # no refresh falls inside the block below
    hashes = HashCounter(monkeypatch)
    with no_queries():
        assert sign_in(client, "198.51.100.69", password=PASSWORD).status_code == 403
        api = client.get("/api/v1/products", headers={"token": "bnd_x"}, REMOTE_ADDR="198.51.100.69")
        assert api.status_code == 403
    assert hashes.calls == 0


def test_bans_grow_with_each_repeat() -> None:
    first = bruteforce.ban(BanScope.SOURCE, "198.51.100.1", reason="x")
    second = bruteforce.ban(BanScope.SOURCE, "198.51.100.1", reason="x")
    assert (first.level, second.level) == (1, 2)
    assert ban_length(1).total_seconds() == 900
    assert ban_length(2).total_seconds() == 3600
    assert ban_length(20).days == 30


def test_lifting_a_ban_lets_the_source_back_and_is_recorded(client: HttpsClient, db: None) -> None:
    entry = bruteforce.ban(BanScope.SOURCE, "198.51.100.2", reason="x")
    assert client.get("/healthz", REMOTE_ADDR="198.51.100.2").status_code == 403
    bruteforce.lift(entry, actor="operator:1")
    assert client.get("/healthz", REMOTE_ADDR="198.51.100.2").status_code == 200
    assert SecurityEvent.objects.filter(kind="ban_lifted", ip="198.51.100.2").exists()


def test_wrong_api_tokens_ban_the_source(client: HttpsClient, tenant: LocalTenant) -> None:
    for _ in range(SOURCE_LIMIT + 1):
        assert client.get("/api/v1/products", headers={"token": "bnd_wrong_token"},
                          REMOTE_ADDR="198.51.100.30").status_code == 401
    assert client.get("/api/v1/products", REMOTE_ADDR="198.51.100.30").status_code == 403
    assert SecurityEvent.objects.filter(kind="token_failed").count() == SOURCE_LIMIT + 1
    assert source_key("198.51.100.30") in set(Ban.objects.values_list("source", flat=True))


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_fifty_parallel_attempts_reach_the_password_check_at_most_threshold_times(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Figure: of 50 simultaneous guesses on one account from one source, at most PAIR_LIMIT are checked."""
    if connections["default"].vendor == "sqlite":
        pytest.skip("the in-memory SQLite test database refuses concurrent writers; proven on PostgreSQL")
    do_create_tenant("acme", "Acme", actor="test")
    tenant = LocalTenant.objects.get(slug="acme")
    do_create_user(tenant, "owner@acme.example", PASSWORD, role=Role.OWNER, actor="test")
    hashes = HashCounter(monkeypatch)
    lock = threading.Lock()
    start = threading.Barrier(50)
    errors: list[BaseException] = []

    def attempt() -> None:
        request = RequestFactory().post("/login/", REMOTE_ADDR="198.51.100.99")
        try:
            start.wait()
            authenticate(request, tenant_slug="acme", email="owner@acme.example", password=WRONG)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert hashes.calls <= PAIR_LIMIT  # margin 0: the counter is taken before the password check
    assert Ban.objects.filter(scope=BanScope.ACCOUNT_SOURCE).count() == 1


@pytest.mark.django_db(databases="__all__")
def test_events_and_counters_with_nul_characters_are_recorded() -> None:
    """PostgreSQL text and jsonb cannot hold NUL: a hostile request carrying one is still recorded."""
    from bindery.security.bruteforce import count, hit, record_event
    from bindery.security.models import SecurityEvent, SecurityEventKind

    record_event(SecurityEventKind.WAF_BLOCK, ip="192.0.2.1", account="evil\x00name",
                 path="/api/v1/x\x00y", matches=[{"value": "a\x00b"}])
    event = SecurityEvent.objects.get()
    assert event.account == "evil\ufffdname"
    assert event.detail == {"path": "/api/v1/x\ufffdy", "matches": [{"value": "a\ufffdb"}]}
    assert hit("acct:evil\x00name") == 1
    assert count("acct:evil\x00name") == 1
