"""The brute-force guard: counts attempts, bans sources, and protects attacked accounts.

Attempts are counted atomically per source (an IPv4 address or an IPv6 /64), per account+source, and — failures only —
per account, in Redis when ``BINDERY_REDIS_URL`` is set (:mod:`.guard_redis`), else in the host
database (the embedded default; shared by every process too). If Redis stops answering, each
call falls back to the database. Counting happens *before* the password is checked, so N parallel attempts cannot
all slip past a threshold of M: at most M get to the password check.

- More than :data:`PAIR_LIMIT` attempts on one account from one source in the window bans
  that pair; more than :data:`SOURCE_LIMIT` attempts from one source on accounts that never
  signed in from it (password spraying) bans the source. Bans grow with each repeat
  (:func:`ban_length`).
- An account with more than :data:`ACCOUNT_LIMIT` failures in the window is *under attack*:
  sources it never signed in from get one attempt per :data:`SLOW_SECONDS` between them all.
  Its real user, from a source they signed in from before, is never slowed nor locked.
- Banned sources are refused by :class:`BlacklistMiddleware` from an in-process list, before
  any database query or password hashing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import connections, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from bindery.control.routers import HOST
from bindery.security import guard_redis
from bindery.security.client_ip import client_ip, source_key
from bindery.security.models import Ban, BanScope, FailureCounter, KnownSource, SecurityEvent, SecurityEventKind

logger = logging.getLogger(__name__)
WINDOW = dt.timedelta(minutes=15)
PAIR_LIMIT = 5
SOURCE_LIMIT = 20
ACCOUNT_LIMIT = 30
SLOW_SECONDS = 10
FIRST_BAN = dt.timedelta(minutes=15)
LONGEST_BAN = dt.timedelta(days=30)
REPEAT_MEMORY = dt.timedelta(days=30)  # a ban within this long ago makes the next one longer
CACHE_SECONDS = 5.0
REFUSED_ATTR = "_bindery_guard_refused"


def ban_length(level: int) -> dt.timedelta:
    """15 minutes, then 4 times longer per repeat: 1 h, 4 h, 16 h, 2.7 days ... at most 30 days."""
    return min(FIRST_BAN * 4 ** min(level - 1, 8), LONGEST_BAN)


def storable(value: Any) -> Any:
    """Replace NUL characters (in strings, lists and dicts): PostgreSQL text and jsonb cannot hold
    them, and a hostile request that put one in an account name must still be recorded."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


def record_event(kind: str, *, ip: str = "", account: str = "", tenant_id: Any = None, **detail: Any) -> None:
    SecurityEvent.objects.create(kind=kind, ip=storable(ip[:64]), account=storable(account[:320]),
                                 tenant_id=tenant_id, detail=storable(detail))


def hit(key: str, window: dt.timedelta = WINDOW) -> int:
    """Add one to the key's counter in the current window (a new window if it ran out); return the count."""
    if guard_redis.configured():
        try:
            return guard_redis.hit(key, window)
        except guard_redis.Unavailable:
            pass  # fail safe: count in the database rather than not at all
    return _db_hit(key, window)


def _db_hit(key: str, window: dt.timedelta) -> int:
    """The database counter.

    One ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` statement (PostgreSQL and SQLite >= 3.35):
    a read-then-write sequence let concurrent guesses reset each other's count, so 50 parallel
    attempts reached the password check 20 times instead of five.
    """
    now = timezone.now()
    connection = connections[HOST]
    table = connection.ops.quote_name(FailureCounter._meta.db_table)
    stamp = connection.ops.adapt_datetimefield_value(now)
    fresh_after = connection.ops.adapt_datetimefield_value(now - window)
    sql = (f"INSERT INTO {table} (\"key\", \"count\", window_start) VALUES (%s, 1, %s) "  # noqa: S608 (table name from model metadata; values are parameters)
           f"ON CONFLICT (\"key\") DO UPDATE SET "
           f"\"count\" = CASE WHEN {table}.window_start > %s THEN {table}.\"count\" + 1 ELSE 1 END, "
           f"window_start = CASE WHEN {table}.window_start > %s THEN {table}.window_start "
           f"ELSE excluded.window_start END "
           f"RETURNING \"count\"")
    with transaction.atomic(using=HOST), connection.cursor() as cursor:
        cursor.execute(sql, [storable(key[:400]), stamp, fresh_after, fresh_after])
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def count(key: str, window: dt.timedelta = WINDOW) -> int:
    if guard_redis.configured():
        try:
            return guard_redis.count(key)
        except guard_redis.Unavailable:
            pass
    row = FailureCounter.objects.filter(key=storable(key), window_start__gt=timezone.now() - window).first()
    return row.count if row else 0


def reset(key: str) -> None:
    """Forget a counter (a successful sign-in clears its pair's count)."""
    if guard_redis.configured():
        try:
            guard_redis.reset(key)
            return
        except guard_redis.Unavailable:
            pass
    FailureCounter.objects.filter(key=storable(key)).delete()


def ban(scope: str, source: str, account: str = "", *, reason: str, actor: str = "guard") -> Ban:
    """Ban a source (or an account from a source); a repeat within 30 days bans for longer.

    ``account`` is the stored name (a pseudonym); an e-mail given here is turned into its pseudonym.
    """
    account = account_for_search(account) if account else ""
    now = timezone.now()
    with transaction.atomic(using=HOST):
        previous = Ban.objects.select_for_update().filter(scope=scope, source=source, account=account).first()
        level = previous.level + 1 if previous and previous.created_at > now - REPEAT_MEMORY else 1
        until = now + ban_length(level)
        entry, _ = Ban.objects.update_or_create(
            scope=scope, source=source, account=account,
            defaults={"level": level, "until": until, "reason": reason[:200], "created_at": now,
                      "lifted_at": None, "lifted_by": ""})
    record_event(SecurityEventKind.BANNED, ip=source, account=account, scope=scope, level=level,
                 until=until.isoformat(), reason=reason, by=actor)
    _mirror(entry)
    BannedSources.forget()
    return entry


def _mirror(entry: Ban) -> None:
    """Keep Redis's copy of a ban in step (missed writes are repaired when Redis answers again)."""
    if guard_redis.configured():
        with contextlib.suppress(guard_redis.Unavailable):
            guard_redis.mirror_ban(entry.source, entry.account if entry.scope == BanScope.ACCOUNT_SOURCE else "",
                                   entry.until)


def lift(entry: Ban, *, actor: str) -> None:
    entry.until = timezone.now()
    entry.lifted_at = entry.until
    entry.lifted_by = actor[:100]
    entry.save(update_fields=["until", "lifted_at", "lifted_by"])
    record_event(SecurityEventKind.BAN_LIFTED, ip=entry.source, account=entry.account, scope=entry.scope, by=actor)
    _mirror(entry)
    BannedSources.forget()


def is_banned(source: str, account: str = "") -> bool:
    if guard_redis.configured():
        try:
            return guard_redis.is_banned(source, account)
        except guard_redis.Unavailable:
            pass  # fail safe: the database holds every ban
    now = timezone.now()
    if Ban.objects.filter(scope=BanScope.SOURCE, source=source, until__gt=now).exists():
        return True
    return bool(account) and Ban.objects.filter(scope=BanScope.ACCOUNT_SOURCE, source=source, account=account,
                                                until__gt=now).exists()


class BannedSources:
    """This process's copy of the banned sources, refreshed every few seconds (no query per request)."""

    _lock = threading.Lock()
    _sources: frozenset[str] = frozenset()
    _loaded_at = 0.0

    @classmethod
    def contains(cls, source: str) -> bool:
        with cls._lock:
            if time.monotonic() - cls._loaded_at > CACHE_SECONDS:
                try:
                    cls._sources = frozenset(Ban.objects.filter(scope=BanScope.SOURCE, until__gt=timezone.now())
                                             .values_list("source", flat=True))
                except Exception:  # a database outage must not take every page down
                    # Keep the last known list; /healthz reports the database, the backend still refuses.
                    logger.warning("blacklist not refreshed", exc_info=True,
                                   extra={"event": "security.blacklist_unavailable"})
                cls._loaded_at = time.monotonic()
            return source in cls._sources

    @classmethod
    def forget(cls) -> None:
        with cls._lock:
            cls._loaded_at = 0.0


# --- accounts --------------------------------------------------------------------------------


ACCOUNT_SALT = "bindery.security.account"
PSEUDONYM_PREFIX = "~"


def pseudonym(name: str) -> str:
    """A keyed hash standing for an account name, so the guard's tables hold no e-mail in clear.

    Keyed with the secret key (a guessed address cannot be checked against a stolen database);
    the same name always gives the same pseudonym, so counting, bans and known sources work.
    """
    raw = name.strip().lower().encode("utf-8", "surrogatepass")  # hostile names are counted too
    return PSEUDONYM_PREFIX + salted_hmac(ACCOUNT_SALT, raw, algorithm="sha256").hexdigest()[:32]


def tenant_account(tenant_slug: str, email: str) -> str:
    """``workspace:~pseudonym`` for a tenant user: the workspace stays readable, the e-mail does not."""
    slug = str(tenant_slug).strip().lower()[:63]
    return f"{slug}:{pseudonym(f'{slug}:{email}')}"


def operator_account(email: str) -> str:
    return pseudonym(str(email))


def account_for_search(text: str, tenant_slug: str = "") -> str:
    """Turn what a person typed (an e-mail, ``workspace:e-mail`` or a pseudonym) into the stored account."""
    text = str(text).strip().lower()
    if "@" not in text:
        return text
    slug, sep, email = text.rpartition(":")
    if sep and slug:
        return tenant_account(slug, email)
    return tenant_account(tenant_slug, text) if tenant_slug else operator_account(text)


def account_key(credentials: dict[str, Any]) -> str:
    """Name the account an attempt is about: ``workspace:~pseudonym`` for tenant users, else ``~pseudonym``."""
    if "tenant_slug" in credentials:
        return tenant_account(str(credentials.get("tenant_slug", "")), str(credentials.get("email", "")))
    name = str(credentials.get("username") or credentials.get("email") or "").strip()
    return operator_account(name) if name else ""


def _refuse(request: HttpRequest | None, kind: str, ip: str, account: str, **detail: Any) -> None:
    if request is not None:
        setattr(request, REFUSED_ATTR, True)
    record_event(kind, ip=ip, account=account, **detail)
    raise PermissionDenied("too many attempts")


def before_password_check(request: HttpRequest | None, account: str) -> None:
    """Count this attempt; raise PermissionDenied (no password hashed) if it must not proceed."""
    ip = client_ip(request) if request is not None else "0.0.0.0"  # noqa: S104 (placeholder, never bound)
    source = source_key(ip)
    if is_banned(source, account):
        _refuse(request, SecurityEventKind.REFUSED, ip, account)
    known = KnownSource.objects.filter(account=account, source=source).exists()
    if not known and count(f"acct:{account}") > ACCOUNT_LIMIT and hit(
            f"slow:{account}", dt.timedelta(seconds=SLOW_SECONDS)) > 1:
        _refuse(request, SecurityEventKind.THROTTLED, ip, account)
    if hit(f"pair:{account}|{source}") > PAIR_LIMIT:
        ban(BanScope.ACCOUNT_SOURCE, source, account, reason=f"over {PAIR_LIMIT} attempts on one account")
        _refuse(request, SecurityEventKind.REFUSED, ip, account, banned=True)
    if not known and hit(f"src:{source}") > SOURCE_LIMIT:
        ban(BanScope.SOURCE, source, reason=f"over {SOURCE_LIMIT} failed attempts")
        _refuse(request, SecurityEventKind.REFUSED, ip, account, banned=True)


def after_failure(request: HttpRequest | None, account: str) -> None:
    if request is not None and getattr(request, REFUSED_ATTR, False):
        return  # already counted and recorded as refused
    hit(f"acct:{account}")
    record_event(SecurityEventKind.SIGN_IN_FAILED, ip=client_ip(request) if request else "", account=account)


def after_success(request: HttpRequest | None, account: str) -> None:
    if request is None:
        return
    source = source_key(client_ip(request))
    reset(f"pair:{account}|{source}")
    KnownSource.objects.update_or_create(account=account, source=source,
                                         defaults={"last_success_at": timezone.now()})


def token_failure(request: HttpRequest) -> None:
    """A request with a wrong, expired or revoked API token: counts toward the source's limit."""
    ip = client_ip(request)
    source = source_key(ip)
    record_event(SecurityEventKind.TOKEN_FAILED, ip=ip, path=request.path[:200])
    if hit(f"src:{source}") > SOURCE_LIMIT:
        ban(BanScope.SOURCE, source, reason=f"over {SOURCE_LIMIT} refused API tokens")


# --- Django wiring ---------------------------------------------------------------------------


class BruteForceGuardBackend:
    """First in AUTHENTICATION_BACKENDS: never authenticates, only refuses before the real backends."""

    def authenticate(self, request: HttpRequest | None, **credentials: Any) -> None:
        if request is not None and "tenant_slug" in credentials:
            refuse_by_tenant_rules(request, str(credentials.get("tenant_slug", "")))
        account = account_key(credentials)
        if account:
            before_password_check(request, account)
        return None

    def get_user(self, user_id: Any) -> None:
        return None


def refuse_by_tenant_rules(request: HttpRequest, slug: str) -> None:
    """A workspace whose IP rules refuse this address: no sign-in (and no password hashed)."""
    from bindery.control.models import LocalTenant
    from bindery.security.iprules import note_tenant_refusal, tenant_admits

    tenant_id = LocalTenant.objects.filter(slug=slug.strip().lower()[:63]).values_list("id", flat=True).first()
    if tenant_id is not None and not tenant_admits(tenant_id, client_ip(request)):
        setattr(request, REFUSED_ATTR, True)
        note_tenant_refusal(request, tenant_id)
        raise PermissionDenied("this workspace does not accept sign-ins from your address")


def on_login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None,
                    **kwargs: Any) -> None:
    account = account_key(credentials)
    if account:
        after_failure(request, account)


def on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    from bindery.accounts.models import User

    if isinstance(user, User):
        account = tenant_account(user.tenant.slug, user.email)
    else:
        account = operator_account(str(getattr(user, "email", "")))
    after_success(request, account)


class BlacklistMiddleware:
    """First middleware: a banned source gets 403 before anything else runs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if BannedSources.contains(source_key(client_ip(request))):
            return JsonResponse({"code": "banned", "message": "too many failed attempts from your address; "
                                 "try again later"}, status=403)
        return self.get_response(request)
