"""Django wiring: inspect every request right after the blacklist, answer 403 with an incident id.

The URL is resolved first so the route's exclusions apply (see :mod:`.exclusions`). A body
larger than the platform accepts is not read at all: it is refused as oversized. If the
firewall itself fails, the request goes through and the failure is logged — a bug in the
firewall must not take the platform down (the brute-force guard and the views' own
validation still stand).
"""

from __future__ import annotations

import html
import logging
import uuid
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

from bindery.security.bruteforce import record_event
from bindery.security.client_ip import client_ip
from bindery.security.models import SecurityEventKind
from bindery.security.waf.detectors.protocol import MAX_BODY
from bindery.security.waf.engine import Verdict, firewall
from bindery.security.waf.exclusions import NOTHING, Exclusion, for_view
from bindery.security.waf.request import WafRequest

logger = logging.getLogger("bindery.security.waf")
API_PREFIX = "/api/"
VERDICT_ATTR = "waf_verdict"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Request refused</title></head>
<body><h1>Request refused</h1>
<p>The application firewall refused this request because it looks like an attack.</p>
<p>If you believe this is a mistake, quote incident <code>{incident}</code> to your administrator.</p>
</body></html>
"""


def _exclusion(request: HttpRequest) -> tuple[Exclusion, str]:
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return NOTHING, ""
    return _for_view(match.func, (request.method or "GET").upper()[:16]), match.route


@lru_cache(maxsize=2048)
def _for_view(view: Any, method: str) -> Exclusion:
    """Exclusions are declared once per view: look them up once per view and method, not per request."""
    return for_view(view, method)


def _declared_length(request: HttpRequest) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def to_waf_request(request: HttpRequest, route: str = "") -> WafRequest:
    """Return the firewall's view of a Django request; the body is read only up to the platform's limit."""
    length = _declared_length(request)
    body = b""
    if 0 < length <= MAX_BODY:
        try:
            body = request.body
        except Exception:  # oversized for Django's own limit, or the client went away: inspect without it
            logger.info("request body not readable for inspection", exc_info=True,
                        extra={"event": "security.waf_body_unreadable"})
    headers = tuple((name, str(value)) for name, value in request.headers.items())
    return WafRequest(method=request.method or "GET", path=request.path, query_string=request.META.get(
        "QUERY_STRING", ""), headers=headers, body=body, body_length=length,
        http_version=str(request.META.get("SERVER_PROTOCOL") or "HTTP/1.1"), route=route)


def refusal(request: HttpRequest, incident: str) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"code": "blocked", "incident": incident,
                             "message": "the application firewall refused this request; if it is legitimate, "
                                        f"quote incident {incident} to the platform's administrator"}, status=403)
    return HttpResponse(_PAGE.format(incident=html.escape(incident)), status=403,
                        content_type="text/html; charset=utf-8")


def _record(request: HttpRequest, verdict: Verdict, incident: str, *, blocked: bool, route: str) -> None:
    detail: dict[str, Any] = {"incident": incident, "score": verdict.score, "rules": verdict.rules[:50],
              "where": sorted({m.where for m in verdict.matches})[:50], "method": (request.method or "")[:10],
              "path": request.path[:200], "route": route[:200], "truncated": verdict.truncated,
              "elapsed_ms": round(verdict.elapsed * 1000, 2)}
    logger.warning("application firewall %s request", "blocked" if blocked else "detected", extra={
        "event": "security.waf_block" if blocked else "security.waf_detect", **detail})
    try:
        record_event(SecurityEventKind.WAF_BLOCK if blocked else SecurityEventKind.WAF_DETECT,
                     ip=client_ip(request), **detail)
    except Exception:  # the decision stands even if the event cannot be written
        logger.exception("security event not recorded", extra={"event": "security.waf_event_failed"})


class FirewallMiddleware:
    """Second middleware, after the blacklist: score the request, block at the threshold (mode ``block``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        mode = getattr(settings, "BINDERY_WAF_MODE", "block")
        if mode == "off":
            return self.get_response(request)
        try:
            exclusion, route = _exclusion(request)
            engine = firewall(paranoia=int(getattr(settings, "BINDERY_WAF_PARANOIA", 1)),
                              threshold=int(getattr(settings, "BINDERY_WAF_THRESHOLD", 5)))
            verdict = engine.inspect(to_waf_request(request, route), exclusion)
        except Exception:
            logger.exception("application firewall failed; request let through",
                             extra={"event": "security.waf_error", "path": request.path[:200]})
            return self.get_response(request)
        setattr(request, VERDICT_ATTR, verdict)
        if verdict.blocked:
            incident = uuid.uuid4().hex[:16]
            block = mode == "block"
            _record(request, verdict, incident, blocked=block, route=route)
            if block:
                return refusal(request, incident)
        return self.get_response(request)
