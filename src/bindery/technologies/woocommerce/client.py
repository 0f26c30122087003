"""The WooCommerce REST v3 client: the engine's HTTP client, the node's settings and credentials.

Authentication is the consumer key and secret over HTTP Basic auth, which WooCommerce accepts
over HTTPS; the key never goes in a query string (where proxies and access logs keep it).
Plain ``http://`` is accepted only on nodes that allow private addresses (a shop on the LAN,
the fake shop in tests).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import httpx
from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from bindery.integration.http import ClientOptions, HttpClient, RemoteError, RetryPolicy, credential_key
from bindery.integration.registry import StrictSchema
from bindery.integration.runner import RunContext

API = "/wp-json/wc/v3"
PER_PAGE_MAX = 100
BATCH_MAX = 100


class WooSettings(StrictSchema):
    store_url: str = Field(min_length=8, max_length=500, description="the shop's address, e.g. https://shop.example")
    allow_private: bool = Field(default=False, description="allow loopback and private addresses (LAN shops)")
    verify_tls: bool = True
    timeout: float = Field(default=30.0, gt=0, le=300)
    rate_per_second: float = Field(default=5.0, gt=0, le=100, description="requests per second, per credential")
    retry_attempts: int = Field(default=5, ge=1, le=10)
    max_retry_after: float = Field(default=60.0, ge=0, le=600, description="longest Retry-After honoured, seconds")

    @model_validator(mode="after")
    def _url(self) -> WooSettings:
        url = httpx.URL(self.store_url)
        if url.scheme not in ("https", "http") or not url.host or url.query or url.userinfo:
            raise ValueError("store_url must be an https:// address without credentials or query")
        if url.scheme == "http" and not self.allow_private:
            raise ValueError("store_url must use https (plain http only for private addresses)")
        return self


class WooCredentials(StrictSchema):
    consumer_key: SecretStr = Field(min_length=8, max_length=200, description="ck_...")
    consumer_secret: SecretStr = Field(min_length=8, max_length=200, description="cs_...")

    @field_validator("consumer_key", "consumer_secret")
    @classmethod
    def _shape(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        prefix = "ck_" if info.field_name == "consumer_key" else "cs_"
        if not re.fullmatch(prefix + r"[A-Za-z0-9]+", value.get_secret_value()):
            raise ValueError(f"must start with {prefix} followed by letters and digits")
        return value


def woo_time(value: dt.datetime) -> str:
    """A GMT timestamp as WooCommerce's date filters take it (with ``dates_are_gmt=true``)."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_woo_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", ""))
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def open_client(ctx: RunContext) -> HttpClient:
    settings = WooSettings.model_validate(ctx.node.settings or {})
    secrets = ctx.credentials()
    key, secret = str(secrets["consumer_key"]), str(secrets["consumer_secret"])
    options = ClientOptions(timeout=settings.timeout, allow_private=settings.allow_private,
                            verify=settings.verify_tls, rate_per_second=settings.rate_per_second,
                            retry=RetryPolicy(attempts=settings.retry_attempts,
                                              max_retry_after=settings.max_retry_after),
                            user_agent="Bindery WooCommerce connector")
    return HttpClient(settings.store_url.rstrip("/") + API, options=options, auth=httpx.BasicAuth(key, secret),
                      secrets=[key, secret], rate_key=credential_key(key, secret),
                      on_retry=lambda line: ctx.log(line, level="warning"))


def pages(client: HttpClient, path: str, params: dict[str, Any], *, per_page: int = PER_PAGE_MAX,
          ) -> Iterator[tuple[int, int, list[dict[str, Any]]]]:
    """Yield (page number, X-WP-Total, rows) page by page until X-WP-TotalPages is reached."""
    page = 1
    while True:
        reply = client.get(path, params={**params, "per_page": per_page, "page": page})
        rows = reply.json()
        if not isinstance(rows, list):
            raise RemoteError(f"GET {path}: expected a list")
        total, total_pages = reply.header_int("X-WP-Total"), reply.header_int("X-WP-TotalPages")
        if total is None or total_pages is None:
            raise RemoteError(f"GET {path}: the answer has no X-WP-Total / X-WP-TotalPages headers")
        yield page, total, rows
        if page >= total_pages or not rows:
            return
        page += 1
