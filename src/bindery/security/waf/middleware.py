"""Django wiring: inspect every request right after the blacklist, answer 403 with an incident id.

The URL is resolved first so the route's exclusions apply (see :mod:`.exclusions`). The
firewall denies by default: a request it could not inspect in full (a body over the platform's
limit or unreadable, more values than the route allows, an inspection past its budget) is
refused with 413 and an incident id, and a failure of the firewall itself refuses the request
with 403 — only a route that declares ``uninspected="pass"`` beside itself lets an
uninspected request go on. Each such decision is a security event saying why.
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

_PAGE_UNINSPECTED = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Request too large to inspect</title></head>
<body><h1>Request too large to inspect</h1>
<p>The application firewall could not inspect all of this request ({reason}), so it refused it.
Send it in smaller parts.</p>
<p>If you believe this is a mistake, quote incident <code>{incident}</code> to your administrator.</p>
</body></html>
"""

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
    """Return the firewall's view of a Django request; the body is read only up to the platform's limit.

    A body that is not read (over the limit, or unreadable) leaves ``body_length`` above
    ``len(body)``: the engine reports it as uninspected and the request is refused.
    """
    length = _declared_length(request)
    body = b""
    if length <= MAX_BODY:
        try:
            body = request.body
        except Exception:  # oversized for Django's own limit, or the client went away
            logger.info("request body not readable for inspection", exc_info=True,
                        extra={"event": "security.waf_body_unreadable"})
            length = max(length, MAX_BODY + 1)
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


def uninspected_refusal(request: HttpRequest, incident: str, reason: str, *, too_large: bool = False) -> HttpResponse:
    """413: the firewall could not inspect all of the request, so it does not let it through.

    A body over the platform's limit gets the API's own ``body_too_large`` code (the view would
    have said the same); anything else ``not_inspected``.
    """
    message = (f"the application firewall could not inspect all of this request ({reason}); send it in smaller "
               f"parts. If it is legitimate and small, quote incident {incident} to the platform's administrator")
    if request.path.startswith(API_PREFIX):
        code = "body_too_large" if too_large else "not_inspected"
        return JsonResponse({"code": code, "incident": incident, "reason": reason, "message": message}, status=413)
    return HttpResponse(_PAGE_UNINSPECTED.format(incident=html.escape(incident), reason=html.escape(reason)),
                        status=413, content_type="text/html; charset=utf-8")


def _record(request: HttpRequest, verdict: Verdict, incident: str, *, blocked: bool, route: str,
            reason: str = "") -> None:
    detail: dict[str, Any] = {"incident": incident, "score": verdict.score, "rules": verdict.rules[:50],
              "where": sorted({m.where for m in verdict.matches})[:50], "method": (request.method or "")[:10],
              "path": request.path[:200], "route": route[:200], "truncated": verdict.truncated,
              "uninspected": verdict.uninspected[:200], "values": verdict.values, "inspected": verdict.inspected,
              "budget_ms": round(verdict.budget * 1000, 1), "cpu_ms": round(verdict.cpu * 1000, 2),
              "elapsed_ms": round(verdict.elapsed * 1000, 2)}
    if reason:
        detail["reason"] = reason[:200]
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
        block = mode == "block"
        route = ""
        try:
            exclusion, route = _exclusion(request)
            engine = firewall(paranoia=int(getattr(settings, "BINDERY_WAF_PARANOIA", 1)),
                              threshold=int(getattr(settings, "BINDERY_WAF_THRESHOLD", 5)))
            verdict = engine.inspect(to_waf_request(request, route), exclusion)
        except Exception as error:
            # Deny by default: a request the firewall failed on was not inspected.
            incident = uuid.uuid4().hex[:16]
            logger.exception("application firewall failed; request %s", "refused" if block else "let through",
                             extra={"event": "security.waf_error", "path": request.path[:200], "incident": incident})
            failed = Verdict(uninspected=f"the firewall failed ({type(error).__name__})")
            _record(request, failed, incident, blocked=block, route=route, reason=failed.uninspected)
            return refusal(request, incident) if block else self.get_response(request)
        setattr(request, VERDICT_ATTR, verdict)
        if verdict.blocked:
            incident = uuid.uuid4().hex[:16]
            _record(request, verdict, incident, blocked=block, route=route)
            if block:
                return refusal(request, incident)
        elif verdict.uninspected:
            incident = uuid.uuid4().hex[:16]
            refuse = block and exclusion.uninspected != "pass"
            _record(request, verdict, incident, blocked=refuse, route=route,
                    reason=f"not inspected in full: {verdict.uninspected}")
            if refuse:
                return uninspected_refusal(request, incident, verdict.uninspected, too_large=verdict.body_unread)
        return self.get_response(request)
