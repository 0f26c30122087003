"""The brute-force guard's counters and ban lookups in Redis, when ``BINDERY_REDIS_URL`` is set.

Every process of a host shares one Redis, so a count is the host's count: one Lua script does
``INCR`` and sets the window's expiry on the first hit, atomically (50 parallel guesses get
the numbers 1 to 50, never the same one twice). Bans stay rows in the host database (the
operators' list, promotion, the host firewall read them); each is mirrored as a key that
expires when the ban ends, so checking a sign-in costs one ``EXISTS`` and no query.

Fail-safe: any Redis error raises :class:`Unavailable`; the guard then falls back to the host
database for that call (the embedded default, shared by the host's processes too), logs the
outage once a minute, and re-mirrors every active ban when Redis answers again, so no ban is
missed and no attempt goes uncounted while Redis is down.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)
TIMEOUT = 0.5  # seconds: a sign-in must not hang on an unreachable Redis
_HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""


class Unavailable(Exception):
    """Redis is configured but did not answer: the caller falls back to the database."""


class _State:
    lock = threading.Lock()
    clients: dict[str, Any] = {}
    scripts: dict[str, Any] = {}
    synced = False  # active bans mirrored since this process started or Redis last failed
    warned_at = 0.0


def configured() -> bool:
    return bool(getattr(settings, "BINDERY_REDIS_URL", ""))


def _client() -> Any:
    import redis

    url = settings.BINDERY_REDIS_URL
    with _State.lock:
        client = _State.clients.get(url)
        if client is None:
            client = _State.clients[url] = redis.Redis.from_url(
                url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT, health_check_interval=30)
            _State.scripts[url] = client.register_script(_HIT)
        return client


def _key(kind: str, name: str) -> str:
    return f"{settings.BINDERY_REDIS_PREFIX}{kind}:{name}"


def _failed(error: Exception) -> Unavailable:
    _State.synced = False
    now = time.monotonic()
    if now - _State.warned_at > 60:
        _State.warned_at = now
        logger.warning("Redis unavailable; the brute-force guard counts in the host database until it answers",
                       extra={"event": "security.redis_unavailable", "error": type(error).__name__})
    return Unavailable(str(error))


def _call(function: Any, *args: Any) -> Any:
    import redis

    try:
        _sync_bans()
        return function(*args)
    except (redis.RedisError, OSError) as error:
        raise _failed(error) from error


def hit(key: str, window: dt.timedelta) -> int:
    """Add one to the key's counter in its window (a new window once it expired); return the count."""
    def run() -> int:
        client = _client()
        return int(_State.scripts[settings.BINDERY_REDIS_URL](keys=[_key("n", key)],
                                                               args=[int(window.total_seconds() * 1000)],
                                                               client=client))
    return int(_call(run))


def count(key: str) -> int:
    return int(_call(lambda: _client().get(_key("n", key)) or 0))


def reset(key: str) -> None:
    _call(lambda: _client().delete(_key("n", key)))


def _ban_keys(source: str, account: str) -> list[str]:
    keys = [_key("ban", source)]
    if account:
        keys.append(_key("ban", f"{account}|{source}"))
    return keys


def is_banned(source: str, account: str = "") -> bool:
    return bool(_call(lambda: _client().exists(*_ban_keys(source, account))))


def mirror_ban(source: str, account: str, until: dt.datetime) -> None:
    """Write a ban's key, expiring when the ban ends (a lifted ban is deleted)."""
    name = f"{account}|{source}" if account else source
    milliseconds = int((until - timezone.now()).total_seconds() * 1000)

    def run() -> None:
        if milliseconds > 0:
            _client().set(_key("ban", name), "1", px=milliseconds)
        else:
            _client().delete(_key("ban", name))
    _call(run)


def _active_bans() -> Iterable[tuple[str, str, dt.datetime]]:
    from bindery.security.models import Ban, BanScope

    for scope, source, account, until in Ban.objects.filter(until__gt=timezone.now()).values_list(
            "scope", "source", "account", "until"):
        yield source, account if scope == BanScope.ACCOUNT_SOURCE else "", until


def _sync_bans() -> None:
    """Mirror every active ban (and drop mirrored ones no longer active): on first use, and after an outage."""
    if _State.synced:
        return
    client = _client()
    wanted: dict[str, int] = {}
    now = timezone.now()
    for source, account, until in _active_bans():
        wanted[_key("ban", f"{account}|{source}" if account else source)] = int((until - now).total_seconds() * 1000)
    pipe = client.pipeline(transaction=False)
    for name in client.scan_iter(match=_key("ban", "*"), count=1000):
        name = name.decode() if isinstance(name, bytes) else name
        if name not in wanted:
            pipe.delete(name)
    for name, milliseconds in wanted.items():
        if milliseconds > 0:
            pipe.set(name, "1", px=milliseconds)
    pipe.execute()
    _State.synced = True


def forget() -> None:
    """Drop the clients (tests switch URLs and prefixes); the next call re-mirrors the bans."""
    with _State.lock:
        for client in _State.clients.values():
            client.close()
        _State.clients.clear()
        _State.scripts.clear()
        _State.synced = False
