"""Serving: granian over TLS for Django, and a plain-HTTP listener that only redirects.

Granian (rustls) speaks TLS 1.2 and 1.3 only and offers only AEAD ciphers with ECDHE, which
is the Mozilla "intermediate" profile; we raise its default minimum from 1.3 to 1.2 so older
ERP clients still connect.
"""

from __future__ import annotations

import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from bindery.config import Config
from bindery.ops.tls import TlsFiles

logger = logging.getLogger("bindery.server")


def _https_location(config: Config, host_header: str | None, path: str) -> str:
    """Build the https:// address for a plain-HTTP request.

    The Host header is only trusted when it names one of the allowed hosts; otherwise the
    public URL is used, so the redirect cannot be pointed at another site.
    """
    public = urlsplit(config.public_url)
    host = (host_header or "").strip().lower()
    if host.startswith("["):
        name = host[: host.find("]") + 1] if "]" in host else ""
    else:
        name = host.rsplit(":", 1)[0] if ":" in host else host
    allowed = {h.lower() for h in config.allowed_hosts}
    if not name or (name not in allowed and "*" not in allowed):
        netloc = public.netloc
    else:
        netloc = name if config.https_port == 443 else f"{name}:{config.https_port}"
    if not path.startswith("/") or path.startswith("//"):
        path = "/"
    return f"https://{netloc}{path}"


def make_redirect_server(config: Config) -> ThreadingHTTPServer:
    class RedirectHandler(BaseHTTPRequestHandler):
        server_version = "bindery"
        sys_version = ""

        def _redirect(self) -> None:
            # 301 for reads; 308 keeps the method and body of writes.
            status = 301 if self.command in ("GET", "HEAD") else 308
            location = _https_location(config, self.headers.get("Host"), self.path)
            self.send_response(status)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()

        def _handle(self) -> None:
            from bindery.backups.snapshot_endpoint import PATH

            if urlsplit(self.path).path.startswith(PATH):
                self._refuse_snapshot()
            else:
                self._redirect()

        def _refuse_snapshot(self) -> None:
            # A backup snapshot is never redirected: its token would already have crossed in clear.
            from bindery.backups.snapshot_endpoint import record_refusal

            try:
                record_refusal("TLS required", self.client_address[0], self.path)
            except Exception:  # the refusal stands even if the event cannot be written
                logger.exception("snapshot refusal not recorded")
            body = b'{"detail": "TLS required"}'
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

        def log_message(self, format: str, *args: object) -> None:
            pass  # the HTTPS side logs requests; redirects are noise

    server = ThreadingHTTPServer((config.bind, config.http_port), RedirectHandler)
    server.daemon_threads = True
    return server


def start_redirect_server(config: Config) -> ThreadingHTTPServer | None:
    if not config.http_port:
        return None
    server = make_redirect_server(config)
    thread = threading.Thread(target=server.serve_forever, name="http-redirect", daemon=True)
    thread.start()
    return server


def serve_https(config: Config, tls: TlsFiles) -> None:
    """Serve Django over TLS until interrupted (blocks; granian handles signals)."""
    from granian import Granian
    from granian.constants import Interfaces, SSLProtocols
    from granian.log import LogLevels

    Granian(
        "bindery.wsgi:application",
        address=config.bind,
        port=config.https_port,
        interface=Interfaces.WSGI,
        workers=config.web_workers,
        ssl_cert=tls.cert,
        ssl_key=tls.key,
        ssl_protocol_min=SSLProtocols.tls12,
        log_level=LogLevels.warning,
        log_access=False,  # RequestLogMiddleware writes one JSON line per request instead
        respawn_failed_workers=True,
        # granian's own ceiling for WSGI threads before it warns of contention on the GIL
        blocking_threads=(os.cpu_count() or 1) * 2 + 1,
    ).serve()
