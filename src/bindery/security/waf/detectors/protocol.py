"""Protocol anomalies and attacks: methods, versions, headers, content types, sizes, smuggling.

Most of these are checks on the request as a whole rather than patterns; the few patterns
(HTTP response splitting, request smuggling in parameters) run like any other rule.
"""

from __future__ import annotations

from bindery.security.waf.decode import Field, Target, media_type
from bindery.security.waf.request import WafRequest
from bindery.security.waf.rules import ALL_HEADERS, ARGS, Check, Family, Rule, Severity

F = Family.PROTOCOL
C = Severity.CRITICAL

ALLOWED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
ALLOWED_VERSIONS = frozenset({"HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/2.0", "HTTP/3", "HTTP/3.0"})
ALLOWED_CONTENT_TYPES = frozenset({
    "application/x-www-form-urlencoded", "multipart/form-data", "multipart/related", "text/xml",
    "application/xml", "application/soap+xml", "application/json", "application/merge-patch+json",
    "application/problem+json", "application/cloudevents+json", "application/csp-report", "text/plain",
    "text/csv", "application/octet-stream", "application/gzip", "application/zip",
})
ALLOWED_CHARSETS = frozenset({"utf-8", "utf8", "iso-8859-1", "iso-8859-15", "windows-1252", "us-ascii"})
SINGLE_HEADERS = ("host", "content-length", "content-type", "transfer-encoding", "authorization")
MAX_BODY = 10 * 1024 * 1024  # the platform's own limit (DATA_UPLOAD_MAX_MEMORY_SIZE)
MAX_ARG_LENGTH = 400_000  # a product's HTML description may hold up to 100,000 characters, escaped
MAX_ARG_NAME = 256
MAX_HEADER_VALUE = 8192
MAX_URI = 8192

RULES = (
    Rule("protocol-response-splitting", F, 1, C,
         r"[\r\n]\s*(?:content-(?:type|length|disposition)|set-cookie|location|refresh|x-xss-protection|"
         r"transfer-encoding)\s*:|[\r\n]\s*<(?:html|meta|script)|\bhttp/\d(?:\.\d)?\s+\d{3}\s",
         ARGS, message="HTTP response splitting"),
    Rule("protocol-smuggling", F, 1, C,
         r"(?:get|post|head|put|delete|options|patch|connect|trace|propfind)\s+(?:/|https?://)[^\s]*\s+http/\d",
         ARGS | ALL_HEADERS, message="HTTP request smuggling"),
    Rule("protocol-header-injection", F, 1, C, r"[\r\n]", frozenset({Target.ARG_NAME, Target.HEADER,
                                                                       Target.COOKIE_NAME}),
         message="line break in a header or a parameter name"),
    Rule("protocol-ldap", F, 2, C, r"^[^:(]*\)\s*\(|\)\s*\(\s*[|&!]\s*\(|\(\s*[|&]\s*\(\s*\w+\s*=|\*\)\s*\(",
         ARGS, message="LDAP filter injection"),
)


def _null_byte(field: Field, value: str) -> bool:
    return "\x00" in field.value or "%00" in field.value


def _too_long(field: Field, value: str) -> bool:
    if field.target is Target.ARG_NAME:
        return len(field.value) > MAX_ARG_NAME
    if field.target is Target.HEADER:
        return len(field.value) > MAX_HEADER_VALUE
    return len(field.value) > MAX_ARG_LENGTH


def _control_chars(field: Field, value: str) -> bool:
    return any(ord(c) < 32 and c not in "\t\r\n" for c in field.value[:4096])


CHECKS = (
    # The platform answers null bytes and oversized bodies itself with a clear 4xx: alone they
    # only add to a score.
    Check("protocol-null-byte", F, 1, Severity.WARNING, ARGS | ALL_HEADERS | {Target.PATH}, _null_byte, "null byte"),
    Check("protocol-oversized-value", F, 1, Severity.WARNING, ARGS | {Target.HEADER}, _too_long,
          "oversized parameter or header"),
    Check("protocol-control-chars", F, 2, Severity.WARNING, ARGS | ALL_HEADERS | {Target.PATH}, _control_chars,
          "control characters"),
)

Finding = tuple[str, Family, Severity, str]


def check_request(request: WafRequest, paranoia: int) -> list[Finding]:
    """Return the protocol anomalies of the request as a whole (method, headers, body framing)."""
    found: list[Finding] = []
    method = request.method.upper()
    if method not in ALLOWED_METHODS:
        found.append(("protocol-method", F, C, f"method {method[:20]} not allowed"))
    if request.http_version.upper() not in ALLOWED_VERSIONS:
        found.append(("protocol-version", F, C, f"HTTP version {request.http_version[:20]} not allowed"))
    if len(request.path) + len(request.query_string) > MAX_URI:
        found.append(("protocol-uri-length", F, C, "URI too long"))
    headers = request.headers_by_name
    for name in SINGLE_HEADERS:
        if len(headers.get(name, ())) > 1:
            found.append((f"protocol-duplicate-{name}", F, C, f"{name} header sent more than once"))
    if paranoia >= 2 and request.header("host") is None:  # Django refuses unknown hosts itself
        found.append(("protocol-missing-host", F, Severity.NOTICE, "no Host header"))
    agent = request.header("user-agent")
    if agent is not None and not agent.strip():
        found.append(("protocol-empty-user-agent", F, Severity.NOTICE, "empty User-Agent"))
    if paranoia >= 2 and agent is None:
        found.append(("protocol-missing-user-agent", F, Severity.NOTICE, "no User-Agent"))
    if paranoia >= 2 and request.header("accept") is None and method != "OPTIONS":
        found.append(("protocol-missing-accept", F, Severity.NOTICE, "no Accept header"))
    length = request.header("content-length")
    encoding = request.header("transfer-encoding")
    if length is not None and not length.strip().isdigit():
        found.append(("protocol-bad-content-length", F, C, "Content-Length is not a number"))
    if length is not None and encoding is not None:
        found.append(("protocol-length-and-chunked", F, C, "both Content-Length and Transfer-Encoding"))
    if encoding is not None and encoding.strip().lower() not in ("chunked", "identity"):
        found.append(("protocol-transfer-encoding", F, C, "Transfer-Encoding not allowed"))
    declared = request.body_length or len(request.body)
    if method in ("GET", "HEAD") and declared > 0:
        found.append(("protocol-body-on-get", F, C, f"{method} request with a body"))
    if method in ("POST", "PUT", "PATCH") and length is None and encoding is None and not request.body:
        found.append(("protocol-no-length", F, Severity.WARNING, f"{method} without Content-Length"))
    if declared > MAX_BODY:
        found.append(("protocol-oversized-body", F, Severity.WARNING, f"body of {declared} bytes is over {MAX_BODY}"))
    content_type = request.header("content-type")
    if content_type is not None and (declared > 0 or method in ("POST", "PUT", "PATCH")):
        kind = media_type(content_type)
        if kind not in ALLOWED_CONTENT_TYPES and not kind.endswith("+json") and not kind.endswith("+xml"):
            found.append(("protocol-content-type", F, C, f"content type {kind[:60]!r} not allowed"))
        for piece in content_type.split(";")[1:]:
            key, _, value = piece.strip().partition("=")
            if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in ALLOWED_CHARSETS:
                found.append(("protocol-charset", F, C, "charset not allowed"))
        if content_type.count(";") > 4 or content_type.lower().count("multipart/") > 1 or "," in kind:
            found.append(("protocol-content-type-format", F, C, "malformed Content-Type"))
    elif declared > 0 and content_type is None and paranoia >= 2:
        found.append(("protocol-missing-content-type", F, Severity.NOTICE, "body without Content-Type"))
    return found


REQUEST_CHECKS = (check_request,)
