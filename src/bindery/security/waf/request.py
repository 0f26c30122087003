"""What the firewall inspects: a request reduced to plain values, independent of Django.

The middleware builds one from an ``HttpRequest``; the benchmark builds one from a corpus
record. Keeping the engine free of Django makes it testable and measurable on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property


@dataclass(frozen=True)
class WafRequest:
    """One HTTP request as it came in: the raw query string and body, every header in order."""

    method: str
    path: str  # percent-decoded once, as the application sees it
    query_string: str = ""  # raw, still percent-encoded
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    body_length: int = 0  # the declared Content-Length (may exceed len(body) if not read in full)
    http_version: str = "HTTP/1.1"
    route: str = ""  # informative: the route the exclusions came from
    extra: dict[str, str] = field(default_factory=dict)

    @cached_property
    def headers_by_name(self) -> dict[str, list[str]]:
        """Every header's values by lowercase name."""
        by_name: dict[str, list[str]] = {}
        for key, value in self.headers:
            by_name.setdefault(key.lower(), []).append(value)
        return by_name

    def header(self, name: str) -> str | None:
        """Return the first value of a header (case-insensitive), or None."""
        values = self.headers_by_name.get(name.lower())
        return values[0] if values else None

    def header_count(self, name: str) -> int:
        return len(self.headers_by_name.get(name.lower(), ()))
