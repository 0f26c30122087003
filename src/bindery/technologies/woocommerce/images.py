"""Product images hub → WooCommerce: by URL, only when the product's list changed.

WooCommerce downloads every ``src`` it is sent into its media library and answers its own
library URL, so the shop's answer cannot tell whether an image is the same as ours. What was
sent is therefore remembered as a fingerprint on the product's binding (``images``); a product
whose list (URLs, order, alt text) has the same fingerprint is updated without ``images``.
Bindery never downloads images itself (docs/SECURITY.md, egress): a URL that is not absolute
http(s) is left out with a warning in the run log.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

from bindery.integration.models import LogLevel
from bindery.integration.runner import RunContext

IMAGES = "images"


def usable(url: str) -> bool:
    """True for an absolute http(s) URL with a host (what the shop can download)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.host) and not parsed.userinfo


def image_list(ctx: RunContext, sku: str, alt: str, urls: list[str]) -> list[dict[str, Any]]:
    """The ``images`` to send, in position order (the first is the featured image)."""
    images = []
    for url in urls:
        if usable(url):
            images.append({"src": url, "alt": alt})
        else:
            ctx.log(f"{sku}: image {url[:200]!r} left out: not an absolute http(s) URL (without credentials) "
                    "the shop can download.", level=LogLevel.WARNING)
    return images


def fingerprint(images: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(images, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
