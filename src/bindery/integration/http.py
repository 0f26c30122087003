"""The outbound HTTP client every technology uses to call a remote API.

One place decides how Bindery talks to the outside:

- every connection passes the egress guard (:func:`bindery.security.egress.guarded_transport`):
  private, loopback and metadata addresses are refused unless the node allows private ones;
- timeouts on connect, read, write and pool; no redirects followed (a redirect is an error the
  merchant should fix in the node's URL, and never carries credentials elsewhere);
- retries with full-jitter exponential backoff for transient failures (connection errors,
  408, 429, 5xx). ``Retry-After`` (seconds or an HTTP date) is honoured up to a cap. A request
  that may have been processed (a timeout or a dropped connection after sending a POST) is not
  retried unless the caller says the request is idempotent;
- a per-credential rate limit (a token bucket shared by every client of one credential in
  this process), so parallel connectors of one shop do not add up past its limit;
- errors classified by status (:class:`ErrorKind`): auth, validation, not found, rate limited,
  transient, refused (egress), protocol;
- credentials never logged: log records carry the method, the path without its query, the
  status and the attempt; error messages are scrubbed of the client's secret values.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

from bindery.ops.logs import REDACTED, redact_text
from bindery.security import egress

logger = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 32 * 1024 * 1024
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# Statuses after which the server certainly did not process the request: safe to resend a POST.
NOT_PROCESSED = frozenset({425, 429, 503})


class ErrorKind(StrEnum):
    AUTH = "auth"
    VALIDATION = "validation"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    TRANSIENT = "transient"
    REFUSED = "refused"
    PROTOCOL = "protocol"


class RemoteError(Exception):
    """A remote call that failed for good (after the retries it deserved)."""

    kind = ErrorKind.PROTOCOL

    def __init__(self, message: str, *, status: int | None = None, code: str = "", attempts: int = 1,
                 retry_after: float | None = None, payload: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.attempts = attempts
        self.retry_after = retry_after
        self.payload = payload


class RemoteAuthError(RemoteError):
    kind = ErrorKind.AUTH


class RemoteValidationError(RemoteError):
    kind = ErrorKind.VALIDATION


class RemoteNotFound(RemoteError):
    kind = ErrorKind.NOT_FOUND


class RemoteRateLimited(RemoteError):
    kind = ErrorKind.RATE_LIMITED


class RemoteTransientError(RemoteError):
    kind = ErrorKind.TRANSIENT


class RemoteRefused(RemoteError):
    """The egress guard refused the destination: not retried, the node must be fixed."""

    kind = ErrorKind.REFUSED


def error_class(status: int) -> type[RemoteError]:
    if status in (401, 403):
        return RemoteAuthError
    if status in (404, 410):
        return RemoteNotFound
    if status == 429:
        return RemoteRateLimited
    if status in RETRY_STATUSES or status >= 500:
        return RemoteTransientError
    if 400 <= status < 500:
        return RemoteValidationError
    return RemoteError


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    # A server asking for longer than this is waited this long; the next 429 counts as an attempt.
    max_retry_after: float = 60.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]."""
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), 86_400))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RateLimiter:
    """A token bucket: ``rate`` requests per second on average, bursts of ``burst``."""

    def __init__(self, rate: float, burst: int = 1, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate, self.burst = rate, max(1, burst)
        self.clock, self.sleep = clock, sleep
        self.tokens = float(self.burst)
        self.updated = clock()
        self.lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until one is available; return the time slept."""
        with self.lock:
            now = self.clock()
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            self.tokens -= 1
            wait = 0.0 if self.tokens >= 0 else -self.tokens / self.rate
        if wait:
            self.sleep(wait)
        return wait


_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def credential_key(*secrets: str) -> str:
    """A stable, non-reversible name for a credential (the rate limiter's key; safe to keep in memory)."""
    return hashlib.sha256("\0".join(secrets).encode()).hexdigest()[:32]


def shared_limiter(key: str, rate: float, burst: int) -> RateLimiter:
    """The limiter of one credential in this process; a changed rate replaces it."""
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None or limiter.rate != rate or limiter.burst != max(1, burst):
            limiter = _limiters[key] = RateLimiter(rate, burst)
        return limiter


@dataclass
class ClientOptions:
    timeout: float = 30.0
    connect_timeout: float = 10.0
    allow_private: bool = False
    verify: Any = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rate_per_second: float | None = None
    rate_burst: int = 5
    max_response_bytes: int = MAX_RESPONSE_BYTES
    user_agent: str = "Bindery"


class HttpClient:
    """A JSON-speaking client of one remote base URL, with the guard, retries and limits above.

    ``secrets`` are values scrubbed from every error message (the caller's credentials);
    ``on_retry`` receives a readable line per retry (connectors pass their run log).
    """

    def __init__(self, base_url: str, *, options: ClientOptions | None = None, auth: httpx.Auth | None = None,
                 headers: Mapping[str, str] | None = None, secrets: Iterable[str] = (),
                 rate_key: str | None = None, on_retry: Callable[[str], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.options = options or ClientOptions()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
        self.on_retry = on_retry
        self.sleep = sleep
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self.limiter = None
        if self.options.rate_per_second:
            self.limiter = shared_limiter(rate_key or credential_key(base_url), self.options.rate_per_second,
                                          self.options.rate_burst)
        timeout = httpx.Timeout(self.options.timeout, connect=self.options.connect_timeout)
        self.client = httpx.Client(
            base_url=base_url, auth=auth, timeout=timeout, follow_redirects=False,
            headers={"User-Agent": self.options.user_agent, "Accept": "application/json", **(headers or {})},
            transport=transport or egress.guarded_transport(allow_private=self.options.allow_private,
                                                            verify=self.options.verify))

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return redact_text(text)

    # --- requests -----------------------------------------------------------------------------

    def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> Response:
        return self.request("GET", path, params=params)

    def post(self, path: str, *, json_body: Any = None, params: Mapping[str, Any] | None = None,
             idempotent: bool = False) -> Response:
        return self.request("POST", path, json_body=json_body, params=params, idempotent=idempotent)

    def put(self, path: str, *, json_body: Any = None, params: Mapping[str, Any] | None = None) -> Response:
        return self.request("PUT", path, json_body=json_body, params=params, idempotent=True)

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json_body: Any = None,
                idempotent: bool | None = None) -> Response:
        """Send a request, retrying what may be retried; return the response or raise a RemoteError."""
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
        policy = self.options.retry
        where = f"{method} {path.split('?', 1)[0][:200]}"
        attempt = 0
        while True:
            attempt += 1
            if self.limiter is not None:
                self.limiter.acquire()
            try:
                try:
                    response = self._send(method, path, params=params, json_body=json_body)
                except httpx.ConnectError as error:
                    # httpx wraps the guard's refusal (an httpcore.ConnectError) in its own ConnectError.
                    cause = error.__cause__ or error.__context__
                    if isinstance(cause, egress.EgressRefused):
                        raise cause from None
                    raise
            except egress.EgressRefused as refused:
                if isinstance(refused, egress.EgressUnresolvable) and attempt < policy.attempts:
                    self._wait(attempt, None, where, "cannot resolve the host")
                    continue
                error_type = RemoteTransientError if isinstance(refused, egress.EgressUnresolvable) else RemoteRefused
                raise error_type(self.scrub(f"{where}: {refused}"), attempts=attempt) from None
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
                # Not connected: nothing was sent, so any method may be resent.
                if attempt < policy.attempts:
                    self._wait(attempt, None, where, f"cannot connect ({type(error).__name__})")
                    continue
                raise RemoteTransientError(self.scrub(f"{where}: cannot connect after {attempt} attempts: "
                                                      f"{type(error).__name__}"), attempts=attempt) from None
            except httpx.TransportError as error:
                # Sent, maybe processed (read timeout, dropped connection): resend only if idempotent.
                if idempotent and attempt < policy.attempts:
                    self._wait(attempt, None, where, f"no complete answer ({type(error).__name__})")
                    continue
                raise RemoteTransientError(self.scrub(f"{where}: no complete answer after {attempt} attempt(s): "
                                                      f"{type(error).__name__}"), attempts=attempt) from None
            except _TooLarge:
                raise RemoteError(f"{where}: the answer is larger than {self.options.max_response_bytes} bytes",
                                  attempts=attempt) from None
            if response.status < 300:
                return response
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            retryable = response.status in RETRY_STATUSES and (idempotent or response.status in NOT_PROCESSED)
            if retryable and attempt < policy.attempts:
                self._wait(attempt, retry_after, where, f"HTTP {response.status}")
                continue
            raise self._error(where, response, attempt, retry_after)

    def _send(self, method: str, path: str, *, params: Mapping[str, Any] | None, json_body: Any) -> Response:
        request = self.client.build_request(method, path, params=params,
                                            json=json_body if json_body is not None else None)
        reply = self.client.send(request, stream=True)
        try:
            chunks: list[bytes] = []
            size = 0
            for chunk in reply.iter_bytes():
                size += len(chunk)
                if size > self.options.max_response_bytes:
                    raise _TooLarge
                chunks.append(chunk)
        finally:
            reply.close()
        logger.debug("remote call", extra={"event": "integration.http", "method": method,
                                           "path": path.split("?", 1)[0][:200], "status": reply.status_code})
        return Response(reply.status_code, reply.headers, b"".join(chunks))

    def _wait(self, attempt: int, retry_after: float | None, where: str, why: str) -> None:
        policy = self.options.retry
        if retry_after is not None:
            delay = min(retry_after, policy.max_retry_after)
        else:
            delay = policy.backoff(attempt, self.rng)
        if self.on_retry is not None:
            self.on_retry(f"{where}: {why}; retry {attempt} of {policy.attempts - 1} in {delay:.1f} s.")
        logger.info("remote call retried", extra={"event": "integration.http_retry", "where": where,
                                                  "reason": why, "attempt": attempt, "delay": round(delay, 3)})
        self.sleep(delay)

    def _error(self, where: str, response: Response, attempt: int, retry_after: float | None) -> RemoteError:
        code, message = "", ""
        payload = response.json_or_none()
        if isinstance(payload, dict):
            code = str(payload.get("code") or "")[:100]
            message = str(payload.get("message") or "")[:500]
        if 300 <= response.status < 400:
            message = "the server redirects; point the node at the final URL (https)"
        elif not message:
            message = response.body[:200].decode("utf-8", "replace").strip()
        text = f"{where}: HTTP {response.status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
        if attempt > 1:
            text += f" (after {attempt} attempts)"
        return error_class(response.status)(self.scrub(text), status=response.status, code=code,
                                            attempts=attempt, retry_after=retry_after, payload=payload)


class _TooLarge(Exception):
    pass


@dataclass(frozen=True)
class Response:
    status: int
    headers: httpx.Headers
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise RemoteError(f"the answer (HTTP {self.status}) is not JSON") from None

    def json_or_none(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def header_int(self, name: str) -> int | None:
        value = self.headers.get(name, "")
        return int(value) if value.strip().isdigit() else None
