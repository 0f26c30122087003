"""The outbound HTTP client against a real HTTP server on loopback: retries, Retry-After, limits, errors."""

from __future__ import annotations

import email.utils
import http.server
import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from bindery.integration import http as remote
from bindery.integration.http import ClientOptions, HttpClient, RateLimiter, RetryPolicy

SECRET = "ck_0123456789abcdef-secret"


@dataclass
class Scripted:
    """Answers requests with queued (status, headers, body) replies; then 200 {"ok": true}."""

    replies: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    seen: list[tuple[str, str, bytes]] = field(default_factory=list)
    hang: threading.Event | None = None
    port: int = 0


@contextmanager
def scripted_server() -> Iterator[Scripted]:
    state = Scripted()

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            state.seen.append((self.command, self.path, self.rfile.read(length)))
            status, headers, body = state.replies.pop(0) if state.replies else (200, {}, b'{"ok": true}')
            if status == 0:  # drop the connection without an answer
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(server: Scripted, sleeps: Sleeps, **options: Any) -> HttpClient:
    return HttpClient(f"http://127.0.0.1:{server.port}", options=ClientOptions(allow_private=True, **options),
                      auth=httpx.BasicAuth("ck_user", SECRET), secrets=[SECRET], sleep=sleeps,
                      rng=random.Random(7))


def test_a_429_burst_is_retried_honouring_retry_after() -> None:
    sleeps = Sleeps()
    with scripted_server() as server:
        server.replies += [(429, {"Retry-After": "2"}, b"{}"), (429, {"Retry-After": "3"}, b"{}")]
        with client(server, sleeps) as c:
            reply = c.get("/wp-json/wc/v3/products", params={"per_page": 10})
    assert reply.status == 200
    assert reply.json() == {"ok": True}
    assert sleeps == [2.0, 3.0]
    assert len(server.seen) == 3


def test_retry_after_is_capped_and_accepts_an_http_date() -> None:
    sleeps = Sleeps()
    later = email.utils.formatdate(time.time() + 3600, usegmt=True)
    with scripted_server() as server:
        server.replies += [(503, {"Retry-After": later}, b""), (503, {"Retry-After": "9999"}, b"")]
        with client(server, sleeps, retry=RetryPolicy(max_retry_after=5)) as c:
            c.get("/x")
    assert sleeps == [5, 5]


def test_backoff_without_retry_after_is_jittered_exponential_and_capped() -> None:
    policy = RetryPolicy(base_delay=1, max_delay=4)
    rng = random.Random(1)
    delays = [[policy.backoff(attempt, rng) for attempt in range(1, 6)] for _ in range(200)]
    for attempt, cap in enumerate([1, 2, 4, 4, 4]):
        column = [row[attempt] for row in delays]
        assert all(0 <= d <= cap for d in column)
        assert max(column) > cap * 0.8  # jitter spreads over the whole range
        assert len(set(column)) > 150   # and is not a fixed delay


def test_exhausted_retries_raise_a_transient_error_naming_the_attempts() -> None:
    sleeps = Sleeps()
    with scripted_server() as server:
        server.replies += [(503, {}, b'{"code": "busy", "message": "try later"}')] * 3
        with client(server, sleeps, retry=RetryPolicy(attempts=3)) as c, \
                pytest.raises(remote.RemoteTransientError) as caught:
            c.get("/wp-json/wc/v3/orders")
    assert caught.value.status == 503
    assert caught.value.attempts == 3
    assert "HTTP 503 busy: try later (after 3 attempts)" in caught.value.message
    assert len(sleeps) == 2


@pytest.mark.parametrize(("status", "kind"), [
    (400, remote.ErrorKind.VALIDATION), (401, remote.ErrorKind.AUTH), (403, remote.ErrorKind.AUTH),
    (404, remote.ErrorKind.NOT_FOUND), (413, remote.ErrorKind.VALIDATION), (422, remote.ErrorKind.VALIDATION),
])
def test_client_errors_are_classified_and_not_retried(status: int, kind: remote.ErrorKind) -> None:
    sleeps = Sleeps()
    with scripted_server() as server:
        server.replies.append((status, {}, b'{"code": "woocommerce_rest_x", "message": "nope"}'))
        with client(server, sleeps) as c, pytest.raises(remote.RemoteError) as caught:
            c.get("/a")
    assert caught.value.kind == kind
    assert caught.value.code == "woocommerce_rest_x"
    assert sleeps == []
    assert len(server.seen) == 1


def test_a_post_is_resent_after_429_but_not_after_a_500() -> None:
    sleeps = Sleeps()
    with scripted_server() as server:
        server.replies += [(429, {"Retry-After": "1"}, b""), (500, {}, b"")]
        with client(server, sleeps) as c, pytest.raises(remote.RemoteTransientError):
            c.post("/batch", json_body={"create": []})
    assert [m for m, _, _ in server.seen] == ["POST", "POST"]
    assert sleeps == [1.0]


def test_a_dropped_connection_is_retried_for_get_only() -> None:
    sleeps = Sleeps()
    with scripted_server() as server:
        server.replies.append((0, {}, b""))
        with client(server, sleeps) as c:
            assert c.get("/a").status == 200
            server.replies.append((0, {}, b""))
            with pytest.raises(remote.RemoteTransientError, match="no complete answer after 1"):
                c.post("/b", json_body={})
    assert len(sleeps) == 1


def test_a_refused_connection_is_retried_then_fails_transient() -> None:
    sleeps = Sleeps()
    with scripted_server() as server:
        port = server.port
    c = HttpClient(f"http://127.0.0.1:{port}", options=ClientOptions(allow_private=True,
                                                                    retry=RetryPolicy(attempts=3)), sleep=sleeps)
    with c, pytest.raises(remote.RemoteTransientError, match="cannot connect after 3 attempts"):
        c.get("/a")
    assert len(sleeps) == 2


def test_the_egress_guard_refuses_loopback_and_metadata_without_retrying() -> None:
    sleeps = Sleeps()
    with scripted_server() as server:
        guarded = HttpClient(f"http://127.0.0.1:{server.port}", sleep=sleeps)
        with guarded, pytest.raises(remote.RemoteRefused, match="non-public"):
            guarded.get("/a")
        assert server.seen == []
    metadata = HttpClient("http://169.254.169.254", options=ClientOptions(allow_private=True), sleep=sleeps)
    with metadata, pytest.raises(remote.RemoteRefused, match="metadata"):
        metadata.get("/latest/meta-data/")
    assert sleeps == []


def test_redirects_are_not_followed() -> None:
    with scripted_server() as server:
        server.replies.append((301, {"Location": "http://169.254.169.254/"}, b""))
        with client(server, Sleeps()) as c, pytest.raises(remote.RemoteError, match="redirects"):
            c.get("/a")
    assert len(server.seen) == 1


def test_an_oversized_answer_is_refused() -> None:
    with scripted_server() as server:
        server.replies.append((200, {}, b"x" * 5000))
        with client(server, Sleeps(), max_response_bytes=1000) as c, pytest.raises(remote.RemoteError,
                                                                                   match="larger than"):
            c.get("/a")


def test_errors_and_logs_never_carry_the_credentials(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    retries: list[str] = []
    with scripted_server() as server:
        echo = json.dumps({"code": "woocommerce_rest_authentication_error",
                           "message": f"Consumer secret {SECRET} is invalid"}).encode()
        server.replies += [(503, {}, b""), (401, {}, echo)]
        c = HttpClient(f"http://127.0.0.1:{server.port}", options=ClientOptions(allow_private=True),
                       auth=httpx.BasicAuth("ck_user", SECRET), secrets=[SECRET], sleep=Sleeps(),
                       on_retry=retries.append)
        with c, pytest.raises(remote.RemoteAuthError) as caught:
            c.get(f"/orders?consumer_secret={SECRET}")
    assert SECRET not in caught.value.message
    assert "[redacted]" in caught.value.message
    assert retries
    assert all(SECRET not in line for line in retries)
    assert caplog.records
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in repr(record.__dict__)


def test_the_rate_limiter_spaces_requests_per_credential() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(2.0, burst=2, clock=lambda: now[0], sleep=sleep)
    for _ in range(6):
        limiter.acquire()
    assert slept == [0.5, 0.5, 0.5, 0.5]  # the burst of 2 is free, then one every 1/rate seconds
    now[0] += 10
    limiter.acquire()
    assert len(slept) == 4  # tokens came back while idle


def test_clients_of_one_credential_share_a_limiter_and_others_do_not() -> None:
    with scripted_server() as server:
        options = ClientOptions(allow_private=True, rate_per_second=50, rate_burst=3)
        base = f"http://127.0.0.1:{server.port}"
        a = HttpClient(base, options=options, rate_key=remote.credential_key("ck_a", "cs_a"))
        b = HttpClient(base, options=options, rate_key=remote.credential_key("ck_a", "cs_a"))
        c = HttpClient(base, options=options, rate_key=remote.credential_key("ck_b", "cs_b"))
        try:
            assert a.limiter is b.limiter
            assert a.limiter is not c.limiter
            before = a.limiter.tokens if a.limiter else 0
            b.get("/x")
            assert a.limiter is not None
            assert a.limiter.tokens < before
        finally:
            for each in (a, b, c):
                each.close()
